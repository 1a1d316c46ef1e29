"""Engines and sessions, built on demand (never at import time)."""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import re
import threading
import time
import weakref
from typing import Any, cast

from sqlalchemy import Connection, CursorResult, Engine, Result, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import StaticPool

log = logging.getLogger(__name__)

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

    if not memory:
        take_write_turns(engine, WriteTurns(f"{database}.write.lock"))
    return engine


WRITE = re.compile(r"\s*(INSERT|UPDATE|DELETE|REPLACE|CREATE|DROP|ALTER)\b", re.IGNORECASE)
TURN_POLL = 0.0005
"""How often a writer in another process asks again for the write turn."""
TURN_PATIENCE = 5.0
"""Past this, a writer goes on without its turn (SQLite's own lock still decides): a turn that
can't be had never hangs a transaction."""


class WriteTurns:
    """One writing transaction at a time on a SQLite file, handed over in turn.

    SQLite has one write lock per database; a writer that finds it taken waits in SQLite's busy
    handler, which sleeps 1, 2, 5 … up to 100 ms between tries, so under a burst the lock sat
    idle while acks slept (p99 over a second at 50 clients). Here this process's threads queue on
    a lock that hands over at once, and processes (``taskbot run``'s worker) take turns on a file
    lock asked for every ``TURN_POLL``. Purely a matter of speed: SQLite's lock stays the rule.

    A process whose writes can wait (a worker, a scheduler: ``yielding``) lets the others go
    first (the web process's: the acks' group commit, and ``taskbot run``'s scheduler): such a
    writer that finds the turn taken says so on a second file (a shared lock on
    ``<db>.write.lock.want``), and a yielding writer takes no turn while anyone says so (for up
    to ``TURN_PATIENCE``, after which it goes on as any writer). Without it, the worker's threads
    handed the turn to each other at once while the ack's writer, asking every ``TURN_POLL``,
    waited behind several of their transactions in a row."""

    def __init__(self, path: str, *, yielding: bool = False) -> None:
        self._path = path
        self.yielding = yielding
        self._threads = threading.Lock()
        self._files: tuple[int, int] | None = None  # the turn's lock file, and the want file

    @property
    def taken(self) -> bool:
        """Whether some transaction of this process holds the turn now."""
        return self._threads.locked()

    def take(self) -> bool:
        """Wait for the turn (up to ``TURN_PATIENCE``); False when going on without it."""
        if not self._threads.acquire(timeout=TURN_PATIENCE):
            return False
        got = False
        try:
            got = self._wait_for_file_turn()
        except OSError:  # no lock file here (read-only folder): SQLite's lock alone
            pass
        finally:
            if not got:
                self._threads.release()
        return got

    def give(self) -> None:
        if self._files is not None:
            fcntl.flock(self._files[0], fcntl.LOCK_UN)
        self._threads.release()

    def _open_files(self) -> tuple[int, int]:
        if self._files is None:
            lock = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                want = os.open(f"{self._path}.want", os.O_RDWR | os.O_CREAT, 0o600)
            except OSError:
                os.close(lock)
                raise
            self._files = (lock, want)
        return self._files

    def _wait_for_file_turn(self) -> bool:
        lock, want = self._open_files()
        deadline = time.monotonic() + TURN_PATIENCE
        poll = TURN_POLL * (1 + max(os.nice(0), 0))  # a niced process yields, as for CPU
        wanting = False
        try:
            while True:
                if (not self.yielding or not _wanted(want)) and _try_flock(lock):
                    return True
                if time.monotonic() > deadline:
                    return False
                if not self.yielding and not wanting:  # say so (a yielder may test right now)
                    wanting = _try_flock(want, fcntl.LOCK_SH)
                time.sleep(poll)
        finally:
            if wanting:  # (an unlock that fails leaves nothing else to do: not the turn's)
                with contextlib.suppress(OSError):
                    fcntl.flock(want, fcntl.LOCK_UN)


def _wanted(want: int) -> bool:
    """Whether a writer that doesn't yield waits for the turn (holds a shared lock on the
    want file)."""
    if not _try_flock(want):
        return True
    fcntl.flock(want, fcntl.LOCK_UN)
    return False


def _try_flock(fd: int, kind: int = fcntl.LOCK_EX) -> bool:
    try:
        fcntl.flock(fd, kind | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


_TURNS: weakref.WeakKeyDictionary[Engine, WriteTurns] = weakref.WeakKeyDictionary()


def write_turns(engine: Engine) -> WriteTurns | None:
    """The write turns of a SQLite file engine (None for PostgreSQL or memory)."""
    return _TURNS.get(engine)


CHECKPOINT_CLOSE_SECONDS = 5.0
"""How long a stopping intake waits for a checkpoint under way (it is safe to cut)."""


class WalCheckpoints:
    """Checkpoints of a SQLite file's WAL on a thread of their own, for a connection that must
    not run them inside its commits: the acks' group commit (``storage.job_intake``) turns its
    automatic ones off and calls ``committed`` after each transaction.

    SQLite checkpoints inside the commit that takes the WAL past 1,000 pages: it copies them into
    the database file and syncs it, 5-19 ms on an idle machine, and every ack in that group and
    queued behind it waited for it (27 of 3,000 groups of 8 over 5 ms; none with automatic
    checkpoints off). A PASSIVE checkpoint waits for no reader or writer (nor takes the write
    turn), so the group commit goes on meanwhile; done every ``every`` transactions, it keeps
    the WAL short enough that other connections' automatic checkpoints seldom come due."""

    def __init__(self, engine: Engine, *, every: int) -> None:
        self._engine, self._every = engine, every
        self._count = 0  # counted by the one thread that commits
        self._due = threading.Event()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self.done = 0
        """Checkpoints run (for tests and curiosity)."""

    def committed(self) -> None:
        """One more transaction; every ``every``-th wakes the checkpoint thread."""
        self._count += 1
        if self._count % self._every:
            return
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="wal-checkpoint", daemon=True)
            self._thread.start()
        self._due.set()

    def _run(self) -> None:
        while True:
            self._due.wait()
            self._due.clear()
            if self._stopping:
                return
            try:
                with self._engine.connect() as connection:
                    connection.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")
                self.done += 1
            except Exception as exc:  # the next one copies these pages too
                log.warning("WAL checkpoint failed: %s", type(exc).__name__)

    def close(self) -> None:
        self._stopping = True
        self._due.set()
        if self._thread is not None:
            self._thread.join(CHECKPOINT_CLOSE_SECONDS)


def wal_checkpoints(engine: Engine, *, every: int) -> WalCheckpoints | None:
    """Checkpoints apart from commits, for a SQLite file engine (None for PostgreSQL or memory:
    no WAL)."""
    return WalCheckpoints(engine, every=every) if write_turns(engine) is not None else None


def without_automatic_checkpoints(connection: Connection) -> None:
    """This SQLite connection's commits never checkpoint (``WalCheckpoints`` does it)."""
    with connection.begin():
        connection.exec_driver_sql("PRAGMA wal_autocheckpoint=0")


def let_acks_write_first(engine: Engine) -> None:
    """This process's writes can wait (a worker's, a scheduler's): on a SQLite file, an ack's
    writer in another process goes first (``WriteTurns``). Nothing to do on PostgreSQL."""
    turns = write_turns(engine)
    if turns is not None:
        turns.yielding = True


def take_write_turns(engine: Engine, turns: WriteTurns) -> None:
    """A connection takes the turn at its transaction's first write and gives it back once the
    transaction has committed or rolled back."""
    holding: set[int] = set()  # the DBAPI connections holding the turn
    dialect = engine.dialect
    _TURNS[engine] = turns

    @event.listens_for(engine, "before_cursor_execute")
    def _first_write(conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        raw = id(conn.connection.dbapi_connection)
        if raw not in holding and WRITE.match(statement) and turns.take():
            holding.add(raw)

    def ending(original: Any) -> Any:
        def end(dbapi_connection: Any) -> None:
            raw = id(getattr(dbapi_connection, "dbapi_connection", dbapi_connection))  # or a pool's
            try:
                original(dbapi_connection)
            finally:
                if raw in holding:
                    holding.discard(raw)
                    turns.give()

        return end

    dialect.do_commit = ending(dialect.do_commit)  # type: ignore[method-assign]
    dialect.do_rollback = ending(dialect.do_rollback)  # type: ignore[method-assign]

    @event.listens_for(engine, "close")
    @event.listens_for(engine, "invalidate")
    def _gone(dbapi_connection: Any, *_args: Any) -> None:  # closed mid-transaction: give it
        raw = id(dbapi_connection)
        if raw in holding:
            holding.discard(raw)
            turns.give()


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
