"""The worker: claims acknowledged jobs from the ledger and runs them, any number per database.

Jobs are rows (``storage.job_ledger``), so a worker holds nothing another one needs: it claims a
batch with a lease, renews the leases of what it is still running, and marks each job done,
retried later (bounded, with backoff) or failed. A worker that dies leaves its claims to expire
and be taken over. It polls on a short interval; ``wake`` skips the wait when a listener in the
same process has just queued something, and so does a job that finishes (a thread is free).
Imports the domain only.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Protocol

from bot.metrics import JOBS_CLAIMED, JOBS_FAILED, JOBS_RETRIED

log = logging.getLogger(__name__)


class ClaimedWork(Protocol):
    @property
    def id(self) -> int: ...
    @property
    def kind(self) -> str: ...
    @property
    def key(self) -> str: ...
    @property
    def payload(self) -> str: ...
    @property
    def payload_version(self) -> int: ...
    @property
    def attempts(self) -> int: ...
    @property
    def request_id(self) -> str | None: ...
    @property
    def taken_over(self) -> bool: ...
    @property
    def created_at(self) -> datetime: ...


class WorkLedger(Protocol):
    def claim(
        self, now: datetime, *, limit: int, claimer: str, lease: timedelta
    ) -> Sequence[ClaimedWork]: ...

    def claim_key(
        self, key: str, now: datetime, *, claimer: str, lease: timedelta
    ) -> ClaimedWork | None: ...

    def renew(self, job_id: int, claimer: str, until: datetime) -> bool: ...

    def mark_done(self, job_id: int, claimer: str, now: datetime) -> bool: ...

    def retry(self, job_id: int, claimer: str, error: str, at: datetime) -> bool: ...

    def mark_failed(self, job_id: int, claimer: str, error: str, now: datetime) -> bool: ...


Handler = Callable[[ClaimedWork], None]
"""Runs one job; raising means "try again later" (up to the worker's ``max_attempts``)."""
GiveUp = Callable[[ClaimedWork, str], None]
"""Told once when a job has failed for good, to tell the person it was for."""


def claimer_name() -> str:
    """Who holds a claim: host, process and a random part (a pid can come back)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def utc_now() -> datetime:
    return datetime.now(UTC)


class JobWorker:
    def __init__(
        self,
        ledger: WorkLedger,
        handle: Handler,
        *,
        give_up: GiveUp = lambda job, error: None,
        threads: int = 8,
        poll: float = 0.25,
        lease: timedelta = timedelta(seconds=60),
        max_attempts: int = 5,
        backoff: Callable[[int], float] = lambda attempts: min(2.0**attempts, 60.0),
        clock: Callable[[], datetime] = utc_now,
        on_idle: Callable[[], None] = lambda: None,
    ) -> None:
        """``on_idle`` runs once each time the worker runs out of work (no job running, none
        to claim): the composition root gives freed memory back to the system there."""
        self._ledger = ledger
        self._handle = handle
        self._give_up = give_up
        self._threads = threads
        self._poll = poll
        self._lease = lease
        self._max_attempts = max_attempts
        self._backoff = backoff
        self._clock = clock
        self._on_idle = on_idle
        self.claimer = claimer_name()
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="taskbot-job")
        self._running: set[int] = set()  # on the pool's threads: what ``free`` counts
        self._inline: set[int] = set()  # run_now's, on their callers' threads: renewed only
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._loop: threading.Thread | None = None

    def start(self) -> None:
        """Poll in a background thread; the log line "worker ready" says it is claiming."""
        self._loop = threading.Thread(target=self._run, name="taskbot-worker", daemon=True)
        self._loop.start()
        log.info("worker ready (claimer %s, %d threads)", self.claimer, self._threads)

    def wake(self) -> None:
        self._wake.set()

    def stop(self, timeout: float = 8.0) -> None:
        """Stop claiming; let running jobs finish for up to ``timeout`` seconds. What is still
        running then stays claimed and is taken over when its lease expires."""
        self._stopping.set()
        self._wake.set()
        if self._loop is not None:
            self._loop.join(timeout)
        with self._idle:
            self._idle.wait_for(lambda: not self._running, timeout)
            unfinished = len(self._running)
        self._pool.shutdown(wait=False, cancel_futures=True)
        if unfinished:
            log.error("stopping with %d job(s) running; another worker takes them over", unfinished)

    def _run(self) -> None:
        renewed = self._clock()
        busy = False
        while not self._stopping.is_set():
            finished = self._all_finished()  # none running, and (below) none to claim: idle
            try:
                claimed = self.run_once()
            except Exception:  # the database is away: keep trying, the jobs are safe there
                log.exception("worker could not claim jobs")
                claimed = 0
            if self._clock() - renewed > self._lease / 3:
                try:
                    self._renew()
                    renewed = self._clock()
                except Exception:  # tried again next turn; a lease lost is taken over
                    log.exception("worker could not renew its leases")
            if claimed:
                busy = True
            elif busy and finished:
                busy = False
                self._idle_now()
            if not claimed:
                self._wake.wait(self._poll)
                self._wake.clear()

    def _all_finished(self) -> bool:
        with self._lock:
            return not self._running

    def _idle_now(self) -> None:
        try:
            self._on_idle()
        except Exception:  # a housekeeping step: never stops the worker
            log.exception("worker's idle step failed")

    def run_once(self) -> int:
        """Claim as many jobs as there are free threads and start them; how many were claimed."""
        with self._lock:
            free = self._threads - len(self._running)
        if free <= 0:
            return 0
        jobs = self._ledger.claim(
            self._clock(), limit=free, claimer=self.claimer, lease=self._lease
        )
        for job in jobs:
            JOBS_CLAIMED.labels(job.kind).inc()
            with self._lock:
                self._running.add(job.id)
            self._pool.submit(self._execute, job, self._running)
        return len(jobs)

    def run_now(self, key: str) -> None:
        """Run the pending job ``key`` in this thread (a change's notifications, right after
        the change, so people hear of it before the actor's reply); if another worker has it,
        or this one dies first, it stays a row like any other."""
        job = self._ledger.claim_key(key, self._clock(), claimer=self.claimer, lease=self._lease)
        if job is None:
            return
        JOBS_CLAIMED.labels(job.kind).inc()
        with self._lock:
            self._inline.add(job.id)
        self._execute(job, self._inline)

    def _renew(self) -> None:
        with self._lock:
            running = [*self._running, *self._inline]
        until = self._clock() + self._lease
        for job_id in running:
            self._ledger.renew(job_id, self.claimer, until)

    def _execute(self, job: ClaimedWork, running: set[int]) -> None:
        """Run ``job``, then take it out of ``running`` (the pool's set, or run_now's)."""
        try:
            self._handle(job)
        except Exception as exc:
            self._failed(job, f"{type(exc).__name__}: {exc}")
        else:
            if not self._ledger.mark_done(job.id, self.claimer, self._clock()):
                log.warning("job %s (%s) finished after its lease was taken over", job.id, job.kind)
        finally:
            with self._idle:
                running.discard(job.id)
                self._idle.notify_all()
            if running is self._running:  # a thread is free: claim now, not at the next poll
                self._wake.set()

    def _failed(self, job: ClaimedWork, error: str) -> None:
        now = self._clock()
        if job.attempts >= self._max_attempts:
            log.error(
                "job %s (%s) failed for good after %d attempts", job.id, job.kind, job.attempts
            )
            if self._ledger.mark_failed(job.id, self.claimer, error, now):
                JOBS_FAILED.labels(job.kind).inc()
                try:
                    self._give_up(job, error)
                except Exception:  # nobody left to tell
                    log.exception("could not report failed job %s", job.id)
            return
        log.warning("job %s (%s) failed, retrying: %s", job.id, job.kind, error)
        at = now + timedelta(seconds=self._backoff(job.attempts))
        if self._ledger.retry(job.id, self.claimer, error, at):
            JOBS_RETRIED.labels(job.kind).inc()
