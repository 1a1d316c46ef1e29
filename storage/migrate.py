"""Apply migrations programmatically (``taskbot db upgrade`` and every start).

Any number of processes may start at once on one database: the upgrade runs under a database-wide
lock (a transaction-level advisory lock on PostgreSQL, a file lock next to a SQLite file), so one
migrates and the others wait, then find the schema current. With ``MIGRATE_ON_START=false`` a
process only waits, bounded, for the schema this code expects (``wait_for_schema``).
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import logging
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Engine, inspect, text

from storage.engine import make_engine

if TYPE_CHECKING:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

log = logging.getLogger("taskbot.migrate")

MIGRATIONS = Path(__file__).parent / "migrations"
# pg_advisory_xact_lock key: "taskbot migrate" in a bigint, shared by every taskbot process.
MIGRATION_LOCK_KEY = 0x7461736B626F74
SCHEMA_POLL_SECONDS = 0.1


class SchemaError(Exception):
    """The database's schema is not the one this taskbot needs; the message is one line."""


def alembic_config(url: str | None = None) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if url is not None:
        config.attributes["url"] = url
    return config


_REVISION = re.compile(r"^(down_)?revision(?:\s*:[^=\n]*)?\s*=\s*(?:None|\"(\w+)\")\s*$", re.M)


@functools.cache
def _chain() -> dict[str, str | None] | None:
    """Each revision's ``down_revision``, read from the migration files' plain
    ``revision = "…"`` and ``down_revision = "…"`` lines, without alembic: alembic and its script
    loading cost a running process 9 MB, so they are imported only to migrate. None when a file
    is not one plain step of one line of revisions (then alembic answers)."""
    chain: dict[str, str | None] = {}
    for path in sorted((MIGRATIONS / "versions").glob("*.py")):
        found = {down: name for down, name in _REVISION.findall(path.read_text())}
        if set(found) != {"", "down_"} or not found[""]:
            return None
        chain[found[""]] = found["down_"] or None
    return chain if len(set(chain) - set(chain.values())) == 1 else None


def _script() -> ScriptDirectory:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config())


def known_revisions() -> frozenset[str]:
    """Every revision this code has."""
    chain = _chain()
    if chain is None:
        return frozenset(s.revision for s in _script().walk_revisions())
    return frozenset(chain)


def head_revision() -> str:
    """The newest revision: the one no other follows."""
    chain = _chain()
    if chain is None:
        head = _script().get_current_head()
        assert head is not None, "no migrations"
        return head
    (head,) = set(chain) - set(chain.values())
    return head


def upgrade(url: str) -> tuple[str | None, str]:
    engine = make_engine(url)
    try:
        return upgrade_engine(engine)
    finally:
        engine.dispose()


def upgrade_engine(engine: Engine) -> tuple[str | None, str]:
    """Upgrade to head inside one transaction (PostgreSQL runs DDL transactionally), holding the
    migration lock, so concurrent starts never race on CREATE TABLE. Returns (revision before,
    head) and logs one line when it migrated, nothing when the schema was current (alembic's own
    per-step lines are at INFO on ``alembic.runtime.migration``, quiet unless asked for)."""
    with _file_lock(engine), engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            # Held by this transaction on the migrating connection; released at commit/rollback.
            connection.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY}
            )
        before, head = current_revision(connection), head_revision()
        if before != head:
            from alembic import command

            config = alembic_config()
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
        if connection.dialect.name == "sqlite":
            refresh_statistics(connection)
    if before != head:
        log.info("database migrated from %s to %s", before or "empty", head)
    return before, head


SQLITE_ANALYSIS_LIMIT = 1000
"""Rows ANALYZE samples per index: statistics in milliseconds even at a million tasks."""


def refresh_statistics(connection: Connection) -> None:
    """SQLite never gathers statistics by itself; without them its planner guesses (and once
    walked every open task of a workspace for one person's list). A sampled ANALYZE at every
    start keeps them fresh; PostgreSQL's autovacuum does this on its own."""
    connection.exec_driver_sql(f"PRAGMA analysis_limit={SQLITE_ANALYSIS_LIMIT}")
    connection.exec_driver_sql("ANALYZE")


def prepare_schema(engine: Engine, *, migrate: bool, wait_seconds: float = 30.0) -> None:
    """What a starting process does: migrate under the lock, or only wait for the schema."""
    if migrate:
        upgrade_engine(engine)
    else:
        wait_for_schema(engine, timeout=wait_seconds)


def current_revision(connection: Connection) -> str | None:
    """The database's alembic revision; None when it has no taskbot schema yet."""
    if not inspect(connection).has_table("alembic_version"):
        return None
    return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()


def wait_for_schema(engine: Engine, *, timeout: float) -> None:
    """Return once the database is at this code's head revision (another process or the deploy
    step migrates it); raise SchemaError at once for a newer, unknown revision, or after
    ``timeout`` seconds for a missing or older one."""
    head = head_revision()
    known = known_revisions()
    deadline = time.monotonic() + timeout
    while True:
        with engine.connect() as connection:
            revision = current_revision(connection)
        if revision == head:
            return
        if revision is not None and revision not in known:
            raise SchemaError(
                f"the database schema is at revision {revision}, newer than this taskbot "
                f"knows (head {head}): upgrade taskbot"
            )
        if time.monotonic() >= deadline:
            found = "has no taskbot schema" if revision is None else f"is at revision {revision}"
            raise SchemaError(
                f"the database {found}, not {head}, after waiting {timeout:g} s with "
                "MIGRATE_ON_START=false: run `taskbot db upgrade`"
            )
        time.sleep(SCHEMA_POLL_SECONDS)


@contextlib.contextmanager
def _file_lock(engine: Engine) -> Iterator[None]:
    """An exclusive lock on ``<database>.migrate.lock`` for a SQLite file; nothing otherwise
    (PostgreSQL locks inside the database, and an in-memory SQLite has one process)."""
    database = engine.url.database if engine.dialect.name == "sqlite" else None
    if not database or database == ":memory:" or database.startswith("file:"):
        yield
        return
    with open(f"{database}.migrate.lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
