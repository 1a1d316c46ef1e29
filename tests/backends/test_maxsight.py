"""Maxsight v5 contract tests against its simulator (a real local HTTP server)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime

import pytest
from sqlalchemy.orm import Session, sessionmaker

from bot.backends import maxsight
from bot.domain.errors import BackendUnavailable, Conflict, InvalidInput, NotFound
from bot.domain.links import LinkHow, UserLink
from bot.domain.models import Actor, Assignee, AssigneeKind, ListView, Task, TaskDraft
from bot.service.ports import Pulled
from bot.service.tasks import TaskService
from storage.external_versions import SqlAlchemyExternalVersions
from storage.local_tasks import SqlAlchemyTaskStore
from storage.user_map import SqlAlchemyUserMap
from tests.fakes import FakeClock, FakeDirectory, FakeNotifier
from tests.stubs.maxsight_api import MaxsightSimulator, maxsight_simulator

TEAM, ANA, BEN, OPS = "T1", "UANA", "UBEN", "SOPS"
ANA_MX = "a0000000-0000-4000-8000-00000000000a"
BEN_MX = "b0000000-0000-4000-8000-00000000000b"
OPS_MX = "c0000000-0000-4000-8000-00000000000c"
NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


@pytest.fixture
def sim() -> Iterator[MaxsightSimulator]:
    with maxsight_simulator("maxsight-key") as simulator:
        yield simulator


def make_backend(
    sim: MaxsightSimulator, sessions: sessionmaker[Session], key: str = "maxsight-key"
) -> maxsight.MaxsightBackend:
    links = SqlAlchemyUserMap(sessions)
    for slack, kind, theirs in (
        (ANA, AssigneeKind.USER, ANA_MX),
        (BEN, AssigneeKind.USER, BEN_MX),
        (OPS, AssigneeKind.GROUP, OPS_MX),
    ):
        links.set(
            UserLink(
                team_id=TEAM,
                backend="maxsight",
                slack_id=slack,
                kind=kind,
                assignee_id=theirs,
                how=LinkHow.ADMIN,
                set_at=NOW,
            )
        )
    return maxsight.MaxsightBackend(
        maxsight.client(sim.url, key, backoff=0.01),
        SqlAlchemyTaskStore(sessions),
        links,
        SqlAlchemyExternalVersions(sessions),
        actor_id=None,
    )


@pytest.fixture
def backend(sim: MaxsightSimulator, sessions: sessionmaker[Session]) -> maxsight.MaxsightBackend:
    return make_backend(sim, sessions)


def service(backend: maxsight.MaxsightBackend) -> TaskService:
    directory = FakeDirectory()
    for user in (ANA, BEN):
        directory.add_person(TEAM, user, tz="UTC")
    directory.add_group(TEAM, OPS, [BEN])
    return TaskService(backend, FakeNotifier(), directory, FakeClock(NOW))


ana = Actor(team_id=TEAM, user_id=ANA)


def test_listing_reads_my_tasks_from_maxsight_page_by_page(
    sim: MaxsightSimulator, backend: maxsight.MaxsightBackend
) -> None:
    for n in range(60):
        sim.add_task(f"KYC review {n}", assigned_to=ANA_MX)
    sim.add_task("Someone else's", assigned_to=BEN_MX)
    mine = service(backend).list_tasks(ana, ListView.MINE, limit=100)
    assert len(mine) == 60 and {t.assignees for t in mine} == {(Assignee.user(ANA),)}
    searches = sim.calls("POST")
    assert [s.body["page_token"] for s in searches] == [None, "page-50"]
    assert searches[0].body["filter_model"]["assigned_to_id"]["filter"] == ANA_MX
    assert len(service(backend).list_tasks(ana, ListView.MINE, limit=100)) == 60  # no doubles


def test_reassign_sends_if_match_with_the_exact_updated_at(
    sim: MaxsightSimulator, backend: maxsight.MaxsightBackend
) -> None:
    task_id = sim.add_task("KYC review", assigned_to=ANA_MX)
    tasks = service(backend)
    (task,) = tasks.list_tasks(ana, ListView.MINE)
    token = sim.tasks[task_id]["updated_at"]
    tasks.reassign(ana, task.handle, [Assignee.user(BEN)], task.version, note="Over to you")
    (put,) = sim.calls("PUT")
    assert put.headers["if-match"] == token
    assert put.body == {
        "update": {
            "assigned_by_id": ANA_MX,
            "assigned_to_id": BEN_MX,
            "assigned_to_type": "USER",
            "assignment_comment": "Over to you",
        }
    }
    tasks.reassign(ana, task.handle, [Assignee.group(OPS)])
    assert sim.tasks[task_id]["assignment"]["assigned_to_type"] == "TEAM"
    assert sim.calls("PUT")[-1].headers["if-match"] != token  # the new updated_at was kept
    tasks.unassign(ana, task.handle, [Assignee.group(OPS)])
    assert sim.tasks[task_id]["assignment"] is None


def test_a_newer_assignment_in_maxsight_is_never_overwritten(
    sim: MaxsightSimulator, backend: maxsight.MaxsightBackend
) -> None:
    task_id = sim.add_task("KYC review", assigned_to=ANA_MX)
    tasks = service(backend)
    (task,) = tasks.list_tasks(ana, ListView.MINE)
    sim.assign_in_maxsight(task_id, to=BEN_MX, by=BEN_MX)
    with pytest.raises(Conflict) as refused:
        tasks.reassign(ana, task.handle, [Assignee.group(OPS)], task.version)
    assert refused.value.current.assignees == (Assignee.user(BEN),)
    assert sim.tasks[task_id]["assignment"]["assigned_to_id"] == BEN_MX
    assert [c.headers["if-match"] for c in sim.calls("PUT")] != []  # tried once, got 409


def test_a_stale_token_with_the_same_assignment_is_retried_once(
    sim: MaxsightSimulator, backend: maxsight.MaxsightBackend
) -> None:
    task_id = sim.add_task("KYC review", assigned_to=ANA_MX)
    tasks = service(backend)
    (task,) = tasks.list_tasks(ana, ListView.MINE)
    sim.tasks[task_id]["updated_at"] = "2026-11-02T10:00:00.000999Z"  # another field changed
    tasks.reassign(ana, task.handle, [Assignee.user(BEN)], task.version)
    assert [c.headers["if-match"] for c in sim.calls("PUT")][-1] == "2026-11-02T10:00:00.000999Z"
    assert sim.tasks[task_id]["assignment"]["assigned_to_id"] == BEN_MX


def test_what_maxsight_cannot_do_is_refused_plainly(
    sim: MaxsightSimulator, backend: maxsight.MaxsightBackend, sessions: sessionmaker[Session]
) -> None:
    draft = TaskDraft(team_id=TEAM, assignor=ANA, title="x", assignees=(Assignee.user(ANA),))
    with pytest.raises(InvalidInput, match="come from its workflows"):
        backend.create(draft, NOW)
    with pytest.raises(BackendUnavailable, match="MAXSIGHT_API_KEY"):
        service(make_backend(sim, sessions, key="wrong")).list_tasks(ana, ListView.MINE)


def test_pull_brings_maxsight_changes_and_deletions(
    sim: MaxsightSimulator, backend: maxsight.MaxsightBackend
) -> None:
    task_id = sim.add_task("KYC review", assigned_to=ANA_MX)
    gone_id = sim.add_task("PEP check", assigned_to=ANA_MX)
    tasks = service(backend).list_tasks(ana, ListView.MINE)
    assert backend.pull(NOW) == []
    sim.assign_in_maxsight(task_id, to=BEN_MX, by=BEN_MX)
    sim.tasks[task_id]["status"] = "COMPLETED_PASS"
    after = _only(backend.pull(NOW))
    assert after.assignees == (Assignee.user(BEN),) and after.is_completed
    del sim.tasks[gone_id]
    gone = _only(backend.pull(NOW))
    assert gone.deleted and gone.title == "PEP check"
    with pytest.raises(NotFound):
        backend.get(TEAM, tasks[1].handle)


def test_single_assignee_assign_replaces_and_unassign_clears(
    sim: MaxsightSimulator, backend: maxsight.MaxsightBackend
) -> None:
    task_id = sim.add_task("KYC review", assigned_to=ANA_MX)
    tasks = service(backend)
    (task,) = tasks.list_tasks(ana, ListView.MINE)
    token = sim.tasks[task_id]["updated_at"]
    with pytest.raises(InvalidInput, match="One assignee per task in Maxsight: assigning repl"):
        tasks.assign(ana, task.handle, [Assignee.user(BEN), Assignee.group(OPS)])
    assert sim.calls("PUT") == []
    assert tasks.assign(ana, task.handle, [Assignee.user(BEN)]).assignees == (Assignee.user(BEN),)
    (put,) = sim.calls("PUT")
    assert put.headers["if-match"] == token and put.body["update"]["assigned_to_id"] == BEN_MX
    answered = sim.tasks[task_id]["updated_at"]  # the token the PUT answered with
    with pytest.raises(InvalidInput, match="Not assigned"):
        tasks.unassign(ana, task.handle, [Assignee.user(ANA)])
    cleared = tasks.unassign(ana, task.handle, [])
    assert cleared.assignees == () and sim.tasks[task_id]["assignment"] is None
    unassign = sim.calls("PUT")[-1]
    assert unassign.body == {"unassign": {"assigned_by_id": ANA_MX, "assignment_comment": None}}
    assert unassign.headers["if-match"] == answered != token
    tasks.assign(ana, task.handle, [Assignee.group(OPS)])
    assert sim.tasks[task_id]["assignment"]["assigned_to_type"] == "TEAM"
    assert tasks.unassign(ana, task.handle, [Assignee.group(OPS)]).assignees == ()


def test_a_typed_assign_meets_409_retried_when_unchanged_refused_when_reassigned_there(
    sim: MaxsightSimulator, backend: maxsight.MaxsightBackend
) -> None:
    task_id = sim.add_task("KYC review", assigned_to=ANA_MX)
    tasks = service(backend)
    (task,) = tasks.list_tasks(ana, ListView.MINE)
    sim.tasks[task_id]["updated_at"] = "2026-11-02T10:00:00.000999Z"  # another field changed
    tasks.assign(ana, task.handle, [Assignee.user(BEN)])
    assert [c.headers["if-match"] for c in sim.calls("PUT")][-1] == "2026-11-02T10:00:00.000999Z"
    assert sim.tasks[task_id]["assignment"]["assigned_to_id"] == BEN_MX
    sim.assign_in_maxsight(task_id, to=OPS_MX, by=BEN_MX, kind="TEAM")
    puts = len(sim.calls("PUT"))
    with pytest.raises(Conflict) as refused:  # a typed command: still not retried over it
        tasks.unassign(ana, task.handle, [])
    assert "reassigned in Maxsight meanwhile: @SOPS has it now" in refused.value.message
    assert refused.value.current.assignees == (Assignee.group(OPS),)
    assert len(sim.calls("PUT")) == puts + 1  # the one that met the 409
    assert sim.tasks[task_id]["assignment"]["assigned_to_id"] == OPS_MX


def test_the_sweep_takes_in_each_linked_queue_with_one_search_and_tells_nothing_twice(
    sim: MaxsightSimulator, backend: maxsight.MaxsightBackend, sessions: sessionmaker[Session]
) -> None:
    mine = sim.add_task("Sanctions screening", assigned_to=ANA_MX, by=BEN_MX)
    ops = sim.add_task("Adverse media", assigned_to=OPS_MX, kind="TEAM", by="f" * 8 + OPS_MX[8:])
    own = sim.add_task("Self-picked", assigned_to=BEN_MX)  # assigned by Ben to himself
    sim.add_task("Done already", assigned_to=ANA_MX, status="COMPLETED_PASS")
    sim.add_task("Someone else's", assigned_to="d0000000-0000-4000-8000-00000000000d")
    taken = {p.after.title: p for p in backend.pull(NOW)}
    assert set(taken) == {"Sanctions screening", "Adverse media", "Self-picked"}
    assert all(p.before is None for p in taken.values())
    assert taken["Sanctions screening"].after.assignees == (Assignee.user(ANA),)
    assert taken["Sanctions screening"].by == BEN  # the linked person who assigned it there
    assert taken["Adverse media"].after.assignees == (Assignee.group(OPS),)
    assert taken["Adverse media"].by is None and taken["Self-picked"].by is None
    (search,) = sim.calls("POST")  # three linked ids, one search (an OR), open tasks only
    model = search.body["filter_model"]
    assert {c["filter"] for c in model["assigned_to_id"]["conditions"]} == {ANA_MX, BEN_MX, OPS_MX}
    assert model["status"] == {"filterType": "set", "values": ["INCOMPLETE"]}
    assert backend.pull(NOW) == [] and sim.calls("GET") == []  # nothing new: nothing told

    sim.assign_in_maxsight(mine, to=BEN_MX, by=ANA_MX)  # between linked people: the search says
    sim.assign_in_maxsight(ops, to="d0000000-0000-4000-8000-00000000000d", by=BEN_MX)
    sim.tasks[own]["status"] = "COMPLETED_FAIL"
    moved = {p.after.title: p for p in backend.pull(NOW)}
    assert moved["Sanctions screening"].after.assignees == (Assignee.user(BEN),)
    assert moved["Sanctions screening"].by == ANA
    assert moved["Adverse media"].after.assignees == ()  # left every linked queue
    assert moved["Self-picked"].after.is_completed
    assert len(sim.calls("GET")) == 2  # only the two that left every queue were read alone
    assert backend.pull(NOW) == [] and len(sim.calls("GET")) == 2  # and never again
    relink = UserLink(
        team_id=TEAM,
        backend="maxsight",
        slack_id="UEVE",
        kind=AssigneeKind.USER,
        assignee_id=BEN_MX,
        how=LinkHow.ADMIN,
        set_at=NOW,
    )
    SqlAlchemyUserMap(sessions).set(relink, force=True)  # Ben's Maxsight id is Eve's now
    (relinked,) = backend.pull(NOW)  # Maxsight changed nothing, the link did
    assert relinked.after.assignees == (Assignee.user("UEVE"),)


def test_tasks_that_left_every_queue_are_read_at_most_twenty_a_pass(
    sim: MaxsightSimulator, backend: maxsight.MaxsightBackend
) -> None:
    made = [sim.add_task(f"Review {n}", assigned_to=ANA_MX) for n in range(25)]
    assert len(backend.pull(NOW)) == 25
    for task_id in made:
        sim.assign_in_maxsight(task_id, to="d0000000-0000-4000-8000-00000000000d", by=BEN_MX)
    assert len(backend.pull(NOW)) == maxsight.READS_PER_PASS == len(sim.calls("GET")) == 20
    assert len(backend.pull(NOW)) == 5 and len(sim.calls("GET")) == 25  # the rest, a pass later
    assert backend.pull(NOW) == [] and len(sim.calls("GET")) == 25


def test_the_sweep_falls_back_to_the_default_page_then_to_one_id_when_maxsight_refuses(
    sim: MaxsightSimulator, backend: maxsight.MaxsightBackend
) -> None:
    sim.add_task("Sanctions screening", assigned_to=ANA_MX)
    sim.fail_next("POST", 400)
    sim.fail_next("POST", 400)
    (taken,) = backend.pull(NOW)
    assert taken.after.title == "Sanctions screening"
    sizes = [s.body["max_page_size"] for s in sim.calls()]
    assert sizes == [500, 50, 50, 50, 50]  # refused twice, then one search per linked id
    assert all(
        "conditions" not in s.body["filter_model"]["assigned_to_id"] for s in sim.calls()[2:]
    )
    backend.pull(NOW)
    assert len(sim.calls("POST")) == 8  # and so from then on


def _only(changes: Sequence[Pulled]) -> Task:
    """The one task a sync pass changed."""
    (change,) = changes
    return change.after
