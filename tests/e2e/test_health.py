"""Liveness and readiness over real HTTP: readiness follows the database (PostgreSQL made
unreachable and reachable again), the heartbeats of worker and scheduler, and the job queue."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.orm import Session, sessionmaker

from bot.service.health import Readiness
from storage.heartbeats import SqlAlchemyHeartbeats, oldest_pending_job
from storage.job_ledger import NewJob, SqlAlchemyJobLedger
from tests.e2e.conftest import Taskbot


@pytest.fixture
def postgres_database(postgres_server: str, postgres_template: str) -> Iterator[tuple[str, Engine]]:
    """A migrated database of its own, and an admin connection that can shut it off."""
    name = f"taskbot_ready_{uuid.uuid4().hex[:8]}"
    admin = create_engine(postgres_server, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{postgres_template}"'))
    try:
        yield postgres_server.rsplit("/", 1)[0] + "/" + name, admin
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _set_reachable(admin: Engine, url: str, reachable: bool) -> None:
    name = url.rsplit("/", 1)[1]
    with admin.connect() as connection:
        connection.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS {str(reachable)}'))
        if not reachable:  # and drop every session it has: the database is gone for taskbot
            connection.execute(
                text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"),
                {"n": name},
            )


@pytest.mark.postgres
def test_readiness_turns_503_while_the_database_is_away_and_200_when_it_returns(
    make_taskbot: Callable[..., Taskbot], postgres_database: tuple[str, Engine]
) -> None:
    url, admin = postgres_database
    bot = make_taskbot(DATABASE_URL=url)
    base = f"http://127.0.0.1:{bot.server.port}"
    assert httpx.get(f"{base}/readyz").status_code == 503  # no worker or scheduler beats yet
    bot.app.start_heartbeat(["worker", "scheduler"])
    ready = httpx.get(f"{base}/readyz")
    assert ready.status_code == 200, ready.json()
    assert ready.json()["schema"] is True and ready.json()["worker"] is True

    _set_reachable(admin, url, False)
    away = httpx.get(f"{base}/readyz")
    assert away.status_code == 503 and away.json()["database"] is False
    assert httpx.get(f"{base}/healthz").status_code == 503  # the alias
    assert httpx.get(f"{base}/livez").status_code == 200  # alive all the same

    _set_reachable(admin, url, True)
    back = httpx.get(f"{base}/readyz")
    assert back.status_code == 200, back.json()
    assert httpx.get(f"{base}/healthz").status_code == 200


def test_readiness_wants_fresh_heartbeats_and_a_short_queue(
    sessions: sessionmaker[Session],
) -> None:
    made = sessions
    now = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    beats = SqlAlchemyHeartbeats(made)
    beats.beat("worker:h:1", "worker", now, now)
    beats.beat("scheduler:h:2", "scheduler", now, now - timedelta(minutes=5))  # died
    SqlAlchemyJobLedger(made).enqueue(NewJob("command", "k1", "{}"), now - timedelta(minutes=10))

    def readiness(at: datetime, max_job_age: float = 900) -> dict[str, object]:
        return Readiness(
            ping=lambda: None,
            schema_current=lambda: True,
            live_roles=lambda since: {b.role for b in beats.live(since)},
            oldest_pending=lambda t: oldest_pending_job(made, t),
            roles=frozenset({"worker", "scheduler"}),
            stale_after=timedelta(seconds=30),
            max_job_age=timedelta(seconds=max_job_age),
            clock=lambda: at,
        )()

    checks = readiness(now)
    assert checks["worker"] is True and checks["scheduler"] is False
    assert checks["jobs"] is True and checks["oldest_job_seconds"] == 600.0
    assert readiness(now, max_job_age=300)["jobs"] is False
    assert readiness(now + timedelta(minutes=1))["worker"] is False
    beats.drop("worker:h:1")
    assert [b.role for b in beats.live(now - timedelta(hours=1))] == ["scheduler"]
