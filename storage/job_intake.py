"""Acks' jobs written in groups: one transaction for every job that arrived while the last one
committed (group commit).

Each ack waits until its own job is committed, so persist-before-ack holds as before. But under
a burst, one request per transaction made the database's write lock the queue: on SQLite each
writer took the lock, then waited for the GIL while holding it, and the next fifty waited
behind it (write-turn waits of 30 ms at p50 with 50 clients). Here one thread writes, and a
request costs a place in a queue and a lock; a transaction carries all jobs waiting, up to
``MOST``. A job whose row can't be written fails alone: a failed group is written again row by
row, so the others are still saved.

The writer keeps one connection and writes with the driver's own SQL (``jobs_insert``):
this is the one write on the path of every ack, and the web process's CPU per request is what
its acks queue for under a burst.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError

from storage.engine import wal_checkpoints, without_automatic_checkpoints
from storage.job_ledger import NewJob, job_row, jobs_insert

log = logging.getLogger(__name__)

MOST = 256
"""Jobs per transaction at most: a burst's worth, in one statement of a few hundred kB."""


CHECKPOINT_EVERY = 64
"""Transactions between two WAL checkpoints on a SQLite file (``storage.engine.WalCheckpoints``):
a few hundred pages, well under SQLite's automatic 1,000."""

CLOSE_SECONDS = 5.0
"""How long a stopping process waits for the jobs still queued (within its 10 s to stop)."""

ROW_ERRORS = (IntegrityError, DataError)
"""Errors of one row (a constraint, a value too long), found by writing the group row by row;
any other error is the database's and fails the whole group at once, so an outage answers every
waiting ack after one timeout, not one timeout each."""


class IntakeClosed(RuntimeError):
    pass


class _Waiting:
    """One ack's job, and the latch its request thread waits on: a bare lock, taken at birth
    and released by the writer (an ``Event`` is a Python-level condition: its set and wait
    cost the acks 6% of the web process's time under a burst)."""

    __slots__ = ("job", "now", "added", "error", "finished", "_latch")

    def __init__(self, job: NewJob, now: datetime) -> None:
        self.job, self.now = job, now
        self.added = False
        self.error: Exception | None = None
        self.finished = False
        self._latch = threading.Lock()
        self._latch.acquire()

    def wait(self) -> None:
        self._latch.acquire()

    def finish(self, error: Exception | None = None) -> None:
        """Once only: the writer, or ``close`` for what the writer never took."""
        if not self.finished:
            self.finished, self.error = True, error
            self._latch.release()


def _fail(group: list[_Waiting], error: Exception) -> None:
    for waiting in group:
        waiting.finish(error)


_STOP = object()
"""Put on the queue by ``close``: the writer stops once it has written what came before."""


class GroupCommit:
    """What listeners write their jobs to (``bot.slack.background.JobQueue``)."""

    def __init__(
        self,
        engine: Engine,
        *,
        most: int = MOST,
        after_commit: Callable[[], None] = lambda: None,
        checkpoint_every: int = CHECKPOINT_EVERY,
    ) -> None:
        self._engine, self._most = engine, most
        self.after_commit = after_commit
        """Called once per transaction that added a job: a worker's wake-up (one nudge for a
        group, where one per job cost the acks 5% of their CPU in pipe writes)."""
        self._insert = jobs_insert(engine)
        self._connection: Connection | None = None  # the writer's, kept between groups
        self._checkpoints = wal_checkpoints(engine, every=checkpoint_every)  # SQLite file
        self._queue: queue.SimpleQueue[_Waiting | object] = queue.SimpleQueue()  # C: cheap
        self._opening = threading.Lock()  # an add and a close never cross
        self._writer: threading.Thread | None = None
        self._closed = False

    @property
    def checkpoints_done(self) -> int:
        """WAL checkpoints run apart from the commits (SQLite file; 0 otherwise)."""
        return self._checkpoints.done if self._checkpoints is not None else 0

    @property
    def waiting(self) -> int:
        """Jobs queued for the next transaction (not those being written now); once closing,
        one more (the writer's stop)."""
        return self._queue.qsize()

    def add(
        self,
        kind: str,
        key: str,
        payload: str,
        *,
        version: int = 1,
        request_id: str | None = None,
    ) -> bool:
        """Queue the job for the next transaction and wait until it has committed: True if
        new, False if its key was there; raises what writing its row raised."""
        job = NewJob(kind, key, payload, payload_version=version, request_id=request_id)
        waiting = _Waiting(job, datetime.now(UTC))
        with self._opening:
            if self._closed:
                raise IntakeClosed("the process is stopping; the job was not written")
            if self._writer is None or not self._writer.is_alive():  # a process that never
                # acks has no writer; one that died (it re-raised) is replaced
                self._writer = threading.Thread(target=self._write_forever, name="job-intake")
                self._writer.daemon = True  # ``close`` drains it; a process may end without it
                self._writer.start()
            self._queue.put(waiting)
        waiting.wait()
        if waiting.error is not None:
            raise waiting.error
        return waiting.added

    def close(self, timeout: float = CLOSE_SECONDS) -> None:
        """Write what is queued (for up to ``timeout``), then stop the writer; what is still
        queued then is refused, as is a later ``add``."""
        with self._opening:
            self._closed = True
            writer = self._writer
            self._queue.put(_STOP)
        if writer is not None:
            writer.join(timeout)
        if self._checkpoints is not None:
            self._checkpoints.close()
        left = self._take_queued()
        if writer is not None and writer.is_alive():  # still writing: it stops after that
            self._queue.put(_STOP)
        _fail(left, IntakeClosed("the process stopped before the job was written"))

    def _take_queued(self) -> list[_Waiting]:
        """Every job still queued, taken off the queue (a stop is dropped)."""
        taken: list[_Waiting] = []
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return taken
            if isinstance(item, _Waiting):
                taken.append(item)

    def _write_forever(self) -> None:
        group: list[_Waiting] = []  # what the writer has taken: failed if it dies, whatever
        try:
            while self._next_group(group):
                self._write(group)
                group.clear()
        except BaseException as exc:  # nobody may wait for ever on a writer that died:
            with self._opening:  # its jobs and those queued fail; the next add starts another
                self._writer = None
                left = [*group, *self._take_queued()]
            _fail(left, exc if isinstance(exc, Exception) else IntakeClosed(str(exc)))
            raise
        finally:
            self._disconnect()

    def _disconnect(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            try:
                connection.close()
            except Exception:  # the database is gone already: nothing left to release
                log.warning("the job intake's connection did not close cleanly")

    def _next_group(self, group: list[_Waiting]) -> bool:
        """Take every job queued now (at least one, waited for), up to ``MOST``, into ``group``;
        False at the stop (which comes after every job queued before it, so these were
        written)."""
        item = self._queue.get()
        while isinstance(item, _Waiting):
            group.append(item)
            if len(group) == self._most:
                return True
            try:
                item = self._queue.get_nowait()
            except queue.Empty:  # ``close`` may take what is left meanwhile
                return True
        if group:  # the stop came after these: write them, then stop at the next call
            self._queue.put(_STOP)
        return bool(group)

    def _write(self, group: list[_Waiting]) -> None:
        try:
            added = self._commit(group)
        except ROW_ERRORS as exc:
            if len(group) > 1:  # find the row at fault; the others are saved one by one
                for waiting in group:
                    self._write([waiting])
                return
            group[0].finish(exc)  # raised in the request's thread, which logs it
            return
        except Exception as exc:  # the database itself (down, locked): no row would do better
            _fail(group, exc)
            return
        try:
            if added:  # before the acks: a few microseconds, and the worker is on its way
                self._nudge()
        finally:  # written, whatever the nudge did
            for waiting in group:
                waiting.finish()

    def _nudge(self) -> None:
        try:
            self.after_commit()
        except Exception:  # the jobs are saved; a worker's poll finds them anyway
            log.exception("could not wake a worker")

    def _commit(self, group: list[_Waiting]) -> bool:
        """Whether any job was new."""
        first: dict[str, _Waiting] = {}
        for waiting in group:  # a replay in the same group is not new either
            first.setdefault(waiting.job.key, waiting)
        # in key order: two processes' overlapping groups lock their keys in the same order
        rows = [job_row(first[key].job, first[key].now) for key in sorted(first)]
        try:
            new = self._insert_rows(rows)
        except DBAPIError as exc:
            if not exc.connection_invalidated:
                raise
            # the kept connection had died (a database restart, an idle cut): the rows were
            # not written, or are there now and come back as not new; once more, on a new one
            new = self._insert_rows(rows)
        for key in new:
            first[key].added = True
        return bool(new)

    def _insert_rows(self, rows: list[dict[str, Any]]) -> set[str]:
        if self._connection is None:
            self._connection = self._engine.connect()
            if self._checkpoints is not None:
                without_automatic_checkpoints(self._connection)
        with self._connection.begin():
            new = self._insert.write(self._connection, rows)
        if self._checkpoints is not None:
            self._checkpoints.committed()
        return new
