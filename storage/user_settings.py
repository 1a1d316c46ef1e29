"""Per-person reminder settings (``/task settings``): working hours, reminders on/off, digest."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from bot.domain.reminders import ReminderSettings, WorkingHours
from storage.tables import UserSettingsRow


class SqlAlchemyUserSettings:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def get(self, team_id: str, user_id: str) -> ReminderSettings | None:
        with self._sessions() as session:
            row = session.get(UserSettingsRow, (team_id, user_id))
            if row is None:
                return None
            days = frozenset(int(d) for d in row.work_days.split(",") if d)
            return ReminderSettings(
                hours=WorkingHours(start=row.work_start, end=row.work_end, days=days),
                reminders_on=row.reminders_on,
                digest_at=row.digest_at,
            )

    def put(self, team_id: str, user_id: str, settings: ReminderSettings, now: datetime) -> None:
        with self._sessions.begin() as session:
            row = session.get(UserSettingsRow, (team_id, user_id))
            if row is None:
                row = UserSettingsRow(team_id=team_id, user_id=user_id)
                session.add(row)
            row.work_start = settings.hours.start
            row.work_end = settings.hours.end
            row.work_days = ",".join(str(d) for d in sorted(settings.hours.days))
            row.reminders_on = settings.reminders_on
            row.digest_at = settings.digest_at
            row.updated_at = now
