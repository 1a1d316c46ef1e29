"""The backend-sync pass records its outcome, so ``taskbot status`` can tell it from the store."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import pytest

from bot.domain.errors import BackendUnavailable
from bot.domain.events import EventKind, Origin
from bot.domain.models import Assignee, CompletionCondition, Part, Status, Task
from bot.service.ports import Pulled
from bot.service.sync import BackendSync
from tests.fakes import FakeNotifier

NOW = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)


class Recorder:
    def __init__(self) -> None:
        self.passes: list[tuple[str, datetime, int | None, str | None]] = []

    def record(self, backend: str, at: datetime, changed: int | None, error: str | None) -> None:
        self.passes.append((backend, at, changed, error))


class Pulling:
    def __init__(self, fail: bool) -> None:
        self.fail = fail

    def pull(self, now: datetime) -> Sequence[Pulled]:
        if self.fail:
            raise BackendUnavailable("Paymo is not answering.")
        return []


@pytest.mark.parametrize("fail", [False, True])
def test_each_pass_is_recorded_with_its_outcome(fail: bool) -> None:
    recorder = Recorder()
    sync = BackendSync(Pulling(fail), FakeNotifier(), lambda: NOW, name="paymo", recorder=recorder)
    if fail:
        with pytest.raises(BackendUnavailable):
            sync.run_once()
        assert recorder.passes == [
            ("paymo", NOW, None, "BackendUnavailable: Paymo is not answering.")
        ]
    else:
        assert sync.run_once() == 0
        assert recorder.passes == [("paymo", NOW, 0, None)]


def _task(**fields: object) -> Task:
    base = Task(
        team_id="T1",
        id="struct-1",
        handle="T-1",
        title="Check images",
        condition=CompletionCondition.ANY_ONE,
        status=Status.NEW,
        assignor="U0CAT",
        parts=(Part(assignee=Assignee.user("U0BEN")),),
        created_at=NOW,
        updated_at=NOW,
        version=1,
    )
    return base.model_copy(update=fields)


class Changes:
    def __init__(self, changes: Sequence[Pulled]) -> None:
        self.changes = changes

    def pull(self, now: datetime) -> Sequence[Pulled]:
        return self.changes


def test_a_change_made_in_the_task_system_is_told_as_made_there_not_by_the_assignor() -> None:
    done = _task(status=Status.COMPLETED, version=2)
    notifier = FakeNotifier()
    sync = BackendSync(
        Changes([Pulled(after=done, before=_task())]),
        notifier,
        lambda: NOW,
        name="struct_pim",
        system="Struct PIM",
    )
    assert sync.run_once() == 1
    (event,) = notifier.events
    assert event.kind is EventKind.COMPLETED
    assert event.origin == Origin(system="Struct PIM") and event.actor.user_id == ""


def test_a_task_taken_in_from_the_system_is_told_as_new_with_its_linked_author() -> None:
    notifier = FakeNotifier()
    pulled = Pulled(after=_task(), by="U0DAN")
    BackendSync(Changes([pulled]), notifier, lambda: NOW, system="Maxsight").run_once()
    (event,) = notifier.events
    assert event.kind is EventKind.CREATED
    assert event.origin == Origin(system="Maxsight", user_id="U0DAN")
    assert event.actor.user_id == "U0DAN"


def test_a_reassignment_in_the_system_gives_the_new_assignee_the_card_and_tells_the_old_one() -> (
    None
):
    notifier = FakeNotifier()
    moved = _task(parts=(Part(assignee=Assignee.user("U0DAN")),), version=2)
    pulled = Pulled(after=moved, before=_task(), by="U0CAT")
    BackendSync(Changes([pulled]), notifier, lambda: NOW, system="Maxsight").run_once()
    assigned, unassigned = notifier.events
    assert (assigned.kind, assigned.assignees) == (EventKind.ASSIGNED, (Assignee.user("U0DAN"),))
    assert (unassigned.kind, unassigned.assignees) == (
        EventKind.UNASSIGNED,
        (Assignee.user("U0BEN"),),
    )
    assert assigned.origin == Origin(system="Maxsight", user_id="U0CAT")
