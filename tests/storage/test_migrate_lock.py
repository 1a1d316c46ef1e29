"""Migrations at start hold a database-wide lock: on SQLite, a file lock next to the database."""

from __future__ import annotations

import threading
from pathlib import Path

from storage.engine import make_engine
from storage.migrate import current_revision, head_revision, upgrade_engine


def test_concurrent_upgrades_of_one_new_sqlite_file_all_succeed(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'new.db'}"
    engines = [make_engine(url) for _ in range(4)]
    barrier = threading.Barrier(len(engines))
    errors: list[BaseException] = []

    def upgrade(index: int) -> None:
        barrier.wait()
        try:
            upgrade_engine(engines[index])
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=upgrade, args=(i,)) for i in range(len(engines))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        assert errors == []
        with engines[0].connect() as connection:
            assert current_revision(connection) == head_revision()
    finally:
        for engine in engines:
            engine.dispose()
    assert (tmp_path / "new.db.migrate.lock").exists()


def test_the_revisions_read_without_alembic_are_alembics() -> None:
    """A running taskbot reads its head from the migration files (alembic only migrates)."""
    from alembic.script import ScriptDirectory

    from storage.migrate import alembic_config, known_revisions

    script = ScriptDirectory.from_config(alembic_config())
    assert head_revision() == script.get_current_head()
    assert known_revisions() == {s.revision for s in script.walk_revisions()}
