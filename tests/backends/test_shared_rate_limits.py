"""The task APIs' rate limits hold across taskbot processes (issue 11): budgets and the pauses
the APIs ask for live in the database, on SQLite and PostgreSQL, against the LINE WORKS and
Paymo simulators, which refuse every call over the limit."""

from __future__ import annotations

import multiprocessing
import threading
import time
from collections.abc import Iterator

import pytest
from pydantic import SecretStr
from sqlalchemy.orm import Session, sessionmaker

from bot.backends import paymo
from bot.config import Settings
from bot.domain.errors import BackendUnavailable
from bot.domain.rates import Rate
from storage.engine import make_engine, make_sessionmaker
from storage.rate_budget import SqlAlchemyRateBudget
from tests.backends import rate_workers
from tests.stubs.lineworks_api import LineWorksSimulator
from tests.stubs.paymo_api import PaymoSimulator, paymo_simulator

SECRET_KEY = "WOjNCtUk8CuHXxPERgP6zogNXmymru0gp-4WQdCDMVU"  # made with secrets.token_urlsafe(32)
LIMIT, WINDOW = 5, 1.0  # small, so the test is short; production uses the documented ones
WORKERS, THREADS, CALLS = 3, 2, 2  # per API: 12 calls, 2.4 windows' worth


@pytest.fixture
def lineworks_sim() -> Iterator[LineWorksSimulator]:
    simulator = LineWorksSimulator(per_minute=LIMIT, window=WINDOW).start()
    simulator.add_user("lw-operator", "operator@works.example")
    yield simulator
    simulator.stop()


@pytest.fixture
def paymo_sim() -> Iterator[PaymoSimulator]:
    simulator = PaymoSimulator("paymo-key", limit=LIMIT, decay=WINDOW).start()
    simulator.add_user(241185, rate_workers.PAYMO_EMAIL)
    yield simulator
    simulator.stop()


def test_three_worker_processes_never_exceed_the_apis_limits_and_none_fails(
    database_url: str, lineworks_sim: LineWorksSimulator, paymo_sim: PaymoSimulator
) -> None:
    settings = Settings(
        SLACK_BOT_TOKEN=SecretStr("xoxb-test"),
        SLACK_SIGNING_SECRET=SecretStr("secret"),
        TASK_BACKEND="lineworks",
        DATABASE_URL=database_url,
        LINEWORKS_API_URL=lineworks_sim.api_url,
        LINEWORKS_AUTH_URL=lineworks_sim.auth_url,
        LINEWORKS_CLIENT_ID="lw-client",
        LINEWORKS_CLIENT_SECRET=SecretStr("lw-secret"),
        LINEWORKS_REFRESH_TOKEN=SecretStr(lineworks_sim.refresh_token_for("lw-operator")),
        TASKBOT_SECRET_KEY=SecretStr(SECRET_KEY),
        LINEWORKS_RATE_LIMIT=LIMIT,
        LINEWORKS_RATE_WINDOW_SECONDS=WINDOW,
        PAYMO_API_URL=paymo_sim.url,
        PAYMO_API_KEY=SecretStr("paymo-key"),
        PAYMO_PROJECT_ID=7001,
        PAYMO_RATE_LIMIT=LIMIT,
        PAYMO_RATE_WINDOW_SECONDS=WINDOW,
    )
    context = multiprocessing.get_context("spawn")
    start, results = context.Barrier(WORKERS), context.Queue()
    workers = [
        context.Process(target=rate_workers.hammer, args=(settings, THREADS, CALLS, start, results))
        for _ in range(WORKERS)
    ]
    for worker in workers:
        worker.start()
    try:
        answers = [results.get(timeout=60) for _ in workers]
    finally:
        for worker in workers:
            worker.join(timeout=10)
            if worker.is_alive():
                worker.kill()
    assert [errors for _, errors in answers] == [[]] * WORKERS  # nothing failed that could wait
    assert sum(done for done, _ in answers) == 2 * WORKERS * THREADS * CALLS
    assert lineworks_sim.rejected == {} and paymo_sim.rejected == 0  # never over the limit
    assert lineworks_sim.peak["GET /users/{id}/tasks"] <= LIMIT
    assert paymo_sim.peak <= LIMIT


def test_a_pause_an_api_asked_one_process_for_holds_every_process_and_waits_are_bounded(
    database_url: str, paymo_sim: PaymoSimulator
) -> None:
    paymo_sim.limit = 1000
    instances = [make_engine(database_url) for _ in range(2)]
    try:
        one, other = (_client(paymo_sim, make_sessionmaker(e)) for e in instances)
        paymo_sim.rate_limit_next("GET", retry_after=30)
        with pytest.raises(BackendUnavailable, match="rate limited"):
            one.request("GET", "users", retries=0)
        asked = len(paymo_sim.calls())
        started = time.monotonic()
        with pytest.raises(BackendUnavailable, match=r"at its rate limit: .*about [23]\d s away"):
            other.request("GET", "users")  # waits at most 2 s: refused at once, not after 30
        assert time.monotonic() - started < 1.5
        assert len(paymo_sim.calls()) == asked  # the other process didn't ask Paymo at all
    finally:
        for engine in instances:
            engine.dispose()


def test_a_full_window_is_waited_for_within_the_bound_and_refused_past_it(
    sessions: sessionmaker[Session],
) -> None:
    with paymo_simulator("paymo-key") as strict:  # 2 calls a minute
        strict.limit, strict.decay = 2, 60
        client = _client(strict, sessions, rate=Rate(calls=2, seconds=60))
        client.request("GET", "users")
        client.request("GET", "users")
        with pytest.raises(BackendUnavailable, match="at its rate limit"):
            client.request("GET", "users")
        assert len(strict.calls()) == 2 and strict.rejected == 0
    with paymo_simulator("paymo-key") as quick:  # 1 call in 0.2 s
        quick.limit, quick.decay = 1, 0.2
        client = _client(quick, sessions, rate=Rate(calls=1, seconds=0.2), key="quick")
        client.request("GET", "users")
        client.request("GET", "users")  # waited for the window, well within its 2 s
        assert len(quick.calls()) == 2 and quick.rejected == 0


def test_the_limit_paymo_states_replaces_the_configured_one_in_every_process(
    database_url: str, paymo_sim: PaymoSimulator
) -> None:
    paymo_sim.limit, paymo_sim.decay = 3, 1.0  # stricter than the configured 100 a second
    instances = [make_engine(database_url) for _ in range(2)]
    clients = [
        _client(paymo_sim, make_sessionmaker(e), rate=Rate(calls=100, seconds=1), wait=30)
        for e in instances
    ]
    clients[0].request("GET", "users")  # the answer states 3 per 1 s
    start = threading.Barrier(4)
    errors: list[Exception] = []

    def hammer(client: paymo.ApiClient) -> None:
        start.wait()
        for _ in range(2):
            try:
                client.request("GET", "users")
            except Exception as exc:
                errors.append(exc)

    threads = [threading.Thread(target=hammer, args=(c,)) for c in clients for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for engine in instances:
        engine.dispose()
    assert errors == [] and paymo_sim.rejected == 0 and paymo_sim.peak <= 3


def _client(
    sim: PaymoSimulator,
    sessions: sessionmaker[Session],
    *,
    rate: Rate | None = None,
    key: str = "Paymo",
    wait: float = 2.0,
) -> paymo.ApiClient:
    return paymo.client(
        sim.url,
        "paymo-key",
        budget=SqlAlchemyRateBudget(sessions),
        rate=rate,
        key=key,
        wait=wait,
    )
