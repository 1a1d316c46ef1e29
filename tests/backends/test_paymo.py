"""Paymo backend contract tests against the Paymo simulator (a real local HTTP server)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from bot.backends import mirror, paymo
from bot.domain.errors import BackendUnavailable, InvalidInput, NotFound
from bot.domain.links import LinkHow, UserLink
from bot.domain.models import (
    Actor,
    Assignee,
    AssigneeKind,
    CompletionCondition,
    Due,
    TaskDraft,
    TaskEdit,
)
from bot.service.tasks import TaskService
from storage.local_tasks import SqlAlchemyTaskStore
from storage.sync_marks import SqlAlchemySyncMarks
from storage.user_map import SqlAlchemyUserMap
from tests.fakes import FakeClock, FakeDirectory, FakeNotifier
from tests.stubs.paymo_api import PaymoSimulator, paymo_simulator

TEAM, BOSS, ANA, BEN = "T1", "UBOSS", "UANA", "UBEN"
ANA_ID, BEN_ID = 241185, 241186
NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
FIXTURES = Path(__file__).parent.parent / "fixtures" / "paymo"


@pytest.fixture
def sim() -> Iterator[PaymoSimulator]:
    with paymo_simulator("paymo-key") as simulator:
        simulator.add_user(ANA_ID, "Ana@Example.com")
        simulator.add_user(BEN_ID, "ben@example.com")
        yield simulator


def make_backend(
    sim: PaymoSimulator, sessions: sessionmaker[Session], key: str = "paymo-key", **options: object
) -> paymo.PaymoBackend:
    links = SqlAlchemyUserMap(sessions)
    for slack, paymo_id in ((ANA, ANA_ID), (BEN, BEN_ID)):
        links.set(
            UserLink(
                team_id=TEAM,
                backend="paymo",
                slack_id=slack,
                kind=AssigneeKind.USER,
                assignee_id=str(paymo_id),
                how=LinkHow.ADMIN,
                set_at=NOW,
            )
        )
    api = paymo.client(sim.url, key, backoff=0.01, **options)
    return paymo.PaymoBackend(
        api,
        SqlAlchemyTaskStore(sessions),
        links,
        project_id=7001,
        marks=SqlAlchemySyncMarks(sessions),
    )


@pytest.fixture
def backend(sim: PaymoSimulator, sessions: sessionmaker[Session]) -> paymo.PaymoBackend:
    return make_backend(sim, sessions)


def service(backend: paymo.PaymoBackend) -> TaskService:
    directory = FakeDirectory()
    for user in (BOSS, ANA, BEN):
        directory.add_person(TEAM, user, tz="UTC")
    return TaskService(backend, FakeNotifier(), directory, FakeClock(NOW))


def draft(condition: CompletionCondition = CompletionCondition.MUST_ALL) -> TaskDraft:
    return TaskDraft(
        team_id=TEAM,
        assignor=BOSS,
        title="Quarterly report",
        description="numbers",
        due=Due(date=date(2026, 11, 30), tz="UTC"),
        condition=condition,
        assignees=(Assignee.user(ANA), Assignee.user(BEN)),
    )


def test_create_sends_the_documented_fields_and_mirrors_the_task(
    sim: PaymoSimulator, backend: paymo.PaymoBackend
) -> None:
    task = backend.create(draft(), NOW)
    (call,) = sim.calls("POST", "/api/tasks")
    assert call.body == {
        "name": "Quarterly report",
        "description": "numbers",
        "users": [ANA_ID, BEN_ID],
        "due_date": "2026-11-30",
        "project_id": 7001,
    }
    (remote,) = sim.tasks.values()
    assert task.id == f"paymo-{remote['id']}" and task.handle == "T-1"
    assert backend.get(TEAM, "T-1").title == "Quarterly report"


def test_must_all_completes_in_paymo_only_when_everyone_is_done(
    sim: PaymoSimulator, backend: paymo.PaymoBackend
) -> None:
    tasks = service(backend)
    tasks.create_task(Actor(team_id=TEAM, user_id=BOSS), draft())
    (remote,) = sim.tasks.values()
    tasks.complete_part(Actor(team_id=TEAM, user_id=ANA), "T-1")
    assert remote["complete"] is False and not sim.calls("PUT")  # nothing Paymo holds changed
    tasks.complete_part(Actor(team_id=TEAM, user_id=BEN), "T-1")
    assert remote["complete"] is True
    tasks.undo_part(Actor(team_id=TEAM, user_id=BEN), "T-1")
    assert remote["complete"] is False
    assert [c.body for c in sim.calls("PUT")] == [{"complete": True}, {"complete": False}]


def test_any_one_completes_at_the_first_done(
    sim: PaymoSimulator, backend: paymo.PaymoBackend
) -> None:
    tasks = service(backend)
    tasks.create_task(Actor(team_id=TEAM, user_id=BOSS), draft(CompletionCondition.ANY_ONE))
    tasks.complete_part(Actor(team_id=TEAM, user_id=BEN), "T-1")
    (remote,) = sim.tasks.values()
    assert remote["complete"] is True


def test_reassign_edit_and_delete_drive_paymo(
    sim: PaymoSimulator, backend: paymo.PaymoBackend
) -> None:
    tasks = service(backend)
    boss = Actor(team_id=TEAM, user_id=BOSS)
    tasks.create_task(boss, draft())
    tasks.reassign(boss, "T-1", [Assignee.user(BEN)])
    tasks.edit(boss, "T-1", TaskEdit(title="Yearly report"))
    (remote,) = sim.tasks.values()
    assert remote["users"] == [BEN_ID] and remote["name"] == "Yearly report"
    assert [a["user_id"] for a in sim.assignments.values()] == [BEN_ID]
    (removed,) = [c for c in sim.calls("DELETE") if c.path.startswith("/api/userstasks/")]
    assert [c.body for c in sim.calls("POST", "/api/userstasks")] == []  # Ben was already there
    tasks.comment(Actor(team_id=TEAM, user_id=BEN), "T-1", "Done <soon>")
    assert sim._task_comments(remote["id"]) == ["Done &lt;soon&gt;<br>— @UBEN in Slack"]
    tasks.delete(boss, "T-1")
    assert sim.tasks == {}
    with pytest.raises(NotFound):
        backend.get(TEAM, "T-1")


def test_users_by_email_match_exactly_one_active_user(
    sim: PaymoSimulator, backend: paymo.PaymoBackend
) -> None:
    assert backend.find_user_by_email(TEAM, "ana@example.COM") == str(ANA_ID)
    assert backend.find_user_by_email(TEAM, "nobody@example.com") is None
    sim.add_user(5, "twin@example.com")
    sim.add_user(6, "twin@example.com")
    sim.add_user(7, "gone@example.com", active=False)
    assert backend.find_user_by_email(TEAM, "twin@example.com") is None  # never guessed
    assert backend.find_user_by_email(TEAM, "gone@example.com") is None


def test_a_bad_key_is_explained_and_nothing_is_stored(
    sim: PaymoSimulator, sessions: sessionmaker[Session]
) -> None:
    backend = make_backend(sim, sessions, key="wrong")
    with pytest.raises(BackendUnavailable, match="PAYMO_API_KEY"):
        backend.create(draft(), NOW)
    assert sim.tasks == {}
    with pytest.raises(NotFound):
        backend.get(TEAM, "T-1")


def test_server_errors_retry_only_idempotent_calls(
    sim: PaymoSimulator, backend: paymo.PaymoBackend
) -> None:
    sim.fail_next("POST", 500)
    with pytest.raises(BackendUnavailable, match="HTTP 500"):
        backend.create(draft(), NOW)
    assert len(sim.calls("POST")) == 1 and sim.tasks == {}  # a POST is never repeated
    with pytest.raises(NotFound):
        backend.get(TEAM, "T-1")
    sim.fail_next("GET", 502)
    assert backend.find_user_by_email(TEAM, "ben@example.com") == str(BEN_ID)
    assert len(sim.calls("GET", "/api/users")) == 2


def test_rate_limits_are_honoured(sim: PaymoSimulator, backend: paymo.PaymoBackend) -> None:
    sim.rate_limit_next("GET", retry_after=1)
    started = time.monotonic()
    assert backend.find_user_by_email(TEAM, "ben@example.com") == str(BEN_ID)
    assert time.monotonic() - started >= 1.0
    sim.limit, sim.decay = 1, 1  # no requests left after each one: wait out the window
    started = time.monotonic()
    backend.find_user_by_email(TEAM, "ben@example.com")
    backend.find_user_by_email(TEAM, "ben@example.com")
    assert time.monotonic() - started >= 0.9


def test_malformed_answers_and_missing_tasks_are_reported(
    sim: PaymoSimulator, backend: paymo.PaymoBackend
) -> None:
    sim.malformed_next("POST")
    with pytest.raises(BackendUnavailable, match="isn't JSON"):
        backend.create(draft(), NOW)
    with pytest.raises(InvalidInput, match="not linked to paymo"):
        backend.create(draft().model_copy(update={"assignees": (Assignee.user("UNEW"),)}), NOW)


def test_pull_brings_changes_made_in_paymo_and_keeps_slacks(
    sim: PaymoSimulator, backend: paymo.PaymoBackend
) -> None:
    tasks = service(backend)
    boss = Actor(team_id=TEAM, user_id=BOSS)
    tasks.create_task(boss, draft())
    tasks.edit(boss, "T-1", TaskEdit(title="Edited in Slack"))
    assert backend.pull(NOW) == []  # Slack's change is what Paymo has: nothing to bring back
    (remote_id,) = sim.tasks
    sim.edit_task(remote_id, name="Edited in Paymo", due_date="2026-12-04")
    (change,) = backend.pull(NOW + timedelta(minutes=1))
    before, after = change.before, change.after
    assert before.title == "Edited in Slack" and after.title == "Edited in Paymo"
    assert after.due is not None and after.due.date == date(2026, 12, 4)
    sim.edit_task(remote_id, complete=True)
    (change,) = backend.pull(NOW + timedelta(minutes=2))
    completed = change.after
    assert completed.is_completed and backend.get(TEAM, "T-1").is_completed
    del sim.tasks[remote_id]  # deleted in Paymo
    (change,) = backend.pull(NOW + timedelta(minutes=3))
    deleted = change.after
    assert deleted.deleted
    with pytest.raises(NotFound):
        backend.get(TEAM, "T-1")


def test_recorded_seed_examples_have_the_simulators_shape(
    sim: PaymoSimulator, backend: paymo.PaymoBackend
) -> None:
    backend.create(draft(), NOW)
    answer = backend._api.json(
        backend._api.request("GET", "userstasks", params={"where": f"user_id={ANA_ID}"})
    )
    for name in ("userstasks_list.seed004.json", "userstasks_get.seed004.json"):
        recorded = json.loads((FIXTURES / name).read_text())
        assert set(recorded) == set(answer) == {"userstasks"}
        assert set(recorded["userstasks"][0]) == set(answer["userstasks"][0])
    with pytest.raises(InvalidInput, match="where condition"):
        backend._api.request("GET", "userstasks")


def test_where_filters_take_unix_timestamps_and_users_in(sim: PaymoSimulator) -> None:
    """Contract: ``updated_on>`` compares with a Unix timestamp (a date text is refused),
    ``users in (…)`` matches tasks assigned to any of them, joined with ``and``."""
    ana = sim.make_task("Ana's", [ANA_ID])
    both = sim.make_task("Both", [ANA_ID, BEN_ID])
    sim.make_task("Nobody's", [])
    api = paymo.client(sim.url, "paymo-key", backoff=0.01)

    def ids(where: str) -> set[int]:
        answer = api.json(api.request("GET", "tasks", params={"where": where}))
        return {t["id"] for t in answer["tasks"]}

    past = int(time.time()) - 60
    assert ids(f"users in ({ANA_ID},{BEN_ID})") == {ana, both}
    assert ids(f"users in ({BEN_ID}) and updated_on>{past}") == {both}
    assert ids(f"users in ({ANA_ID}) and updated_on>{past + 3600}") == set()
    sim.tasks[ana]["updated_on"] = "2020-01-01T00:00:00Z"
    assert ids(f"users in ({ANA_ID}) and updated_on>={1577836800}") == {ana, both}
    assert ids(f"users in ({ANA_ID}) and updated_on>{1577836800}") == {both}
    with pytest.raises(InvalidInput, match="Unix timestamp"):
        ids("updated_on>2020-01-01")
    api.close()


def test_a_task_made_in_paymo_for_a_linked_person_is_taken_in_once(
    sim: PaymoSimulator, backend: paymo.PaymoBackend
) -> None:
    now = datetime.now(UTC)
    sim.add_user(999, "zoe@example.com")  # in Paymo, not linked
    due = (now + timedelta(days=2)).date().isoformat()
    mine = sim.make_task("Invoice", [ANA_ID, 999], by=BEN_ID, due_date=due)
    sim.make_task("Not ours", [999], by=ANA_ID)
    done = sim.make_task("Done already", [ANA_ID])
    sim.edit_task(done, complete=True)
    (taken,) = backend.pull(now)
    assert taken.before is None and taken.by == BEN and taken.after.id == f"paymo-{mine}"
    assert taken.after.assignor == BEN and taken.after.assignees == (Assignee.user(ANA),)
    assert taken.after.due == Due(date=date.fromisoformat(due))
    assert backend.pull(now) == []  # taken in once
    listed = [c.query["where"] for c in sim.calls("GET", "/api/tasks")]
    assert len(listed) == 2  # one filtered list a pass, nothing read by id
    assert all(w.startswith(f"users in ({ANA_ID},{BEN_ID}) and updated_on>") for w in listed)
    tasks = service(backend)
    tasks.assign(Actor(team_id=TEAM, user_id=BEN), taken.after.handle, [Assignee.user(BEN)])
    assert sorted(sim.tasks[mine]["users"]) == [999, ANA_ID, BEN_ID]  # the unlinked one stays
    tasks.complete_part(Actor(team_id=TEAM, user_id=ANA), taken.after.handle)
    assert sim.tasks[mine]["complete"] is True
    assert backend.pull(now) == []  # taskbot's own write read back: no change


def test_the_high_water_mark_is_kept_across_instances(
    sim: PaymoSimulator, sessions: sessionmaker[Session]
) -> None:
    """Each pass asks only for what changed since the newest ``updated_on`` it read (less a
    margin); the mark is in the database, so another process goes on from it."""
    now = datetime.now(UTC)
    first = make_backend(sim, sessions)
    sim.make_task("Invoice", [ANA_ID])
    (taken,) = first.pull(now)
    mark = SqlAlchemySyncMarks(sessions).get("paymo", mirror.CHANGES_MARK)
    stamp = int(
        datetime.fromisoformat(sim.tasks[int(taken.after.id[6:])]["updated_on"]).timestamp()
    )
    assert mark == str(stamp)
    second = make_backend(sim, sessions)
    assert second.pull(now) == []
    where = sim.calls("GET", "/api/tasks")[-1].query["where"]
    assert where.endswith(f"updated_on>{stamp - int(mirror.MARK_MARGIN.total_seconds())}")


def test_reads_by_id_take_turns_within_a_bound(
    sim: PaymoSimulator, backend: paymo.PaymoBackend
) -> None:
    """Tasks the change list did not return are read by id at most ``check_per_pass`` a pass,
    going on from where the last pass stopped, so a deletion is found within a few passes."""
    made = [backend.create(draft().model_copy(update={"title": f"t{n}"}), NOW) for n in range(5)]
    backend.check_per_pass, backend.batch_size = 2, 2
    for task in made:
        sim.tasks[int(backend.external_id(task))]["updated_on"] = "2020-01-01T00:00:00Z"
    del sim.tasks[int(backend.external_id(made[4]))]
    seen: list[str] = []
    for turn in range(3):
        before = len(sim.calls("GET", "/api/tasks"))
        pulled = backend.pull(NOW)
        reads = sim.calls("GET", "/api/tasks")[before:]
        by_id = [c.query["where"] for c in reads if c.query["where"].startswith("id in")]
        assert len(by_id) == 1  # 2 tasks, one batch
        seen.extend(by_id)
        if turn == 2:
            assert [p.after.deleted for p in pulled] == [True]
    ids = [backend.external_id(t) for t in made]
    turns = [set(w.removeprefix("id in (").rstrip(")").split(",")) for w in seen]
    assert turns == [{ids[0], ids[1]}, {ids[2], ids[3]}, {ids[4], ids[0]}]
