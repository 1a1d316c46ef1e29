"""The backend-sync pass records its outcome, so ``taskbot status`` can tell it from the store."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import pytest

from bot.domain.errors import BackendUnavailable
from bot.domain.models import Task
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

    def pull(self, now: datetime) -> Sequence[tuple[Task, Task]]:
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
