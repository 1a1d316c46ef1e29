"""The embedded backend on SQLite and PostgreSQL: handles, versions, lists, isolation."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, time, timedelta

import pytest
from sqlalchemy.orm import Session, sessionmaker

from bot.backends import build_backend
from bot.backends.local import LocalBackend
from bot.domain import rules
from bot.domain.errors import Conflict, NotFound
from bot.domain.models import (
    Actor,
    Assignee,
    Attachment,
    AttachmentKind,
    CompletionCondition,
    Due,
    ListView,
    PartState,
    Status,
    TaskDraft,
    TaskQuery,
)

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
BOSS, ANA, BEN = "UBOSS", "UANA", "UBEN"


def draft(title: str = "Ship it", team: str = "T1", **fields: object) -> TaskDraft:
    values: dict[str, object] = {
        "team_id": team,
        "assignor": BOSS,
        "title": title,
        "assignees": (Assignee.user(ANA), Assignee.user(BEN)),
        "condition": CompletionCondition.MUST_ALL,
    }
    values.update(fields)
    return TaskDraft(**values)  # type: ignore[arg-type]


@pytest.fixture
def backend(sessions: sessionmaker[Session]) -> LocalBackend:
    return LocalBackend(sessions)


def test_registry_builds_local_and_names_the_known_ones(sessions: sessionmaker[Session]) -> None:
    assert build_backend("local", sessions=sessions).name == "local"
    with pytest.raises(ValueError, match="available: lineworks, local"):
        build_backend("nope", sessions=sessions)


def test_create_then_get_round_trips_everything(backend: LocalBackend) -> None:
    due = Due(date=date(2026, 12, 1), time=time(9, 30), tz="Asia/Tokyo")
    link = Attachment(kind=AttachmentKind.SLACK_MESSAGE, url="https://x.slack.com/p1", title="m")
    task = backend.create(draft(due=due, attachments=(link,), channel_id="C1"), NOW)
    assert task.handle == "T-1"
    stored = backend.get("T1", "T-1")
    assert stored == task
    assert stored.created_at.tzinfo is not None and stored.created_at == NOW
    assert stored.due_instant() == datetime(2026, 12, 1, 0, 30, tzinfo=UTC)


def test_handles_count_per_workspace(backend: LocalBackend) -> None:
    assert [backend.create(draft(), NOW).handle for _ in range(3)] == ["T-1", "T-2", "T-3"]
    assert backend.create(draft(team="T2"), NOW).handle == "T-1"


def test_concurrent_creates_get_distinct_handles(backend: LocalBackend) -> None:
    handles: list[str] = []
    lock = threading.Lock()

    def create() -> None:
        for _ in range(5):
            handle = backend.create(draft(), NOW).handle
            with lock:
                handles.append(handle)

    threads = [threading.Thread(target=create) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(handles, key=lambda h: int(h[2:])) == [f"T-{n}" for n in range(1, 21)]


def test_save_writes_parts_comments_and_status(backend: LocalBackend) -> None:
    task = backend.create(draft(), NOW)
    done = rules.set_own_parts(task, Actor(team_id="T1", user_id=ANA), PartState.DONE, NOW)
    commented, _ = rules.add_comment(done, Actor(team_id="T1", user_id=BEN), "on my way", NOW)
    backend.save(done, expected_version=1)
    backend.save(commented, expected_version=2)
    stored = backend.get("T1", "T-1")
    assert stored == commented
    assert stored.part_of(Assignee.user(ANA)).state is PartState.DONE  # type: ignore[union-attr]
    assert [c.text for c in stored.comments][-1] == "on my way"


def test_stale_save_is_refused_and_changes_nothing(backend: LocalBackend) -> None:
    task = backend.create(draft(), NOW)
    ana_done = rules.set_own_parts(task, Actor(team_id="T1", user_id=ANA), PartState.DONE, NOW)
    ben_done = rules.set_own_parts(task, Actor(team_id="T1", user_id=BEN), PartState.DONE, NOW)
    backend.save(ana_done, expected_version=1)
    before = backend.get("T1", "T-1")
    with pytest.raises(Conflict) as caught:
        backend.save(ben_done, expected_version=1)
    assert caught.value.current == before
    assert backend.get("T1", "T-1") == before


def test_concurrent_saves_one_wins(backend: LocalBackend) -> None:
    task = backend.create(draft(), NOW)
    outcomes: list[str] = []

    def save(user: str) -> None:
        changed = rules.set_own_parts(task, Actor(team_id="T1", user_id=user), PartState.DONE, NOW)
        try:
            backend.save(changed, expected_version=1)
            outcomes.append("saved")
        except Conflict:
            outcomes.append("conflict")

    threads = [threading.Thread(target=save, args=(u,)) for u in (ANA, BEN)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["conflict", "saved"]
    assert backend.get("T1", "T-1").done_count == 1


def test_delete_is_soft_and_versioned(backend: LocalBackend) -> None:
    backend.create(draft(), NOW)
    with pytest.raises(Conflict):
        backend.delete("T1", "T-1", expected_version=7)
    backend.delete("T1", "T-1", expected_version=1)
    with pytest.raises(NotFound, match="T-1 was deleted"):
        backend.get("T1", "T-1")
    assert backend.list(TaskQuery(team_id="T1", view=ListView.ASSIGNED, user_id=BOSS)) == []


def test_unknown_handle_and_other_workspace(backend: LocalBackend) -> None:
    backend.create(draft(), NOW)
    with pytest.raises(NotFound, match="no task T-9"):
        backend.get("T1", "T-9")
    with pytest.raises(NotFound):
        backend.get("T2", "T-1")
    assert backend.list(TaskQuery(team_id="T2", view=ListView.ASSIGNED, user_id=BOSS)) == []


def test_lists_open_tasks_soonest_first(backend: LocalBackend) -> None:
    later = backend.create(draft("later", due=Due(date=date(2026, 12, 5))), NOW)
    no_due = backend.create(draft("no due"), NOW)
    soon = backend.create(draft("soon", due=Due(date=date(2026, 11, 25))), NOW)
    group = backend.create(draft("group", assignees=(Assignee.group("SOPS"),)), NOW)
    done = backend.create(draft("done", assignees=(Assignee.user(ANA),)), NOW)
    backend.save(
        rules.set_own_parts(done, Actor(team_id="T1", user_id=ANA), PartState.DONE, NOW), 1
    )

    def handles(view: ListView, user: str, **extra: object) -> list[str]:
        query = TaskQuery(team_id="T1", view=view, user_id=user, **extra)  # type: ignore[arg-type]
        return [t.handle for t in backend.list(query)]

    assert handles(ListView.MINE, ANA) == [soon.handle, later.handle, no_due.handle]
    assert handles(ListView.MINE, "UZED", group_ids=frozenset({"SOPS"})) == [group.handle]
    assert handles(ListView.ASSIGNED, BOSS) == [
        soon.handle,
        later.handle,
        no_due.handle,
        group.handle,
    ]
    overdue_now = datetime(2026, 11, 30, tzinfo=UTC)
    assert handles(ListView.OVERDUE, BEN, now=overdue_now) == [soon.handle]
    assert handles(ListView.MINE, ANA, limit=1) == [soon.handle]
    assert backend.get("T1", done.handle).status is Status.COMPLETED


def test_channel_view(backend: LocalBackend) -> None:
    backend.create(draft("here", channel_id="C1"), NOW)
    backend.create(draft("there", channel_id="C2"), NOW + timedelta(seconds=1))
    query = TaskQuery(team_id="T1", view=ListView.CHANNEL, channel_id="C1")
    assert [t.title for t in backend.list(query)] == ["here"]
