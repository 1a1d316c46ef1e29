"""Engines and sessions, built on demand (never at import time)."""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import CursorResult, Engine, Result, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import StaticPool

SQLITE_BUSY_MS = 10_000
CONNECT_TIMEOUT_SECONDS = 5
"""libpq's ``connect_timeout``: an unreachable PostgreSQL fails a start (or a request) in
seconds, not after the operating system's TCP retries (minutes)."""


def normalise_url(url: str) -> str:
    """``postgres://`` and ``postgresql://`` use psycopg 3, the driver taskbot ships."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def is_sqlite(url: str) -> bool:
    return make_url(normalise_url(url)).get_backend_name() == "sqlite"


def make_engine(url: str, **options: Any) -> Engine:
    """SQLite gets WAL, foreign keys and a busy timeout; PostgreSQL gets pre-ping and no JIT
    (its compile time, ~10 ms, dwarfed the short indexed queries taskbot runs). Both keep the
    statement's parameters (job payloads, user text) out of error messages, hence out of logs."""
    url = normalise_url(url)
    options.setdefault("hide_parameters", True)  # a database error must not log what was stored
    if not is_sqlite(url):
        return create_engine(
            url,
            pool_pre_ping=True,
            connect_args={"options": "-c jit=off", "connect_timeout": CONNECT_TIMEOUT_SECONDS},
            **options,
        )
    database = make_url(url).database
    memory = database in (None, "", ":memory:")
    engine = create_engine(
        url,
        connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_MS / 1000},
        poolclass=StaticPool if memory else None,
        **options,
    )

    @event.listens_for(engine, "connect")
    def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        if not memory:
            cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_MS}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA cache_size=-32768")  # 32 MiB: the reminder index stays in memory
        cursor.close()

    return engine


class DatabaseUnreachable(Exception):
    """The database refuses or does not answer a connection; the message is one line."""


def check_reachable(engine: Engine) -> None:
    """Open and close one connection (bounded by ``CONNECT_TIMEOUT_SECONDS`` on PostgreSQL)."""
    try:
        with engine.connect():
            pass
    except Exception as exc:  # the driver's errors, whichever driver
        cause = getattr(exc, "orig", None) or exc
        reason = (str(cause).strip().splitlines() or [type(cause).__name__])[0]
        where = engine.url.render_as_string(hide_password=True)
        raise DatabaseUnreachable(f"can't reach the database {where}: {reason}") from exc


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def rowcount(result: Result[Any]) -> int:
    """Rows an UPDATE or DELETE touched (0 or more on SQLite and PostgreSQL alike)."""
    return int(cast(CursorResult[Any], result).rowcount)
