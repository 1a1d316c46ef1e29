"""The job worker on a real ledger: runs what is queued, retries a failing job a bounded number
of times, then marks it failed and says so once."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session, sessionmaker

from bot.service.work import ClaimedWork, JobWorker
from storage.job_ledger import DONE, FAILED, NewJob, SqlAlchemyJobLedger


def test_jobs_run_once_and_a_failing_one_is_retried_then_reported(
    sessions: sessionmaker[Session],
) -> None:
    ledger = SqlAlchemyJobLedger(sessions)
    ran: list[str] = []
    gave_up: list[tuple[str, int]] = []
    finished = threading.Event()

    def handle(job: ClaimedWork) -> None:
        ran.append(job.key)
        if job.key == "bad":
            raise RuntimeError("the task system is down")

    def give_up(job: ClaimedWork, error: str) -> None:
        gave_up.append((job.key, job.attempts))
        finished.set()

    worker = JobWorker(
        ledger,
        handle,
        give_up=give_up,
        threads=2,
        poll=0.05,
        lease=timedelta(seconds=30),
        max_attempts=3,
        backoff=lambda attempts: 0.0,
    )
    ledger.enqueue(NewJob("test", "good", "{}"), datetime.now(UTC))
    ledger.enqueue(NewJob("test", "bad", "{}"), datetime.now(UTC))
    worker.start()
    try:
        assert finished.wait(30)
    finally:
        worker.stop(timeout=5)
    assert ran.count("good") == 1 and ran.count("bad") == 3
    assert gave_up == [("bad", 3)]
    assert ledger.states() == {"good": DONE, "bad": FAILED}


def test_the_idle_step_runs_once_each_time_the_queue_runs_dry(
    sessions: sessionmaker[Session],
) -> None:
    """Not on every empty poll: once a burst's jobs have all finished, and again after the
    next burst."""
    ledger = SqlAlchemyJobLedger(sessions)
    idle = threading.Semaphore(0)
    idles: list[set[str]] = []
    ran: list[str] = []

    def on_idle() -> None:
        idles.append(set(ran))
        idle.release()

    worker = JobWorker(
        ledger, lambda job: ran.append(job.key), threads=2, poll=0.01, on_idle=on_idle
    )
    for key in ("a", "b", "c"):  # queued before the worker starts: one burst
        ledger.enqueue(NewJob("test", key, "{}"), datetime.now(UTC))
    worker.start()
    try:
        assert idle.acquire(timeout=30)
        ledger.enqueue(NewJob("test", "d", "{}"), datetime.now(UTC))
        worker.wake()
        assert idle.acquire(timeout=30)
        assert not idle.acquire(timeout=0.3)  # idle polls since then: no further call
    finally:
        worker.stop(timeout=5)
    assert idles == [{"a", "b", "c"}, {"a", "b", "c", "d"}]


def test_a_job_run_inline_takes_no_thread_from_the_pool(sessions: sessionmaker[Session]) -> None:
    """``run_now`` runs a change's notice on the caller's thread: the pool's other thread
    still claims work meanwhile (it used to count the inline job as a second busy thread)."""
    ledger = SqlAlchemyJobLedger(sessions)
    other_ran, notice_running = threading.Event(), threading.Event()
    holder: list[JobWorker] = []

    def handle(job: ClaimedWork) -> None:
        if job.key == "change":
            holder[0].run_now("notice")  # inline, as the service delivers a change's notices
        elif job.key == "notice":  # still running inline when "other" arrives
            notice_running.set()
            assert other_ran.wait(20), "the free thread claimed nothing while this one waited"
        elif job.key == "other":
            other_ran.set()

    worker = JobWorker(ledger, handle, threads=2, poll=0.01)
    holder.append(worker)
    later = datetime.now(UTC) + timedelta(days=1)  # polls never claim it: only run_now does
    ledger.enqueue(NewJob("test", "notice", "{}"), later)
    ledger.enqueue(NewJob("test", "change", "{}"), datetime.now(UTC))
    worker.start()
    try:
        assert notice_running.wait(20)
        ledger.enqueue(NewJob("test", "other", "{}"), datetime.now(UTC))
        worker.wake()
        assert other_ran.wait(20)
    finally:
        worker.stop(timeout=5)
    assert ledger.states() == {"change": DONE, "notice": DONE, "other": DONE}


def test_a_thread_that_finishes_claims_the_next_job_without_waiting_for_the_poll(
    sessions: sessionmaker[Session],
) -> None:
    """A busy worker's loop finds no free thread and waits for its poll; a job finishing wakes
    it. (It didn't: with every thread busy, a backlog drained one batch per poll, 16 jobs a
    second with 4 threads and the 0.25 s poll.)"""
    ledger = SqlAlchemyJobLedger(sessions)
    all_ran = threading.Event()
    ran: list[str] = []

    def handle(job: ClaimedWork) -> None:
        ran.append(job.key)
        if len(ran) == 3:
            all_ran.set()

    worker = JobWorker(ledger, handle, threads=1, poll=600)  # the poll never comes in time
    for key in ("a", "b", "c"):
        ledger.enqueue(NewJob("test", key, "{}"), datetime.now(UTC))
    worker.start()
    try:
        assert all_ran.wait(30), f"ran {ran} only"
    finally:
        worker.stop(timeout=5)
    assert sorted(ran) == ["a", "b", "c"]
