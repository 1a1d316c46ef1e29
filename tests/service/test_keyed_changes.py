"""Keyed changes (a job run again after a crash or a failure) on the real store: applied once,
their notifications queued once with the change, never sent straight from the service."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.orm import Session, sessionmaker

from bot.backends.local import LocalBackend
from bot.domain.events import EventKind, Notice
from bot.domain.models import Actor, Assignee, ListView, PartState, TaskDraft
from bot.service.tasks import TaskService
from storage.job_ledger import SqlAlchemyJobLedger
from tests.fakes import FakeClock, FakeDirectory, FakeNotifier

TEAM = "T1"
LATER = datetime.now(UTC) + timedelta(days=1)
BOSS, ANA = Actor(team_id=TEAM, user_id="UBOSS"), Actor(team_id=TEAM, user_id="UANA")


@pytest.fixture
def notifier() -> FakeNotifier:
    return FakeNotifier()


@pytest.fixture
def service(sessions: sessionmaker[Session], notifier: FakeNotifier) -> TaskService:
    directory = FakeDirectory()
    for user in ("UBOSS", "UANA"):
        directory.add_person(TEAM, user, tz="UTC")
    return TaskService(LocalBackend(sessions), notifier, directory, FakeClock())


def draft(title: str = "Ship") -> TaskDraft:
    return TaskDraft(
        team_id=TEAM, assignor="UBOSS", title=title, assignees=(Assignee.user("UANA"),)
    )


def notices(sessions: sessionmaker[Session]) -> dict[str, str]:
    return SqlAlchemyJobLedger(sessions).states()


def test_a_replayed_create_makes_no_second_task(
    service: TaskService, sessions: sessionmaker[Session], notifier: FakeNotifier
) -> None:
    delivered: list[str] = []
    service.deliver_now = delivered.append
    first = service.keyed("create:V1:h1").create_task(BOSS, draft())
    again = service.keyed("create:V1:h1").create_task(BOSS, draft())
    assert again.id == first.id
    assert [t.handle for t in service.list_tasks(BOSS, view=ListView.ASSIGNED)] == ["T-1"]
    assert notices(sessions) == {"notify:create:V1:h1": "pending"}
    assert delivered == ["notify:create:V1:h1"]  # sent at once where a worker runs here
    assert notifier.events == []  # never straight from the service


def test_a_replayed_comment_adds_no_second_comment(
    service: TaskService, sessions: sessionmaker[Session]
) -> None:
    task = service.create_task(BOSS, draft())
    for _ in range(2):
        service.keyed("comment:V2:h2").comment(ANA, task.handle, "on it")
    comments = [c for c in service.show(BOSS, task.handle).comments if not c.system]
    assert [c.text for c in comments] == ["on it"]
    assert list(notices(sessions)) == ["notify:comment:V2:h2"]


def test_a_replayed_click_applies_once_and_its_notice_names_the_change(
    service: TaskService, sessions: sessionmaker[Session]
) -> None:
    task = service.create_task(BOSS, draft())
    done = service.keyed("card-button:T1:UANA:1.5").complete_part(ANA, task.handle)
    again = service.keyed("card-button:T1:UANA:1.5").complete_part(ANA, task.handle)
    assert again.version == done.version
    assert done.parts[0].state is PartState.DONE
    ledger = SqlAlchemyJobLedger(sessions)
    (job,) = ledger.claim(LATER, limit=5, claimer="w", lease=timedelta(seconds=30))
    notice = Notice.model_validate(json.loads(job.payload))
    assert [e.kind for e in notice.events] == [EventKind.PART_DONE, EventKind.COMPLETED]
