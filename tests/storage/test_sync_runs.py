"""The last sync pass per backend, overwritten by each pass (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session, sessionmaker

from storage.sync_runs import SqlAlchemySyncRuns

NOW = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)


def test_each_backend_keeps_its_last_pass_and_error_as_one_bounded_line(
    sessions: sessionmaker[Session],
) -> None:
    runs = SqlAlchemySyncRuns(sessions)
    assert runs.last() == []
    runs.record("paymo", NOW, 4, None)
    runs.record("struct_pim", NOW, None, "boom\nERROR forged line " + "x" * 400)
    runs.record("paymo", NOW + timedelta(minutes=1), None, "BackendUnavailable: down")
    last = {run.backend: run for run in runs.last()}
    assert list(last) == ["paymo", "struct_pim"]
    assert last["paymo"].at == NOW + timedelta(minutes=1)
    assert (last["paymo"].changed, last["paymo"].error) == (None, "BackendUnavailable: down")
    error = last["struct_pim"].error
    assert error is not None and "\n" not in error and len(error) == 300
