"""The store behind account linking, on SQLite and PostgreSQL: a sign-in state is used once even
by callbacks racing each other, a refused link keeps no tokens, and a rotation re-seals all."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from bot.domain.links import LinkHow, UserLink
from bot.domain.models import AssigneeKind
from storage.link_states import PendingLink, SqlAlchemyLinkStates
from storage.oauth_tokens import SqlAlchemyOAuthTokens, StoredTokens

NOW = datetime(2026, 11, 23, 12, tzinfo=UTC)
LATER = NOW + timedelta(minutes=10)


def test_a_state_is_kept_hashed_and_consumed_once_by_racing_callbacks(
    sessions: sessionmaker[Session],
) -> None:
    states = SqlAlchemyLinkStates(sessions)
    states.add("state-1", "lineworks", PendingLink("T1", "UBOSS"), expires_at=LATER, now=NOW)
    with sessions() as session:
        assert "state-1" not in str(session.execute(text("select * from link_states")).all())
    assert states.peek("state-1", "lineworks", NOW) == PendingLink("T1", "UBOSS")
    assert states.peek("state-1", "paymo", NOW) is None
    won: list[PendingLink | None] = []
    barrier = threading.Barrier(4)

    def callback() -> None:
        barrier.wait()
        won.append(states.consume("state-1", "lineworks", NOW))

    threads = [threading.Thread(target=callback) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(won, key=lambda w: w is None) == [PendingLink("T1", "UBOSS"), None, None, None]
    assert states.peek("state-1", "lineworks", NOW) is None


def test_an_expired_state_is_refused_and_cleared(sessions: sessionmaker[Session]) -> None:
    states = SqlAlchemyLinkStates(sessions)
    states.add("old", "lineworks", PendingLink("T1", "UANA"), expires_at=LATER, now=NOW)
    assert states.peek("old", "lineworks", LATER) is None
    assert states.consume("old", "lineworks", LATER) is None
    states.add("old", "lineworks", PendingLink("T1", "UANA"), expires_at=LATER, now=NOW)
    states.add(
        "new",
        "lineworks",
        PendingLink("T1", "UBEN"),
        expires_at=LATER + timedelta(minutes=10),
        now=LATER,
    )
    with sessions() as session:  # the expired one went when the next was added
        assert session.execute(text("select count(*) from link_states")).scalar_one() == 1


def link(slack_id: str, account: str) -> UserLink:
    return UserLink(
        team_id="T1",
        backend="lineworks",
        slack_id=slack_id,
        kind=AssigneeKind.USER,
        assignee_id=account,
        how=LinkHow.SELF,
        set_by=slack_id,
        set_at=NOW,
    )


def test_a_taken_account_links_nobody_and_keeps_no_tokens(
    sessions: sessionmaker[Session],
) -> None:
    tokens = SqlAlchemyOAuthTokens(sessions)
    sealed = StoredTokens("lw-ana", "sealed-a", "sealed-r", LATER)
    assert tokens.put_linked(link("UANA", "lw-ana"), sealed)
    assert not tokens.put_linked(link("UEVE", "lw-ana"), sealed)
    assert tokens.get("T1", "UEVE", "lineworks") is None
    with sessions() as session:
        rows = session.execute(text("select slack_id, assignee_id from user_map")).all()
    assert [tuple(r) for r in rows] == [("UANA", "lw-ana")]


def test_reseal_all_rewrites_what_it_can_read(sessions: sessionmaker[Session]) -> None:
    tokens = SqlAlchemyOAuthTokens(sessions)
    tokens.put("T1", "UANA", "lineworks", StoredTokens("lw-ana", "old:a", "old:r", LATER))
    tokens.put("T1", "UBEN", "lineworks", StoredTokens("lw-ben", "lost:a", "lost:r", LATER))

    def reseal(sealed: str) -> str | None:
        return sealed.replace("old:", "new:") if sealed.startswith("old:") else None

    assert tokens.reseal_all(reseal) == (1, 1)
    assert tokens.get("T1", "UANA", "lineworks") == StoredTokens("lw-ana", "new:a", "new:r", LATER)
    assert tokens.get("T1", "UBEN", "lineworks") == StoredTokens(
        "lw-ben", "lost:a", "lost:r", LATER
    )
