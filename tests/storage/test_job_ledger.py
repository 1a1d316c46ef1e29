"""The job ledger and keyed changes of the task store, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.orm import Session, sessionmaker

from bot.backends.mirror import intake_effect
from bot.domain.errors import AlreadyApplied
from bot.domain.events import Effect
from bot.domain.models import Actor, Assignee, Part, PartState, Task, TaskDraft
from bot.domain.rules import set_own_parts
from storage.job_ledger import CLAIMED, DONE, FAILED, PENDING, NewJob, SqlAlchemyJobLedger
from storage.local_tasks import SqlAlchemyTaskStore

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
LEASE = timedelta(seconds=30)


def job(key: str) -> NewJob:
    return NewJob(kind="test", key=key, payload='{"n": 1}')


def test_a_key_is_queued_once(sessions: sessionmaker[Session]) -> None:
    ledger = SqlAlchemyJobLedger(sessions)
    assert ledger.enqueue(job("a"), NOW)
    assert not ledger.enqueue(job("a"), NOW)  # the replay lands on the first row
    assert ledger.states() == {"a": PENDING}


def test_jobs_are_claimed_once_by_concurrent_claimers(sessions: sessionmaker[Session]) -> None:
    ledger = SqlAlchemyJobLedger(sessions)
    for i in range(40):
        ledger.enqueue(job(f"k{i}"), NOW)
    got: list[list[str]] = [[] for _ in range(4)]

    def claim(slot: int) -> None:
        while claimed := ledger.claim(NOW, limit=3, claimer=f"c{slot}", lease=LEASE):
            got[slot].extend(j.key for j in claimed)

    threads = [threading.Thread(target=claim, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    keys = [k for slot in got for k in slot]
    assert sorted(keys) == sorted(f"k{i}" for i in range(40))  # each once, none lost


def test_an_expired_claim_is_taken_over_and_the_old_claimer_cannot_finish(
    sessions: sessionmaker[Session],
) -> None:
    ledger = SqlAlchemyJobLedger(sessions)
    ledger.enqueue(job("a"), NOW)
    (first,) = ledger.claim(NOW, limit=5, claimer="dead", lease=LEASE)
    assert not first.taken_over and first.attempts == 1
    assert ledger.claim(NOW + LEASE / 2, limit=5, claimer="other", lease=LEASE) == []
    (second,) = ledger.claim(NOW + LEASE * 2, limit=5, claimer="other", lease=LEASE)
    assert second.taken_over and second.attempts == 2
    assert not ledger.mark_done(first.id, "dead", NOW)
    assert ledger.mark_done(second.id, "other", NOW)
    assert ledger.states() == {"a": DONE}


def test_a_retry_waits_and_a_failure_is_final(sessions: sessionmaker[Session]) -> None:
    ledger = SqlAlchemyJobLedger(sessions)
    ledger.enqueue(job("a"), NOW)
    (claimed,) = ledger.claim(NOW, limit=1, claimer="w", lease=LEASE)
    assert ledger.retry(claimed.id, "w", "boom", NOW + timedelta(seconds=10))
    assert ledger.claim(NOW + timedelta(seconds=5), limit=1, claimer="w", lease=LEASE) == []
    (again,) = ledger.claim(NOW + timedelta(seconds=10), limit=1, claimer="w", lease=LEASE)
    assert again.attempts == 2
    assert ledger.mark_failed(again.id, "w", "boom", NOW)
    assert ledger.states() == {"a": FAILED}
    assert ledger.claim(NOW + timedelta(days=1), limit=1, claimer="w", lease=LEASE) == []


def test_claim_key_takes_one_pending_job(sessions: sessionmaker[Session]) -> None:
    ledger = SqlAlchemyJobLedger(sessions)
    ledger.enqueue(job("a"), NOW)
    taken = ledger.claim_key("a", NOW, claimer="w", lease=LEASE)
    assert taken is not None and taken.key == "a"
    assert ledger.claim_key("a", NOW, claimer="x", lease=LEASE) is None
    assert ledger.states() == {"a": CLAIMED}


def draft() -> TaskDraft:
    return TaskDraft(
        team_id="T1", assignor="UBOSS", title="Ship", assignees=(Assignee.user("UANA"),)
    )


def test_a_keyed_create_makes_one_task_and_queues_its_notice(
    sessions: sessionmaker[Session],
) -> None:
    store, ledger = SqlAlchemyTaskStore(sessions), SqlAlchemyJobLedger(sessions)
    effect = Effect("create:V1:h1", lambda task: f'{{"handle": "{task.handle}"}}')
    made = store.create(draft(), NOW, effect=effect)
    with pytest.raises(AlreadyApplied) as replay:
        store.create(draft(), NOW, effect=effect)
    assert replay.value.current.id == made.id
    assert store.created(effect.key) == made
    assert ledger.states() == {"notify:create:V1:h1": PENDING}
    later = datetime.now(UTC) + timedelta(seconds=5)  # after the grace left to its maker
    (notice,) = ledger.claim(later, limit=5, claimer="w", lease=LEASE)
    assert notice.payload == '{"handle": "T-1"}'


def test_a_keyed_save_applies_once(sessions: sessionmaker[Session]) -> None:
    store, ledger = SqlAlchemyTaskStore(sessions), SqlAlchemyJobLedger(sessions)
    task = store.create(draft(), NOW)
    done = set_own_parts(task, Actor(team_id="T1", user_id="UANA"), PartState.DONE, NOW)
    effect = Effect("card-button:T1:UANA:1.2", lambda saved: "{}")
    store.save(done, task.version, effect=effect)
    with pytest.raises(AlreadyApplied):
        store.save(done, task.version, effect=effect)
    assert store.applied(effect)
    assert store.get("T1", task.handle).version == done.version
    assert list(ledger.states()) == [effect.notice_key]


def test_finished_jobs_are_pruned_after_their_retention(sessions: sessionmaker[Session]) -> None:
    ledger = SqlAlchemyJobLedger(sessions)
    for key in ("done", "open"):
        ledger.enqueue(job(key), NOW)
    (first, _) = ledger.claim(NOW, limit=2, claimer="w", lease=LEASE)
    ledger.mark_done(first.id, "w", NOW)
    assert ledger.prune(NOW) == 0
    assert ledger.prune(NOW + timedelta(days=8)) == 1
    assert ledger.states() == {"open": CLAIMED}


def test_a_task_taken_in_is_stored_with_the_job_that_tells_its_people(
    sessions: sessionmaker[Session],
) -> None:
    """Before, a task taken in from a task system was stored and its cards were sent by the sync
    pass directly: a crash between the two lost them, and the next pass found the task there."""
    store = SqlAlchemyTaskStore(sessions)
    effect = intake_effect("struct:9", "Struct PIM", None)

    def build(handle: str) -> Task:
        return Task(
            team_id="T1",
            id="struct:9",
            handle=handle,
            title="Taken in",
            assignor="U0",
            parts=(Part(assignee=Assignee.user("U1")),),
            created_at=NOW,
            updated_at=NOW,
            version=1,
        )

    task = store.adopt("T1", "struct:9", build, effect=effect)
    assert task.handle == "T-1"
    assert SqlAlchemyJobLedger(sessions).states() == {effect.notice_key: PENDING}


def test_wait_finished_says_how_many_jobs_are_left(sessions: sessionmaker[Session]) -> None:
    ledger = SqlAlchemyJobLedger(sessions)
    ledger.enqueue(job("a"), NOW)
    assert ledger.wait_finished(0) == 1  # pending: still to do
    (claimed,) = ledger.claim(NOW, limit=1, claimer="w", lease=LEASE)
    assert ledger.wait_finished(0) == 1  # claimed: still running
    ledger.mark_done(claimed.id, "w", NOW)
    assert ledger.wait_finished(30) == 0  # at once: nothing left to wait for
