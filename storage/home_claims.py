"""App Home publishes, one at a time per person across processes (the ``HomeClaims`` port).

A Home is built from list queries, so it has no single task version: instead its publishes are
serialised by a claim in the database and each is built *after* its claim is taken, so every
publish reads data at least as new as the one before it and a Home never goes back in time. The
claim is a lease, taken over when a publisher died holding it.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from storage.dialects import dialect_insert
from storage.tables import HomeClaimRow
from storage.task_cards import (
    CLAIM_LEASE_SECONDS,
    FIRST_BACKOFF,
    LONGEST_BACKOFF,
    unclaimed,
    wall_now,
)


class SqlAlchemyHomeClaims:
    def __init__(
        self, sessions: sessionmaker[Session], *, lease_seconds: float = CLAIM_LEASE_SECONDS
    ) -> None:
        self._sessions = sessions
        self._lease = timedelta(seconds=lease_seconds)

    @contextlib.contextmanager
    def held(self, team_id: str, user_id: str, *, wait: float) -> Iterator[HeldHome | None]:
        """Hold this person's Home claim for the block, or None after ``wait`` seconds of
        someone else holding it. The place kept with the claim comes with it (read by the
        statement that takes it) and is written by the one that releases it."""
        held = self._take(team_id, user_id, wait)
        try:
            yield held
        finally:
            if held is not None:
                self._release(team_id, user_id, held)

    def _take(self, team_id: str, user_id: str, wait: float) -> HeldHome | None:
        self._ensure_row(team_id, user_id)
        deadline, backoff = time.monotonic() + wait, FIRST_BACKOFF
        while True:
            now, token = wall_now(), uuid.uuid4().hex
            with self._sessions.begin() as session:
                taken = session.execute(
                    update(HomeClaimRow)
                    .where(
                        HomeClaimRow.team_id == team_id,
                        HomeClaimRow.user_id == user_id,
                        unclaimed(HomeClaimRow.claim_expires_at, now),
                    )
                    .values(claim_token=token, claim_expires_at=now + self._lease)
                    .returning(HomeClaimRow.place)
                    .execution_options(synchronize_session=False)
                ).first()
                if taken is not None:
                    return HeldHome(token=token, place=taken.place)
            if time.monotonic() + backoff > deadline:
                return None
            time.sleep(backoff)
            backoff = min(backoff * 2, LONGEST_BACKOFF)

    def _ensure_row(self, team_id: str, user_id: str) -> None:
        with self._sessions.begin() as session:
            session.execute(
                dialect_insert(session.get_bind().dialect.name, HomeClaimRow)
                .values(team_id=team_id, user_id=user_id, published=0)
                .on_conflict_do_nothing()
            )

    def _release(self, team_id: str, user_id: str, held: HeldHome) -> None:
        with self._sessions.begin() as session:
            session.execute(
                update(HomeClaimRow)
                .where(
                    HomeClaimRow.team_id == team_id,
                    HomeClaimRow.user_id == user_id,
                    HomeClaimRow.claim_token == held.token,
                )
                .values(
                    claim_token=None,
                    claim_expires_at=None,
                    published=HomeClaimRow.published + 1,
                    place=held.place,
                )
                .execution_options(synchronize_session=False)
            )


@dataclass
class HeldHome:
    """A held claim: its token, and the Home's place (kept, or set by the publisher)."""

    token: str
    place: str | None
