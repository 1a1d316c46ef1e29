"""The job ledger: acknowledged work and the notifications it causes, as rows claimed with a lease.

A listener writes its job here before it acknowledges Slack; any worker process claims it. As in
``storage.reminder_ledger``, claiming is atomic: ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, a
conditional UPDATE on SQLite (one writer at a time). A claim expires, so a worker that died
mid-job leaves it to the next one, which is told (``taken_over``) so it can check what was
already done. ``key`` is unique: a replayed interaction finds its first row and adds nothing.
Payloads are opaque JSON text here; their models live with the job kinds.
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, and_, delete, func, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from storage.engine import rowcount
from storage.tables import JobRow

PENDING, CLAIMED, DONE, FAILED = "pending", "claimed", "done", "failed"


@dataclass(frozen=True)
class NewJob:
    kind: str
    key: str
    payload: str  # JSON
    payload_version: int = 1
    request_id: str | None = None
    delay: timedelta = timedelta(0)


@dataclass(frozen=True)
class ClaimedJob:
    id: int
    kind: str
    key: str
    payload: str
    payload_version: int
    attempts: int  # including this one
    request_id: str | None
    taken_over: bool  # claimed from a worker whose lease expired: it may have done part of it
    created_at: datetime


def insert_jobs(session: Session, jobs: Iterable[NewJob], now: datetime) -> int:
    """Queue ``jobs`` inside the caller's transaction; keys already there are left alone.

    Returns how many rows were new. The task store calls this to queue a change's notifications
    in the change's own transaction.
    """
    rows = [job_row(job, now) for job in jobs]
    if not rows:
        return 0
    session.flush()  # what the ORM holds goes first, as an ORM statement would have made it
    return len(jobs_insert(session.get_bind()).write(session.connection(), rows))


def job_row(job: NewJob, now: datetime) -> dict[str, Any]:
    return {
        "kind": job.kind,
        "key": job.key,
        "payload": job.payload,
        "payload_version": job.payload_version,
        "state": PENDING,
        "attempts": 0,
        "available_at": now + job.delay,
        "created_at": now,
        "request_id": job.request_id,
    }


JOB_COLUMNS = tuple(job_row(NewJob("", "", ""), datetime.min))
"""The columns a new job row sets, in ``job_row``'s order."""

_PLACEHOLDERS = {"qmark": "?", "format": "%s", "pyformat": "%s"}
"""A driver's paramstyle, as the positional placeholder it also takes (sqlite3, psycopg)."""


class DriverJobsInsert:
    """The INSERT of new job rows that leaves a key already there alone and tells the keys it
    added, as the driver's own SQL (``Connection.exec_driver_sql``): one way to write a job, for
    the ledger, a change's notices and the acks' group commit (``storage.job_intake``), which
    writes every job a web process acknowledges. One per engine: ``jobs_insert``.

    Under a burst its writer thread waits for the GIL after each call into the driver, so what
    counts is CPU and calls: compiling, binding and reading back the Core statement cost a third
    of its CPU per job. On SQLite it also reads no RETURNING rows: sqlite3 hands each back in a
    step of its own and lets go of the GIL for each. With 16 acks and 8 busy threads, the writer
    spent 1.07-1.32 ms of CPU and 4.7-6.5 ms of wall time per group of 8 before (p99 20-27 ms),
    0.57-0.82 ms and 4.1-4.5 ms after (p99 11-14 ms). The values go through the columns' own
    bind processors, so a row reads back as one the Core statement wrote."""

    def __init__(self, engine: Engine) -> None:
        dialect = engine.dialect
        table, quote = JobRow.__table__, dialect.identifier_preparer.quote
        self._processors = [table.c[name].type.bind_processor(dialect) for name in JOB_COLUMNS]
        mark = _PLACEHOLDERS[dialect.paramstyle]
        self._row = "(" + ", ".join([mark] * len(JOB_COLUMNS)) + ")"
        jobs, key, row_id = quote(JobRow.__tablename__), quote("key"), quote("id")
        self._head = f"INSERT INTO {jobs} ({', '.join(map(quote, JOB_COLUMNS))}) VALUES "
        self._returning = dialect.name != "sqlite"
        self._tail = f" ON CONFLICT ({key}) DO NOTHING" + (
            f" RETURNING {key}" if self._returning else ""
        )
        self._added_since = (
            f"SELECT {key} FROM {jobs} WHERE {row_id} > {mark} AND {row_id} <= {mark}"
        )
        self._statements: dict[int, str] = {}

    def write(self, connection: Connection, rows: list[dict[str, Any]]) -> set[str]:
        """Insert ``rows`` in the caller's transaction; the keys that were new."""
        result = connection.exec_driver_sql(self.statement(len(rows)), self.parameters(rows))
        if self._returning:
            return set(result.scalars())
        written = result.rowcount
        if written == len(rows):
            return {row["key"] for row in rows}
        if written == 0:
            return set()
        # new keys and replays in one group: the new rows are the statement's, which got the
        # last rowids in a row (SQLite gives each the largest + 1; the write lock is ours)
        last = result.lastrowid
        return set(connection.exec_driver_sql(self._added_since, (last - written, last)).scalars())

    def statement(self, rows: int) -> str:
        """The INSERT of ``rows`` rows (one string per group size, kept)."""
        text = self._statements.get(rows)
        if text is None:
            text = self._statements[rows] = self._head + ", ".join([self._row] * rows) + self._tail
        return text

    def parameters(self, rows: Iterable[dict[str, Any]]) -> tuple[Any, ...]:
        """Every row's values in column order, as the driver stores them."""
        values: list[Any] = []
        for row in rows:
            for name, process in zip(JOB_COLUMNS, self._processors, strict=True):
                value = row[name]
                values.append(value if process is None or value is None else process(value))
        return tuple(values)


_INSERTS: weakref.WeakKeyDictionary[Engine, DriverJobsInsert] = weakref.WeakKeyDictionary()


def jobs_insert(engine: Engine | Connection) -> DriverJobsInsert:
    """The engine's ``DriverJobsInsert`` (its statements are kept per group size)."""
    engine = engine if isinstance(engine, Engine) else engine.engine
    found = _INSERTS.get(engine)
    if found is None:
        found = _INSERTS[engine] = DriverJobsInsert(engine)
    return found


def job_exists(session: Session, key: str) -> bool:
    return session.scalar(select(JobRow.id).where(JobRow.key == key)) is not None


class SqlAlchemyJobLedger:
    """Claims and marks run on a plain connection, not an ORM session: half the CPU of a
    one-row UPDATE (0.25 ms against 0.52), and on SQLite a worker holds the write turn (which
    an ack may be waiting for) from its first write to its commit, so every microsecond there
    counts twice."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions
        self._engine: Engine = sessions.kw["bind"]

    def enqueue(self, job: NewJob, now: datetime) -> bool:
        """Write the job (durably, before the caller acks); False when its key was there."""
        with self._sessions.begin() as session:
            return insert_jobs(session, [job], now) == 1

    def claim(
        self, now: datetime, *, limit: int, claimer: str, lease: timedelta
    ) -> list[ClaimedJob]:
        """Take up to ``limit`` runnable jobs: expired claims first, then pending ones, oldest
        first; each query walks its own ``(state, …)`` index."""
        expired = and_(JobRow.state == CLAIMED, JobRow.claim_expires_at < now)
        pending = and_(JobRow.state == PENDING, JobRow.available_at <= now)
        with self._engine.begin() as connection:
            postgres = connection.dialect.name == "postgresql"
            was: dict[int, str] = {}
            for condition, state in ((expired, CLAIMED), (pending, PENDING)):
                if len(was) >= limit:
                    break
                order = JobRow.claim_expires_at if state == CLAIMED else JobRow.available_at
                candidates = (
                    select(JobRow.id).where(condition).order_by(order).limit(limit - len(was))
                )
                if postgres:
                    candidates = candidates.with_for_update(skip_locked=True)
                was.update((row_id, state) for row_id in connection.scalars(candidates))
            if not was:
                return []
            claimed = _claim(
                connection, JobRow.id.in_(list(was)), or_(expired, pending), claimer, now + lease
            )
            return sorted(
                (_claimed(r, taken_over=was[r.id] == CLAIMED) for r in claimed),
                key=lambda job: job.id,
            )

    def claim_key(
        self, key: str, now: datetime, *, claimer: str, lease: timedelta
    ) -> ClaimedJob | None:
        """Take one pending job by its key (a change's notifications, run at once by the worker
        that made the change); None when another worker has it already."""
        with self._engine.begin() as connection:
            rows = _claim(
                connection, JobRow.key == key, JobRow.state == PENDING, claimer, now + lease
            )
            return next((_claimed(r, taken_over=False) for r in rows), None)

    def renew(self, job_id: int, claimer: str, until: datetime) -> bool:
        """Extend a claim; False when another worker has taken the job over."""
        return self._finish(job_id, claimer, state=CLAIMED, claim_expires_at=until)

    def mark_done(self, job_id: int, claimer: str, now: datetime) -> bool:
        """False when the claim was lost meanwhile (another worker took over)."""
        return self._finish(job_id, claimer, state=DONE, finished_at=now, claim_expires_at=None)

    def retry(self, job_id: int, claimer: str, error: str, at: datetime) -> bool:
        """Give the job back, to be claimed again from ``at``."""
        return self._finish(
            job_id,
            claimer,
            state=PENDING,
            available_at=at,
            claimed_by=None,
            claim_expires_at=None,
            last_error=error[:2000],
        )

    def mark_failed(self, job_id: int, claimer: str, error: str, now: datetime) -> bool:
        return self._finish(
            job_id,
            claimer,
            state=FAILED,
            finished_at=now,
            claim_expires_at=None,
            last_error=error[:2000],
        )

    def _finish(self, job_id: int, claimer: str, **values: object) -> bool:
        with self._engine.begin() as connection:
            result = connection.execute(
                update(JobRow)
                .where(JobRow.id == job_id, JobRow.state == CLAIMED, JobRow.claimed_by == claimer)
                .values(**values)
            )
            return rowcount(result) > 0

    def prune(self, before: datetime) -> int:
        """Forget finished jobs older than ``before``; a replay comes within minutes, not days."""
        with self._sessions.begin() as session:
            result = session.execute(
                delete(JobRow).where(JobRow.state.in_((DONE, FAILED)), JobRow.finished_at < before)
            )
            return rowcount(result)

    def unfinished(self) -> int:
        """Jobs pending or claimed (due later ones too): 0 once all queued work is done."""
        with self._sessions() as session:
            return int(
                session.scalar(
                    select(func.count())
                    .select_from(JobRow)
                    .where(JobRow.state.in_((PENDING, CLAIMED)))
                )
                or 0
            )

    def wait_finished(self, timeout: float) -> int:
        """Until no job is pending or claimed, or ``timeout`` seconds have passed; how many
        are left (0: all done). For tests and benchmarks that wait for the after-ack work."""
        deadline = time.monotonic() + timeout
        while (left := self.unfinished()) and time.monotonic() < deadline:
            time.sleep(0.05)
        return left

    def states(self) -> dict[str, str]:
        """Every job's state by key; for tests, benchmarks and diagnostics."""
        with self._sessions() as session:
            return {key: state for key, state in session.execute(select(JobRow.key, JobRow.state))}


def _claim(
    connection: Connection, which: Any, condition: Any, claimer: str, until: datetime
) -> list[Any]:
    return connection.execute(
        update(JobRow)
        .where(which, condition)
        .values(
            state=CLAIMED,
            claimed_by=claimer,
            claim_expires_at=until,
            attempts=JobRow.attempts + 1,
        )
        .returning(
            JobRow.id,
            JobRow.kind,
            JobRow.key,
            JobRow.payload,
            JobRow.payload_version,
            JobRow.attempts,
            JobRow.request_id,
            JobRow.created_at,
        )
    ).all()  # type: ignore[return-value]


def _claimed(row: Any, *, taken_over: bool) -> ClaimedJob:
    return ClaimedJob(
        id=row.id,
        kind=row.kind,
        key=row.key,
        payload=row.payload,
        payload_version=row.payload_version,
        attempts=row.attempts,
        request_id=row.request_id,
        taken_over=taken_over,
        created_at=row.created_at,
    )
