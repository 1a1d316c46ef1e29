"""People's own tokens for a task system, stored as the backend sealed them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from storage.tables import OAuthTokenRow


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
            session.merge(
                OAuthTokenRow(
                    team_id=team_id,
                    slack_id=slack_id,
                    backend=backend,
                    account_id=tokens.account_id,
                    access_token=tokens.access_token,
                    refresh_token=tokens.refresh_token,
                    expires_at=tokens.expires_at,
                )
            )
