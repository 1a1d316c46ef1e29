"""Repositories on SQLite and PostgreSQL: reminder claims, user map, task cards, migrations."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, inspect
from sqlalchemy.orm import Session, sessionmaker

from bot.domain.errors import InvalidInput
from bot.domain.links import LinkHow, UserLink
from bot.domain.models import AssigneeKind, CardKind, CardRef
from bot.domain.reminders import PlannedReminder
from storage.reminder_ledger import SqlAlchemyReminderLedger
from storage.tables import WHERE, Base
from storage.task_cards import SqlAlchemyTaskCards
from storage.user_map import SqlAlchemyUserMap

NOW = datetime(2026, 11, 23, 12, tzinfo=UTC)


def test_migrations_build_exactly_the_orm_schema(engine: Engine) -> None:
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert differences == []


def test_migrations_build_the_partial_indexes_tables_declares(engine: Engine) -> None:
    """compare_metadata ignores an index's WHERE clause; tables.py keeps it in ``info``."""

    def bare(where: object) -> str:
        return " ".join(str(where).strip("() ").split())

    declared = {
        index.name: bare(index.info[WHERE])
        for table in Base.metadata.tables.values()
        for index in table.indexes
        if WHERE in index.info
    }
    schema = inspect(engine)
    migrated = {
        index["name"]: bare(index["dialect_options"][f"{engine.dialect.name}_where"])
        for name in schema.get_table_names()
        for index in schema.get_indexes(name)
        if f"{engine.dialect.name}_where" in index.get("dialect_options", {})
    }
    assert declared and migrated == declared


def plan(ledger: SqlAlchemyReminderLedger, count: int, due: datetime = NOW) -> None:
    ledger.replace_pending(
        "T1",
        "task1",
        [PlannedReminder(user_id=f"U{i}", offset_seconds=0, at=due) for i in range(count)],
    )


def test_due_reminders_are_claimed_once_by_concurrent_claimers(
    sessions: sessionmaker[Session],
) -> None:
    ledger = SqlAlchemyReminderLedger(sessions)
    plan(ledger, 60)
    claimed: dict[str, list[int]] = {}
    barrier = threading.Barrier(4)

    def claim(name: str) -> None:
        barrier.wait()
        mine: list[int] = []
        while batch := ledger.claim_due(NOW, limit=7, claimer=name, lease=timedelta(minutes=5)):
            mine.extend(r.id for r in batch)
        claimed[name] = mine

    threads = [threading.Thread(target=claim, args=(f"c{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    every = [i for ids in claimed.values() for i in ids]
    assert len(every) == 60 and len(set(every)) == 60


def test_not_yet_due_reminders_wait(sessions: sessionmaker[Session]) -> None:
    ledger = SqlAlchemyReminderLedger(sessions)
    plan(ledger, 2, due=NOW + timedelta(hours=1))
    assert ledger.claim_due(NOW, limit=10, claimer="a", lease=timedelta(minutes=1)) == []


def test_an_expired_claim_is_taken_over_and_the_old_claimer_cannot_finish(
    sessions: sessionmaker[Session],
) -> None:
    ledger = SqlAlchemyReminderLedger(sessions)
    plan(ledger, 1)
    (first,) = ledger.claim_due(NOW, limit=5, claimer="crashed", lease=timedelta(seconds=30))
    assert ledger.claim_due(NOW, limit=5, claimer="other", lease=timedelta(seconds=30)) == []
    later = NOW + timedelta(minutes=1)
    (again,) = ledger.claim_due(later, limit=5, claimer="other", lease=timedelta(seconds=30))
    assert again.id == first.id and again.attempts == 2
    assert ledger.mark_sent(first.id, "crashed", later) is False
    assert ledger.mark_sent(first.id, "other", later) is True
    assert ledger.states("T1", "task1") == [("U0", 0, "sent")]


def test_replanning_cancels_pending_but_keeps_sent(sessions: sessionmaker[Session]) -> None:
    ledger = SqlAlchemyReminderLedger(sessions)
    plan(ledger, 2)
    (sent, _) = ledger.claim_due(NOW, limit=2, claimer="a", lease=timedelta(minutes=1))
    ledger.mark_sent(sent.id, "a", NOW)
    plan(ledger, 1, due=NOW + timedelta(days=1))
    states = [s for _, _, s in ledger.states("T1", "task1")]
    assert states.count("sent") == 1 and states[-1] == "pending"
    ledger.cancel("T1", "task1")
    assert "pending" not in [s for _, _, s in ledger.states("T1", "task1")]


def test_sent_instants_and_each_persons_next_reminder(sessions: sessionmaker[Session]) -> None:
    ledger = SqlAlchemyReminderLedger(sessions)
    later, latest = NOW + timedelta(hours=1), NOW + timedelta(days=1)
    ledger.replace_pending(
        "T1",
        "task1",
        [
            PlannedReminder(user_id=user, offset_seconds=0, at=at)
            for user in ("U0", "U1")
            for at in (NOW, later, latest)
        ],
    )
    sent, claimed = ledger.claim_due(NOW, limit=2, claimer="a", lease=timedelta(minutes=1))
    ledger.mark_sent(sent.id, "a", NOW)
    assert ledger.sent_instants("T1", "task1") == {("U0", NOW), ("U1", NOW)}  # sent or sending
    assert ledger.next_reminder("T1", "task1", "U0") == later
    assert ledger.next_reminder("T1", "task2", "U0") is None
    ledger.cancel("T1", "task1", "U1")
    assert ledger.next_reminder("T1", "task1", "U1") is None


def test_task_cards_per_task_and_workspace(sessions: sessionmaker[Session]) -> None:
    cards = SqlAlchemyTaskCards(sessions)
    card = CardRef(
        team_id="T1", task_id="a", channel_id="C1", message_ts="1.1", kind=CardKind.CHANNEL
    )
    cards.add(card)
    cards.add(card)  # recorded once
    cards.add(
        card.model_copy(update={"message_ts": "1.2", "kind": CardKind.ASSIGNEE_DM, "user_id": "U1"})
    )
    assert [c.message_ts for c in cards.for_task("T1", "a")] == ["1.1", "1.2"]
    assert cards.for_task("T2", "a") == []
    cards.remove("T1", "C1", "1.1")
    assert [c.message_ts for c in cards.for_task("T1", "a")] == ["1.2"]


def mapping(slack_id: str, assignee_id: str, team: str = "T1") -> UserLink:
    return UserLink(
        team_id=team,
        backend="struct_pim",
        slack_id=slack_id,
        kind=AssigneeKind.USER,
        assignee_id=assignee_id,
        how=LinkHow.ADMIN,
        set_by="UADMIN",
        set_at=NOW,
    )


def test_user_map_refuses_two_slack_users_for_one_assignee(sessions: sessionmaker[Session]) -> None:
    users = SqlAlchemyUserMap(sessions)
    users.set(mapping("UANA", "a-1"))
    with pytest.raises(InvalidInput, match="already linked to UANA"):
        users.set(mapping("UBEN", "a-1"))
    assert users.get("T1", "struct_pim", "UBEN") is None
    users.set(mapping("UBEN", "a-1"), force=True)
    assert users.get("T1", "struct_pim", "UANA") is None
    assert users.by_assignee("T1", "struct_pim", AssigneeKind.USER, "a-1").slack_id == "UBEN"  # type: ignore[union-attr]
    users.set(mapping("UANA", "a-1", team="T2"))  # another workspace is another map
    assert [m.slack_id for m in users.list("T2", "struct_pim")] == ["UANA"]
    assert users.remove("T1", "struct_pim", "UBEN") is True
    got = users.get("T2", "struct_pim", "UANA")
    assert got is not None and got.set_at == NOW


def test_the_same_person_linked_by_two_workers_at_once_is_linked_once(
    sessions: sessionmaker[Session],
) -> None:
    """Email auto-link of one assignee in two jobs at the same moment: both read "no link" and
    insert; neither may fail the person's command (it did, with a unique violation)."""
    user_map = SqlAlchemyUserMap(sessions)
    people = [f"U{n}" for n in range(20)]
    failures: list[BaseException] = []

    def link(slack_id: str, barrier: threading.Barrier) -> None:
        barrier.wait()
        try:
            user_map.set(mapping(slack_id, f"id-{slack_id}"))
        except BaseException as exc:  # collected: the assertion below names it
            failures.append(exc)

    for slack_id in people:
        barrier = threading.Barrier(2)
        threads = [threading.Thread(target=link, args=(slack_id, barrier)) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert failures == []
    assert [m.slack_id for m in user_map.list("T1", "struct_pim")] == sorted(people)
