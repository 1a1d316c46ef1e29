"""Cards never go back in time: the compare-and-set claims of ``storage.task_cards`` on SQLite
and PostgreSQL, and how a task's save marks its cards behind for the card sweep."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.domain.models import Assignee, CardKind, CardRef, TaskDraft
from storage.local_tasks import SqlAlchemyTaskStore
from storage.tables import TaskCardRow
from storage.task_cards import SqlAlchemyTaskCards

NOW = datetime(2026, 12, 3, 12, tzinfo=UTC)
DRAFT = TaskDraft(team_id="T1", assignor="UBOSS", title="t", assignees=(Assignee.user("U1"),))
CARD = CardRef(team_id="T1", task_id="t1", channel_id="C1", message_ts="1.1", kind=CardKind.CHANNEL)


def shown(sessions: sessionmaker[Session], ts: str = "1.1") -> int:
    with sessions() as session:
        return session.scalars(
            select(TaskCardRow.shown_version).where(TaskCardRow.message_ts == ts)
        ).one()


def test_an_older_version_than_stored_or_claimed_is_skipped(
    sessions: sessionmaker[Session],
) -> None:
    cards = SqlAlchemyTaskCards(sessions)
    cards.add(CARD, 1)
    assert cards.claim("C1", "1.1", 1) is None  # shows it already
    three = cards.claim("C1", "1.1", 3)
    assert three is not None
    assert cards.claim("C1", "1.1", 2) is None  # a newer one is being written
    assert cards.claim("C1", "1.1", 4) is None  # an older one is in flight: busy, no wait
    cards.settle(three, shown=True)
    assert shown(sessions) == 3
    assert cards.claim("C1", "1.1", 2) is None
    four = cards.claim("C1", "1.1", 4)
    assert four is not None
    cards.settle(four, shown=False)  # the Slack call failed: nothing recorded, claim released
    assert shown(sessions) == 3
    assert cards.behind(10) == [CARD]  # the claim for 4 made the card want 4
    assert cards.claim("C1", "1.1", 9, wait=0) is not None
    assert cards.claim("C2", "9.9", 9) is None  # no such card


def test_concurrent_writers_land_in_version_order(sessions: sessionmaker[Session]) -> None:
    """Writers of versions 2..9 race for one card; what "Slack" receives never goes back."""
    cards = SqlAlchemyTaskCards(sessions)
    cards.add(CARD, 1)
    landed: list[int] = []
    barrier = threading.Barrier(8)

    def write(version: int) -> None:
        barrier.wait()
        claim = cards.claim("C1", "1.1", version, wait=30)
        if claim is not None:
            landed.append(version)  # the Slack call, while the claim is held
            cards.settle(claim, shown=True)

    threads = [threading.Thread(target=write, args=(v,)) for v in range(2, 10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert landed == sorted(landed) and landed[-1] == 9
    assert shown(sessions) == 9
    assert cards.behind(10) == []


def test_a_writer_whose_lease_was_taken_over_records_at_most_its_version(
    sessions: sessionmaker[Session],
) -> None:
    cards = SqlAlchemyTaskCards(sessions, lease_seconds=0)  # every claim expires at once
    cards.add(CARD, 1)
    slow = cards.claim("C1", "1.1", 2)
    fast = cards.claim("C1", "1.1", 3)  # takes the expired claim over
    assert slow is not None and fast is not None
    cards.settle(fast, shown=True)
    cards.settle(slow, shown=True)  # may have landed after 3: record 2, so the sweep rewrites
    assert shown(sessions) == 2
    assert cards.behind(10) == [CARD]


def test_a_task_save_marks_its_cards_behind_until_written(
    sessions: sessionmaker[Session],
) -> None:
    store, cards = SqlAlchemyTaskStore(sessions), SqlAlchemyTaskCards(sessions)
    task = store.create(DRAFT, NOW)
    card = CARD.model_copy(update={"task_id": task.id})
    cards.add(card, task.version)
    assert cards.behind(10) == []
    changed = task.model_copy(update={"title": "t2", "version": task.version + 1})
    store.save(changed, task.version)
    assert cards.behind(10) == [card]
    claim = cards.claim("C1", "1.1", changed.version)
    assert claim is not None
    assert cards.behind(10) == []  # being written now: not the sweep's
    cards.settle(claim, shown=True)
    assert cards.behind(10) == []
    store.delete("T1", task.handle, changed.version, NOW)  # the card must say it was deleted
    assert cards.behind(10) == [card]
    loaded = store.load(task.id)
    assert loaded is not None and loaded.deleted and loaded.version == changed.version + 1


def test_a_card_posted_from_an_older_copy_is_recorded_behind(
    sessions: sessionmaker[Session],
) -> None:
    store, cards = SqlAlchemyTaskStore(sessions), SqlAlchemyTaskCards(sessions)
    task = store.create(DRAFT, NOW)
    store.save(task.model_copy(update={"version": task.version + 1}), task.version)
    card = CARD.model_copy(update={"task_id": task.id})
    cards.add(card, task.version)  # rendered before the save, recorded after it
    assert cards.behind(10) == [card]


DM = CardRef(
    team_id="T1",
    task_id="t1",
    channel_id="D1",
    message_ts="2.2",
    kind=CardKind.ASSIGNEE_DM,
    user_id="U1",
)


def stamps(sessions: sessionmaker[Session], ts: str = "2.2") -> tuple[int, int, int]:
    with sessions() as session:
        row = session.execute(
            select(
                TaskCardRow.shown_version, TaskCardRow.shown_stamp, TaskCardRow.wanted_stamp
            ).where(TaskCardRow.message_ts == ts)
        ).one()
        return row.shown_version, row.shown_stamp, row.wanted_stamp


def test_a_readers_changed_reminder_reopens_the_card_at_its_version_only(
    sessions: sessionmaker[Session],
) -> None:
    cards = SqlAlchemyTaskCards(sessions)
    cards.add(CARD, 2)  # the channel card: nobody's own, never marked
    cards.add(DM, 2)
    cards.add(DM.model_copy(update={"message_ts": "3.3", "user_id": "U2"}), 2)
    cards.add(DM.model_copy(update={"message_ts": "4.4", "kind": CardKind.REMINDER_DM}), 2)
    assert cards.claim("D1", "2.2", 2) is None  # shows version 2 and every reminder change
    assert cards.mark_reader("T1", "t1", "U1") == [DM]
    assert cards.behind(10) == [DM]
    assert cards.claim("D1", "2.2", 1) is None  # an older version, stamp behind or not
    first = cards.claim("D1", "2.2", 2)
    assert first is not None and first.stamp == 1
    assert cards.claim("D1", "2.2", 2) is None  # the write under way shows stamp 1: skip
    cards.mark_reader("T1", "t1", "U1")  # changed again while it is being written
    assert cards.claim("D1", "2.2", 2) is None  # busy: its write may predate the change
    cards.settle(first, shown=True)
    assert stamps(sessions) == (2, 1, 2) and cards.behind(10) == [DM]
    second = cards.claim("D1", "2.2", 2)
    assert second is not None and second.stamp == 2
    cards.settle(second, shown=False)  # Slack failed: still behind, for the sweep
    assert stamps(sessions) == (2, 1, 2) and cards.behind(10) == [DM]
    newer = cards.claim("D1", "2.2", 3)  # a newer version carries the stamp along
    assert newer is not None and newer.stamp == 2
    cards.settle(newer, shown=True)
    assert stamps(sessions) == (3, 2, 2) and cards.behind(10) == []
    assert cards.claim("D1", "2.2", 3) is None
    assert [stamps(sessions, ts)[2] for ts in ("1.1", "3.3", "4.4")] == [0, 0, 0]


def test_a_reader_write_whose_lease_was_taken_over_records_at_most_its_stamp(
    sessions: sessionmaker[Session],
) -> None:
    cards = SqlAlchemyTaskCards(sessions, lease_seconds=0)  # every claim expires at once
    cards.add(DM, 2)
    cards.mark_reader("T1", "t1", "U1")
    slow = cards.claim("D1", "2.2", 2)
    cards.mark_reader("T1", "t1", "U1")
    fast = cards.claim("D1", "2.2", 2)  # takes the expired claim over
    assert slow is not None and fast is not None and (slow.stamp, fast.stamp) == (1, 2)
    cards.settle(fast, shown=True)
    cards.settle(slow, shown=True)  # may have landed last: record its stamp, the sweep rewrites
    assert stamps(sessions) == (2, 1, 2)
    assert cards.behind(10) == [DM]


def test_version_and_reminder_writers_land_in_order(sessions: sessionmaker[Session]) -> None:
    """Writers of new versions race writers of reminder changes at the version they loaded;
    what "Slack" receives, as (version, stamp), never goes back, and the last is the newest."""
    cards = SqlAlchemyTaskCards(sessions)
    cards.add(DM, 1)
    landed: list[tuple[int, int]] = []
    barrier = threading.Barrier(8)

    def write(version: int, reader: bool) -> None:
        barrier.wait()
        if reader:
            cards.mark_reader("T1", "t1", "U1")
        claim = cards.claim("D1", "2.2", version, wait=30)
        if claim is not None:
            landed.append((claim.version, claim.stamp))  # the Slack call, under the claim
            cards.settle(claim, shown=True)

    jobs = [(v, False) for v in range(2, 6)] + [(v, True) for v in range(2, 6)]
    threads = [threading.Thread(target=write, args=job) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert landed == sorted(landed) and landed[-1][0] == 5
    version, shown_stamp, wanted = stamps(sessions)
    assert version == 5
    # A reader change that came after the version-5 write began is left to the card sweep.
    assert (shown_stamp == wanted) == (cards.behind(10) == [])
