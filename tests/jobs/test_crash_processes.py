"""Acknowledged work survives SIGKILL, and several instances share one database.

Real ``taskbot web`` / ``taskbot worker`` / ``taskbot scheduler`` processes, signed requests over
HTTP, the Slack stub counting every message. Readiness is explicit: ``/livez`` for a web
process, the "worker ready" log line for a worker, the job rows for "all done". (The scheduler
killed mid-fan-out is tests/reminders/test_scheduler_processes.py.) The several-instance test
runs against the Paymo simulator with a small rate limit, whose counts show that the processes
together never exceed it.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from bot.domain.models import Status
from storage.engine import make_engine
from storage.job_ledger import DONE
from storage.tables import JobRow, TaskRow
from tests.slack_requests import SlackClient, slash_command
from tests.stubs.paymo_api import PaymoSimulator
from tests.stubs.slack_api import SlackApiStub, slack_stub

TEAM, TOKEN, SECRET = "T0CRASH", "xoxb-crash-test", "crash-signing-secret"
BOSS, ANA, BEN = "UBOSS", "UANA", "UBEN"
CHANNEL = "C0CRASH"
ROOT = Path(__file__).parent.parent.parent
PAYMO_IDS = {BOSS: 241100, ANA: 241185, BEN: 241186}
PAYMO_LIMIT, PAYMO_WINDOW = 3, 0.5  # small, so the budget binds; every process shares it


@pytest.fixture
def stub() -> Iterator[SlackApiStub]:
    with slack_stub() as slack:
        slack.add_team(TEAM, TOKEN)
        for user in (BOSS, ANA, BEN):
            slack.add_user(TEAM, user, tz="UTC", name=user.lower())
        yield slack


@dataclass
class Started:
    process: subprocess.Popen[bytes]
    log: Path
    is_ready: Callable[[], bool]
    client: SlackClient | None

    def ready(self) -> Started:
        _wait(self.is_ready, self.process, self.log, self.log.stem)
        return self


class Processes:
    """Starts taskbot roles as child processes and stops every one of them at the end."""

    def __init__(self, database_url: str, stub: SlackApiStub, tmp_path: Path) -> None:
        self.database_url, self.stub, self.tmp = database_url, stub, tmp_path
        self.started: list[tuple[subprocess.Popen[bytes], Path]] = []
        self.env: dict[str, str] = {}  # more settings for every process started from now on

    def _spawn(self, *args: str) -> tuple[subprocess.Popen[bytes], Path]:
        env = {
            "PATH": os.environ["PATH"],
            "HOME": os.environ.get("HOME", str(self.tmp)),
            "PYTHONPATH": str(ROOT),
            "SLACK_BOT_TOKEN": TOKEN,
            "SLACK_SIGNING_SECRET": SECRET,
            "SLACK_API_URL": self.stub.url,
            "DATABASE_URL": self.database_url,
            "JOB_LEASE_SECONDS": "1.5",
            "JOB_POLL_SECONDS": "0.1",
            "WORK_PROCESS": "false",
            "REMINDER_SWEEP_SECONDS": "0.5",
            **self.env,
        }
        log = self.tmp / f"{args[0]}-{len(self.started)}.log"
        with log.open("wb") as sink:  # the child keeps its own copy of the descriptor
            process = subprocess.Popen(
                [sys.executable, "-m", "bot", *args],
                cwd=self.tmp,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=sink,
            )
        self.started.append((process, log))
        return process, log

    def start(self, role: str) -> Started:
        """Start a role without waiting (several start in parallel); ``ready()`` waits."""
        if role != "web":
            process, log = self._spawn(role)
            line = b"worker ready" if role == "worker" else b"scheduler running"
            return Started(process, log, lambda: line in log.read_bytes(), None)
        port = _free_port()
        process, log = self._spawn("web", "--host", "127.0.0.1", "--port", str(port))
        base = f"http://127.0.0.1:{port}"
        return Started(process, log, lambda: _healthy(base), SlackClient(base, SECRET))

    def web(self) -> tuple[subprocess.Popen[bytes], SlackClient]:
        web = self.start("web").ready()
        assert web.client is not None
        return web.process, web.client

    def worker(self) -> subprocess.Popen[bytes]:
        return self.start("worker").ready().process

    def stop_all(self) -> list[str]:
        for process, _ in self.started:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        logs = []
        for process, log in self.started:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)
            logs.append(log.read_text(errors="replace"))
        return logs


@pytest.fixture
def processes(database_url: str, stub: SlackApiStub, tmp_path: Path) -> Iterator[Processes]:
    started = Processes(database_url, stub, tmp_path)
    try:
        yield started
    finally:
        started.stop_all()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _healthy(base: str) -> bool:
    try:
        return httpx.get(f"{base}/livez", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def _wait(
    ready: Callable[[], bool], process: subprocess.Popen[bytes], log: Path, what: str
) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"{what}: exited {process.returncode}\n{log.read_text()}")
        if ready():
            return
        time.sleep(0.05)
    raise AssertionError(f"{what}: not ready\n{log.read_text()}")


def add(client: SlackClient, stub: SlackApiStub, n: int) -> None:
    """``/task add`` by the boss, assigning Ana; acknowledged (200) before it returns."""
    request = slash_command(
        f"add Crate {n} <@{ANA}|ana>",
        user_id=BOSS,
        team_id=TEAM,
        channel_id=CHANNEL,
        response_url=stub.response_url_for(f"add-{n}"),
    )
    assert client.send(request).status_code == 200


def done(client: SlackClient, stub: SlackApiStub, n: int) -> None:
    request = slash_command(
        f"done T-{n}",
        user_id=ANA,
        team_id=TEAM,
        channel_id=CHANNEL,
        response_url=stub.response_url_for(f"done-{n}"),
    )
    assert client.send(request).status_code == 200


def wait_all_jobs_done(database_url: str, expected: int, timeout: float = 40) -> None:
    """Every job row written (commands and the notifications they caused) is done."""
    engine = make_engine(database_url)
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with engine.connect() as connection:
                states = Counter(connection.scalars(select(JobRow.state)))
            if sum(states.values()) >= expected and set(states) == {DONE}:
                return
            time.sleep(0.1)
        raise AssertionError(f"jobs not all done: {dict(states)}")
    finally:
        engine.dispose()


def titles(database_url: str) -> Counter[str]:
    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            return Counter(connection.scalars(select(TaskRow.title)))
    finally:
        engine.dispose()


def completed(database_url: str) -> int:
    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            return int(
                connection.scalar(
                    select(func.count(TaskRow.id)).where(TaskRow.status == Status.COMPLETED.value)
                )
                or 0
            )
    finally:
        engine.dispose()


def mentions(texts: list[str], n: int) -> int:
    return sum(bool(re.search(rf"Crate {n}\b", text)) for text in texts)


def assert_each_message_once(stub: SlackApiStub, count: int) -> None:
    """One card per task in the channel, one "assigned you" DM per task to Ana, and no
    notification mark twice anywhere."""
    cards = [str(m["text"]) for m in stub.messages(CHANNEL) if not m.get("thread_ts")]
    assigned = [str(m["text"]) for m in stub.messages(stub.dm_channel(ANA))]
    for n in range(1, count + 1):
        assert mentions(cards, n) == 1, (n, cards)
        assert mentions(assigned, n) == 1, (n, assigned)
    marks = Counter(
        (m.get("metadata") or {}).get("event_payload", {}).get("mark")
        for m in stub.messages()
        if m.get("metadata")
    )
    assert marks and max(marks.values()) == 1, [k for k, v in marks.items() if v > 1]


def test_web_killed_right_after_its_acks_loses_nothing(
    processes: Processes, stub: SlackApiStub, database_url: str
) -> None:
    web, worker = processes.start("web"), processes.start("worker")
    client = web.ready().client
    assert client is not None
    for n in range(1, 7):
        add(client, stub, n)
    web.process.kill()  # SIGKILL the moment the last ack is in: the rows alone carry the work
    web.process.wait(10)
    client.close()
    worker.ready()
    wait_all_jobs_done(database_url, 12)  # 6 commands, 6 notifications
    assert titles(database_url) == Counter({f"Crate {n}": 1 for n in range(1, 7)})
    assert_each_message_once(stub, 6)


def test_worker_killed_mid_job_is_taken_over_without_doubles(
    processes: Processes, stub: SlackApiStub, database_url: str
) -> None:
    stub.set_delay("chat.postMessage", 0.25)  # each message takes a while: the kill lands mid-job
    web, worker = processes.start("web"), processes.start("worker")
    client, first = web.ready().client, worker.ready().process
    assert client is not None
    spare = processes.start("worker")  # starts meanwhile; takes over once the leases expire
    for n in range(1, 7):
        add(client, stub, n)
    stub.wait_for("chat.postMessage", 3, timeout=30)
    first.kill()
    first.wait(10)
    assert len(stub.calls("chat.postMessage")) < 12  # 6 cards, 6 DMs: not all out yet
    spare.ready()
    wait_all_jobs_done(database_url, 12)
    client.close()
    assert titles(database_url) == Counter({f"Crate {n}": 1 for n in range(1, 7)})
    assert_each_message_once(stub, 6)
    assert stub.calls("conversations.history")  # the taken-over jobs looked before posting


@pytest.fixture
def paymo() -> Iterator[PaymoSimulator]:
    """Paymo refusing (429) every call over ``PAYMO_LIMIT`` in any ``PAYMO_WINDOW``."""
    simulator = PaymoSimulator("paymo-key", limit=PAYMO_LIMIT, decay=PAYMO_WINDOW).start()
    for user, number in PAYMO_IDS.items():
        simulator.add_user(number, f"{user.lower()}@example.com")  # the Slack stub's emails
    yield simulator
    simulator.stop()


@pytest.mark.parametrize(
    "database_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)
def test_two_webs_two_workers_and_a_scheduler_on_one_postgres(
    processes: Processes, stub: SlackApiStub, database_url: str, paymo: PaymoSimulator
) -> None:
    stub.set_delay("chat.postMessage", 0.1)
    processes.env = {
        "TASK_BACKEND": "paymo",
        "PAYMO_API_URL": paymo.url,
        "PAYMO_API_KEY": "paymo-key",
        "PAYMO_PROJECT_ID": "7001",
        "PAYMO_RATE_LIMIT": str(PAYMO_LIMIT),
        "PAYMO_RATE_WINDOW_SECONDS": str(PAYMO_WINDOW),
    }
    roles = ["web", "web", "worker", "worker", "scheduler"]
    started = [processes.start(role) for role in roles]  # all start at once
    for one in started:
        one.ready()
    webs = [one.client for one in started if one.client is not None]
    doomed = started[2].process
    count = 6
    for n in range(1, count + 1):
        add(webs[n % 2], stub, n)  # alternating between the web instances
    stub.wait_for("chat.postMessage", 3, timeout=30)
    doomed.kill()  # one worker dies mid-run; the other takes over its claims
    doomed.wait(10)
    wait_all_jobs_done(database_url, 2 * count)
    for n in range(1, count + 1):
        done(webs[n % 2], stub, n)
    wait_all_jobs_done(database_url, 4 * count)
    for client in webs:
        client.close()
    assert titles(database_url) == Counter({f"Crate {n}": 1 for n in range(1, count + 1)})
    assert completed(database_url) == count
    assert_each_message_once(stub, count)
    cards = [str(m["text"]) for m in stub.messages(CHANNEL) if not m.get("thread_ts")]
    assert all("— Completed" in text for text in cards), cards  # every card ends true
    boss = [str(m["text"]) for m in stub.messages(stub.dm_channel(BOSS))]
    for n in range(1, count + 1):  # Ana's part done, and the task completed: once each
        assert mentions(boss, n) == 2, (n, boss)
    tasks = sorted((t["name"], t["complete"]) for t in paymo.tasks.values())
    assert tasks == sorted((f"Crate {n}", True) for n in range(1, count + 1))
    assert len(paymo.calls()) > 2 * PAYMO_LIMIT  # enough calls for the shared budget to bind
    assert paymo.rejected == 0 and paymo.peak <= PAYMO_LIMIT  # never over it, in any window
