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
    assert [s.body["page_token"] for s in searches] == [None, "50"]
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
    (task,) = service(backend).list_tasks(ana, ListView.MINE)
    assert backend.pull(NOW) == []
    sim.assign_in_maxsight(task_id, to=BEN_MX, by=BEN_MX)
    sim.tasks[task_id]["status"] = "COMPLETED_PASS"
    after = _only(backend.pull(NOW))
    assert after.assignees == (Assignee.user(BEN),) and after.is_completed
    del sim.tasks[task_id]
    gone = _only(backend.pull(NOW))
    assert gone.deleted
    with pytest.raises(NotFound):
        backend.get(TEAM, task.handle)


def _only(changes: Sequence[Pulled]) -> Task:
    """The one task a sync pass changed."""
    (change,) = changes
    return change.after
