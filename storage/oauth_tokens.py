"""People's own tokens for a task system, stored as the backend sealed them.

A sign-in stores its tokens and its link in one transaction, the link's check first, so a
refused link leaves no tokens behind. ``reseal_all`` serves ``taskbot secrets rotate``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from bot.domain.errors import InvalidInput
from bot.domain.links import UserLink
from storage.tables import OAuthTokenRow
from storage.user_map import set_link


@dataclass(frozen=True)
class StoredTokens:
    account_id: str
    access_token: str  # sealed
    refresh_token: str  # sealed
    expires_at: datetime


class SqlAlchemyOAuthTokens:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def get(self, team_id: str, slack_id: str, backend: str) -> StoredTokens | None:
        with self._sessions() as session:
            row = session.get(OAuthTokenRow, (team_id, slack_id, backend))
            if row is None:
                return None
            return StoredTokens(row.account_id, row.access_token, row.refresh_token, row.expires_at)

    def put(self, team_id: str, slack_id: str, backend: str, tokens: StoredTokens) -> None:
        with self._sessions.begin() as session:
            session.merge(_row(team_id, slack_id, backend, tokens))

    def put_linked(self, link: UserLink, tokens: StoredTokens) -> bool:
        """Link the person to their account and keep its tokens, or (when the account is
        someone else's already) neither: False, and nothing written."""
        try:
            with self._sessions.begin() as session:
                try:
                    set_link(session, link)
                except InvalidInput:
                    return False
                session.merge(_row(link.team_id, link.slack_id, link.backend, tokens))
        except IntegrityError:  # someone else linked the same account at the same moment
            return False
        return True

    def reseal_all(self, reseal: Callable[[str], str | None]) -> tuple[int, int]:
        """Every stored token through ``reseal`` in one transaction: (re-sealed, unreadable).
        A token ``reseal`` can't read (None) is left as it is."""
        done = unreadable = 0
        with self._sessions.begin() as session:
            for row in session.scalars(select(OAuthTokenRow).with_for_update()):
                access, refresh = reseal(row.access_token), reseal(row.refresh_token)
                if access is None or refresh is None:
                    unreadable += 1
                    continue
                row.access_token, row.refresh_token = access, refresh
                done += 1
        return done, unreadable


def _row(team_id: str, slack_id: str, backend: str, tokens: StoredTokens) -> OAuthTokenRow:
    return OAuthTokenRow(
        team_id=team_id,
        slack_id=slack_id,
        backend=backend,
        account_id=tokens.account_id,
        access_token=tokens.access_token,
        refresh_token=tokens.refresh_token,
        expires_at=tokens.expires_at,
    )
