"""Soak: 2 ``taskbot web`` and 2 ``taskbot worker`` processes on one PostgreSQL, mixed requests.

``python -m bench.soak [--requests 3000] [--concurrency 16] [--db URL]`` starts a throwaway
PostgreSQL (unless ``--db``), the Slack stub in this process, and the four taskbot processes;
sends signed slash commands alternating between the web instances (half ``add`` with an
assignee, a quarter ``done`` on an earlier task, a quarter ``list``); waits until every job is
finished; and prints throughput, ack latency, jobs lost (acknowledged requests without a finished
job) and duplicates (a task twice, a notification message twice, a job failed).
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from sqlalchemy import func, select

from storage.engine import make_engine
from storage.job_ledger import CLAIMED, DONE, FAILED, PENDING
from storage.migrate import upgrade_engine
from storage.tables import JobRow, TaskRow
from tests.postgres import Cluster, free_port
from tests.slack_requests import SlackClient, slash_command
from tests.stubs.slack_api import SlackApiStub, slack_stub

TEAM, TOKEN, SECRET = "T0SOAK", "xoxb-soak", "soak-secret"
USERS = [f"U{i:04d}" for i in range(50)]
ROOT = Path(__file__).parent.parent
STALL = 120.0
"""Seconds without a job finishing after which the soak stops waiting and counts."""


def spawn(
    role: str, db: str, stub: SlackApiStub, folder: Path, *args: str
) -> subprocess.Popen[bytes]:
    env = {
        "PATH": os.environ["PATH"],
        "HOME": os.environ.get("HOME", str(folder)),
        "PYTHONPATH": str(ROOT),
        "SLACK_BOT_TOKEN": TOKEN,
        "SLACK_SIGNING_SECRET": SECRET,
        "SLACK_API_URL": stub.url,
        "DATABASE_URL": db,
        "WORK_PROCESS": "false",
        "LOG_LEVEL": "WARNING",
    }
    with (folder / f"{role}-{time.monotonic_ns()}.log").open("wb") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "bot", role, *args],
            cwd=folder,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )


def wait_healthy(base: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"a web process exited ({process.returncode})")
        try:
            if httpx.get(f"{base}/livez", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise SystemExit("a web process did not become healthy")


def job_states(db: str) -> Counter[str]:
    engine = make_engine(db)
    try:
        with engine.connect() as connection:
            return Counter(connection.scalars(select(JobRow.state)))
    finally:
        engine.dispose()


def run(db: str, requests: int, concurrency: int) -> None:
    engine = make_engine(db)
    upgrade_engine(engine)
    engine.dispose()
    with slack_stub() as stub, tempfile.TemporaryDirectory() as folder:
        stub.add_team(TEAM, TOKEN)
        for user in USERS:
            stub.add_user(TEAM, user, tz="UTC")
        ports = [free_port(), free_port()]
        processes = [
            spawn("web", db, stub, Path(folder), "--host", "127.0.0.1", "--port", str(port))
            for port in ports
        ]
        processes += [spawn("worker", db, stub, Path(folder)) for _ in range(2)]
        bases = [f"http://127.0.0.1:{port}" for port in ports]
        try:
            for base, process in zip(bases, processes, strict=False):
                wait_healthy(base, process)
            soak(db, stub, bases, requests, concurrency)
        finally:
            for process in processes:
                process.send_signal(signal.SIGTERM)
            for process in processes:
                try:
                    process.wait(30)
                except subprocess.TimeoutExpired:
                    process.kill()


def soak(db: str, stub: SlackApiStub, bases: list[str], requests: int, concurrency: int) -> None:
    local = threading.local()
    added = Counter[int]()
    lock = threading.Lock()
    rng = random.Random(7)
    plan = [rng.random() for _ in range(requests)]

    def send(i: int) -> tuple[float, bool, str]:
        clients = getattr(local, "clients", None)
        if clients is None:
            clients = local.clients = [SlackClient(base, SECRET) for base in bases]
        user = USERS[i % len(USERS)]
        if plan[i] < 0.5:
            kind, text = "add", f"add Soak {i} <@{USERS[(i + 1) % len(USERS)]}|x>"
            with lock:
                added[i] = 1
        elif plan[i] < 0.75:
            kind, text = "done", f"done T-{max(1, i // 4)}"
        else:
            kind, text = "list", "list"
        request = slash_command(
            text,
            user_id=user,
            team_id=TEAM,
            channel_id="C0SOAK",
            response_url=stub.response_url_for(f"r{i}"),
        )
        started = time.perf_counter()
        answer = clients[i % 2].send(request)
        return time.perf_counter() - started, answer.status_code == 200, kind

    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        results = list(pool.map(send, range(requests)))
    sent = time.perf_counter() - started
    acked = sum(ok for _, ok, _ in results)
    latencies = sorted(t for t, _, _ in results)
    # Until every job is finished, or none has finished for STALL seconds: on a loaded machine
    # the workers drain 30,000 jobs long after the last ack, and a job still queued is late,
    # not lost (a fixed deadline once counted thousands of queued jobs as lost).
    finished, progress = -1, time.monotonic()
    while time.monotonic() - progress < STALL:
        states = job_states(db)
        if not states[PENDING] and not states[CLAIMED]:
            break
        if states[DONE] + states[FAILED] != finished:
            finished, progress = states[DONE] + states[FAILED], time.monotonic()
        time.sleep(0.5)
    drained = time.perf_counter() - started
    engine = make_engine(db)
    with engine.connect() as connection:
        commands = int(
            connection.scalar(
                select(func.count(JobRow.id)).where(JobRow.kind == "command", JobRow.state == DONE)
            )
            or 0
        )
        titles = Counter(connection.scalars(select(TaskRow.title)))
    engine.dispose()
    marks = Counter(
        (m.get("metadata") or {}).get("event_payload", {}).get("mark")
        for m in stub.messages()
        if m.get("metadata")
    )
    states = job_states(db)
    print(f"requests {requests}, concurrency {concurrency}, 2 web + 2 workers on PostgreSQL")
    print(f"acked {acked} in {sent:.1f} s: {requests / sent:.0f} requests/s")
    print(
        f"ack latency p50 {latencies[len(latencies) // 2] * 1000:.0f} ms, "
        f"p99 {latencies[int(len(latencies) * 0.99)] * 1000:.0f} ms, "
        f"max {latencies[-1] * 1000:.0f} ms"
    )
    print(f"all jobs finished {drained:.1f} s after the first request; states {dict(states)}")
    print(
        f"jobs lost: {acked - commands} (acknowledged commands without a finished job; "
        f"{states[PENDING] + states[CLAIMED]} of them still queued or running when it stopped "
        f"waiting)"
    )
    print(
        "duplicates: "
        f"tasks {sum(n - 1 for n in titles.values() if n > 1)} "
        f"(made {sum(titles.values())} of {sum(added.values())} adds), "
        f"notification messages {sum(n - 1 for n in marks.values() if n > 1)}, "
        f"failed jobs {states[FAILED]}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--db", default=None, help="a PostgreSQL URL (default: a throwaway one)")
    args = parser.parse_args()
    if args.db:
        run(args.db, args.requests, args.concurrency)
        return
    cluster = Cluster().start()
    try:
        run(cluster.url, args.requests, args.concurrency)
    finally:
        cluster.stop()


if __name__ == "__main__":
    main()
