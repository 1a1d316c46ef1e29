"""Struct PIM UserTasks contract tests against its simulator (a real local HTTP server)."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from bot.backends import mirror, struct_pim
from bot.domain.errors import BackendUnavailable, InvalidInput, NotFound
from bot.domain.links import LinkHow, UserLink
from bot.domain.models import (
    Actor,
    Assignee,
    AssigneeKind,
    AttachmentKind,
    CompletionCondition,
    Due,
    Task,
    TaskDraft,
    TaskEdit,
)
from bot.service.ports import Pulled
from bot.service.tasks import TaskService
from storage.local_tasks import SqlAlchemyTaskStore
from storage.sync_marks import SqlAlchemySyncMarks
from storage.user_map import SqlAlchemyUserMap
from tests.fakes import FakeClock, FakeDirectory, FakeNotifier
from tests.stubs.struct_pim_api import StructPimSimulator, struct_pim_simulator

TEAM, BOSS, ANA, BEN, OPS = "T1", "UBOSS", "UANA", "UBEN", "SOPS"
GROUP_UID = "7d3b2c1a-0000-4000-8000-000000000001"
NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
SEEDS = Path(__file__).parent.parent / "fixtures" / "struct_pim"


@pytest.fixture
def sim() -> Iterator[StructPimSimulator]:
    with struct_pim_simulator("struct-key") as simulator:
        simulator.add_user("12", "Ana@example.com")
        simulator.add_user("5", "ben@example.com")
        simulator.add_group(GROUP_UID, "Ops")
        yield simulator


def make_backend(
    sim: StructPimSimulator, sessions: sessionmaker[Session], key: str = "struct-key"
) -> struct_pim.StructPimBackend:
    links = SqlAlchemyUserMap(sessions)
    for slack, kind, their in (
        (ANA, AssigneeKind.USER, "12"),
        (BEN, AssigneeKind.USER, "5"),
        (OPS, AssigneeKind.GROUP, GROUP_UID),
    ):
        links.set(
            UserLink(
                team_id=TEAM,
                backend="struct_pim",
                slack_id=slack,
                kind=kind,
                assignee_id=their,
                how=LinkHow.ADMIN,
                set_at=NOW,
            )
        )
    api = struct_pim.client(sim.url, key, backoff=0.01)
    return struct_pim.StructPimBackend(
        api, SqlAlchemyTaskStore(sessions), links, SqlAlchemySyncMarks(sessions)
    )


@pytest.fixture
def backend(
    sim: StructPimSimulator, sessions: sessionmaker[Session]
) -> struct_pim.StructPimBackend:
    return make_backend(sim, sessions)


def service(backend: struct_pim.StructPimBackend) -> TaskService:
    directory = FakeDirectory()
    for user in (BOSS, ANA, BEN):
        directory.add_person(TEAM, user, tz="Europe/Copenhagen")
    directory.add_group(TEAM, OPS, [ANA, BEN])
    return TaskService(backend, FakeNotifier(), directory, FakeClock(NOW))


def draft(condition: CompletionCondition = CompletionCondition.MUST_ALL) -> TaskDraft:
    return TaskDraft(
        team_id=TEAM,
        assignor=BOSS,
        title="Add images to these products",
        description="They are in the DAM",
        due=Due(date=date(2026, 11, 30), time=time(15, 0), tz="Europe/Copenhagen"),
        condition=condition,
        assignees=(Assignee.user(ANA), Assignee.user(BEN), Assignee.group(OPS)),
    )


def test_create_generates_the_uid_and_sends_the_documented_body(
    sim: StructPimSimulator, backend: struct_pim.StructPimBackend
) -> None:
    task = backend.create(draft(), NOW)
    (call,) = sim.calls("POST", "/v1/usertasks")
    assert call.body["Uid"] == task.id.removeprefix("struct-")
    assert call.body["AssignedUsers"] == ["12", "5"]  # one element per user
    assert call.body["AssignedUserGroups"] == [GROUP_UID]
    assert call.body["Deadline"] == "2026-11-30T14:00:00.000000+00:00"  # 15:00 in Copenhagen
    stored = sim.tasks[call.body["Uid"]]
    assert stored["Title"] == "Add images to these products" and stored["Status"] == 0


def test_status_both_ways_and_must_all_is_kept_by_taskbot(
    sim: StructPimSimulator, backend: struct_pim.StructPimBackend
) -> None:
    tasks = service(backend)
    task = tasks.create_task(Actor(team_id=TEAM, user_id=BOSS), draft())
    remote = sim.tasks[task.id.removeprefix("struct-")]
    tasks.complete_part(Actor(team_id=TEAM, user_id=ANA), "T-1")  # Ana's part and Ops'
    assert remote["Status"] == 2  # InProgress
    tasks.complete_part(Actor(team_id=TEAM, user_id=BEN), "T-1")
    assert remote["Status"] == 4  # Completed exactly when everyone is done
    tasks.undo_part(Actor(team_id=TEAM, user_id=BEN), "T-1")
    assert remote["Status"] == 1  # ReOpened
    puts = sim.calls("PUT", "/v1/usertasks")
    assert all(set(p.body) >= {"Uid", "Title", "AttachedEntities"} for p in puts)  # whole object
    texts = [c["Comment"] for c in remote["Comments"]]
    assert any(t.startswith("[taskbot] @UANA marked done") for t in texts)


def test_comments_are_added_edited_and_deleted(
    sim: StructPimSimulator, backend: struct_pim.StructPimBackend
) -> None:
    tasks = service(backend)
    task = tasks.create_task(Actor(team_id=TEAM, user_id=BOSS), draft())
    remote = sim.tasks[task.id.removeprefix("struct-")]
    tasks.comment(Actor(team_id=TEAM, user_id=ANA), "T-1", "On it")
    (comment,) = [c for c in remote["Comments"] if "On it" in c["Comment"]]
    assert comment["Comment"] == "On it\n— @UANA in Slack"
    current = backend.get(TEAM, "T-1")
    mine = next(c for c in current.comments if c.text == "On it")
    edited = current.model_copy(
        update={
            "comments": tuple(
                c.model_copy(update={"text": "On it now"}) if c is mine else c
                for c in current.comments
            ),
            "version": current.version + 1,
        }
    )
    backend.save(edited, current.version)
    assert "On it now" in comment["Comment"]
    removed = edited.model_copy(
        update={
            "comments": tuple(c for c in edited.comments if c.id != mine.id),
            "version": edited.version + 1,
        }
    )
    backend.save(removed, edited.version)
    assert not any("On it" in c["Comment"] for c in remote["Comments"])
    assert sim.calls("DELETE", f"/v1/usertasks/{task.id.removeprefix('struct-')}/comments")


def test_users_by_email_and_paging(
    sim: StructPimSimulator, backend: struct_pim.StructPimBackend
) -> None:
    assert backend.find_user_by_email(TEAM, "ana@EXAMPLE.com") == "12"
    sim.add_user("99", "gone@example.com", status=2)  # disabled
    assert backend.find_user_by_email(TEAM, "gone@example.com") is None
    sim.page_size = 2
    for n in range(5):
        backend.create(draft().model_copy(update={"title": f"t{n}"}), NOW)
    assert sorted(t["Title"] for t in backend.all_tasks()) == [f"t{n}" for n in range(5)]
    assert [c.query.get("page") for c in sim.calls("GET", "/v1/usertasks")] == ["1", "2", "3"]


def test_errors_are_problem_details_and_nothing_is_stored(
    sim: StructPimSimulator, sessions: sessionmaker[Session]
) -> None:
    with pytest.raises(BackendUnavailable, match="STRUCT_PIM_API_KEY"):
        make_backend(sim, sessions, key="Bearer struct-key").create(draft(), NOW)
    backend = make_backend(sim, sessions)
    sim.fail_next("POST", 400, "Title is too long")
    with pytest.raises(InvalidInput, match="Title is too long"):
        backend.create(draft(), NOW)
    sim.fail_next("POST", 503)
    with pytest.raises(BackendUnavailable, match="HTTP 503"):
        backend.create(draft(), NOW)
    assert sim.tasks == {}
    with pytest.raises(NotFound):
        backend.get(TEAM, "T-1")
    task = backend.create(draft(), NOW)
    sim.malformed_next("GET")
    with pytest.raises(BackendUnavailable, match="isn't JSON"):
        service(backend).edit(Actor(team_id=TEAM, user_id=BOSS), "T-1", TaskEdit(title="New"))
    assert backend.get(TEAM, "T-1").title == task.title  # refused there: not stored here


def test_pull_reads_changes_made_in_the_pim(
    sim: StructPimSimulator, backend: struct_pim.StructPimBackend
) -> None:
    task = backend.create(draft(), NOW)
    uid = task.id.removeprefix("struct-")
    assert backend.pull(NOW) == []
    sim.edit_task(
        uid,
        Title="Edited in Struct",
        Deadline="2026-12-01T09:00:00.0000000+01:00",
        AttachedEntities=[{"EntityType": 1, "EntityId": "1022", "Status": 0}],
    )
    after = _only(backend.pull(NOW + timedelta(minutes=1)))
    assert after.title == "Edited in Struct"
    assert after.due is not None and after.due.instant() == datetime(2026, 12, 1, 8, tzinfo=UTC)
    (entity,) = [a for a in after.attachments if a.kind is AttachmentKind.ENTITY]
    assert (entity.entity_type, entity.entity_id) == ("1", "1022")
    assert backend.pull(NOW + timedelta(minutes=2)) == []
    sim.edit_task(uid, Status=4)
    done = _only(backend.pull(NOW + timedelta(minutes=3)))
    assert done.is_completed
    del sim.tasks[uid]
    gone = _only(backend.pull(NOW + timedelta(minutes=4)))
    assert gone.deleted


def test_the_seed_examples_parse(backend: struct_pim.StructPimBackend) -> None:
    listing = json.loads((SEEDS / "usertasks_list.seed001.json").read_text())
    assert listing["Page"] == 1 and listing["Total"] == 2
    second = listing["UserTasks"][1]
    assert struct_pim.parse_time(second["Deadline"]) == datetime(2023, 1, 13, 22, 0, tzinfo=UTC)
    assert second["AssignedUsers"] == ["5", "10"]
    assert second["Comments"][0]["IsSystemGenerated"] is False


def _only(changes: Sequence[Pulled]) -> Task:
    """The one task a sync pass changed."""
    (change,) = changes
    return change.after


def test_the_list_is_paged_with_page_pagesize_and_total(sim: StructPimSimulator) -> None:
    """Contract: ``GET /v1/usertasks?page=N`` answers ``Page``, ``PageSize``, ``Total`` and that
    page's ``UserTasks``; past the last page, none; no page-size parameter."""
    sim.page_size = 2
    made = [sim.make_task(f"t{n}", ["12"]) for n in range(5)]
    api = struct_pim.client(sim.url, "struct-key", backoff=0.01)
    pages = [api.json(api.request("GET", "v1/usertasks", params={"page": p})) for p in (1, 2, 3, 4)]
    assert [(p["Page"], p["PageSize"], p["Total"]) for p in pages] == [
        (n, 2, 5) for n in (1, 2, 3, 4)
    ]
    assert [len(p["UserTasks"]) for p in pages] == [2, 2, 1, 0]
    assert [t["Uid"] for p in pages for t in p["UserTasks"]] == made
    api.close()


def test_a_task_made_in_the_pim_for_linked_people_is_taken_in_once(
    sim: StructPimSimulator, backend: struct_pim.StructPimBackend
) -> None:
    now = datetime.now(UTC)
    sim.page_size = 2  # the walk crosses pages
    sim.add_user("77", "zoe@example.com")  # in the PIM, not linked
    mine = sim.make_task("Check images", ["12", "77"], by="5", deadline=now + timedelta(days=2))
    team = sim.make_task("Translate", [], [GROUP_UID], by="77")
    sim.make_task("Not ours", ["77"], by="5")
    sim.make_task("Done already", ["12"], status=4)
    taken = {p.after.id: p for p in backend.pull(now)}
    assert set(taken) == {f"struct-{mine}", f"struct-{team}"}
    ana = taken[f"struct-{mine}"]
    assert ana.before is None and ana.by == BEN and ana.after.assignor == BEN
    assert ana.after.assignees == (Assignee.user(ANA),) and ana.after.due is not None
    ops = taken[f"struct-{team}"]
    assert ops.by is None and ops.after.assignor == mirror.NO_ASSIGNOR
    assert ops.after.assignees == (Assignee.group(OPS),)
    assert backend.pull(now) == []  # taken in once
    assert not sim.calls("POST", "/v1/usertasks/batch")  # the walk read them: no batch get
    service(backend).complete_part(Actor(team_id=TEAM, user_id=ANA), ana.after.handle)
    assert sim.tasks[mine]["Status"] == 4
    assert sim.tasks[mine]["AssignedUsers"] == ["12", "77"]  # the unlinked one stays assigned
    assert backend.pull(now) == []  # taskbot's own write read back: no change


def test_intake_begins_once_and_is_remembered_across_instances(
    sim: StructPimSimulator, sessions: sessionmaker[Session]
) -> None:
    """The list has no change date: intake takes tasks made since it began (the first pass,
    less ``INTAKE_LOOKBACK``), a mark kept in the database, not in the backend object."""
    now = datetime.now(UTC)
    first = make_backend(sim, sessions)
    assert first.pull(now) == []
    made = sim.make_task("Made after intake began", ["12"])
    later = make_backend(sim, sessions)  # another process, a day on
    (taken,) = later.pull(now + timedelta(days=1))
    assert taken.after.id == f"struct-{made}" and taken.before is None
    fresh = struct_pim.StructPimBackend(
        struct_pim.client(sim.url, "struct-key"),
        SqlAlchemyTaskStore(sessions),
        SqlAlchemyUserMap(sessions),
    )
    sim.make_task("Old news to a new intake", ["12"])
    assert fresh.pull(now + timedelta(days=1)) == []  # made before this intake's lookback


def test_a_task_taken_in_while_slack_creates_it_is_the_created_task(
    sim: StructPimSimulator, backend: struct_pim.StructPimBackend, sessions: sessionmaker[Session]
) -> None:
    """The race between a create (push, then store) and a sync pass that lists the new task in
    between: the create claims the task the pass took in; nothing is undone in the PIM."""
    other = make_backend(sim, sessions)  # the scheduler's pass, in another process
    push = backend._push_new

    def racing(made: TaskDraft) -> str:
        uid = push(made)
        (taken,) = other.pull(datetime.now(UTC))
        assert taken.before is None
        return uid

    backend._push_new = racing  # type: ignore[method-assign]
    task = backend.create(draft(), NOW)
    assert task.assignor == BOSS and task.condition is CompletionCondition.MUST_ALL
    assert task.handle == "T-1" and backend.get(TEAM, "T-1") == task
    assert task.id.removeprefix("struct-") in sim.tasks  # not undone there
    assert not sim.calls("DELETE")
