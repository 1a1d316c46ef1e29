"""Memory of ``taskbot run``: the RSS (and PSS) of every process it runs, at idle and after
10,000 signed requests (half ``/task list``, half Done buttons, 8 keep-alive clients), once the
after-ack work they caused has drained.

    python -m bench.rss [--requests 10000] [--clients 8]

The real ``python -m bot run`` on SQLite, its Slack Web API a stub in this process. Target
(issue 11): under 150 MB for all processes of ``taskbot run`` together.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from bench.ack_latency import load, measure, percentile, requests, signed
from bench.serve import SECRET, TEAM, TOKEN, USERS, seed
from storage.engine import make_engine
from tests.postgres import free_port
from tests.stubs.slack_api import SlackApiStub, slack_stub


def family(root: int) -> list[int]:
    """``root`` and every process below it, from /proc."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, frontier = [root], [root]
    while frontier:
        frontier = [pid for pid, parent in parents.items() if parent in frontier]
        found += frontier
    return found


def memory(pid: int) -> tuple[str, float, float]:
    """Name, RSS and PSS in MB."""
    cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    name = " ".join(part.decode() for part in cmdline[1:4] if part)[:60]
    status = Path(f"/proc/{pid}/status").read_text()
    rss = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS"))
    rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
    pss = next(int(line.split()[1]) for line in rollup.splitlines() if line.startswith("Pss:"))
    return name, rss / 1024, pss / 1024


def report(title: str, root: int) -> None:
    rows = [memory(pid) for pid in family(root)]
    print(f"{title} ({load()})")
    for name, rss, pss in rows:
        print(f"  {name:60} RSS {rss:6.1f} MB  PSS {pss:6.1f} MB")
    rss, pss = sum(r[1] for r in rows), sum(r[2] for r in rows)
    print(f"  {'all ' + str(len(rows)) + ' processes':60} RSS {rss:6.1f} MB  PSS {pss:6.1f} MB")


def settle(stub: SlackApiStub, quiet: float = 2.0, limit: float = 120.0) -> None:
    """Until the stub has seen no new Web API call or response_url post for ``quiet`` s."""
    deadline, last, since = time.monotonic() + limit, -1, time.monotonic()
    while time.monotonic() < deadline:
        seen = len(stub.calls()) + len(stub.responses())
        if seen != last:
            last, since = seen, time.monotonic()
        elif time.monotonic() - since >= quiet:
            return
        time.sleep(0.2)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--env", action="append", default=[], help="KEY=VALUE for taskbot run")
    args = parser.parse_args()
    root = Path(__file__).parent.parent
    with slack_stub() as stub, tempfile.TemporaryDirectory() as tmp:
        stub.add_team(TEAM, TOKEN)
        for user in USERS:
            stub.add_user(TEAM, user)
        db = f"sqlite:///{tmp}/rss.db"
        seed(make_engine(db))
        port = free_port()
        env = {
            **{k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")},
            "PYTHONPATH": str(root),
            "SLACK_BOT_TOKEN": TOKEN,
            "SLACK_SIGNING_SECRET": SECRET,
            "SLACK_API_URL": stub.url,
            "DATABASE_URL": db,
            "LOG_LEVEL": "WARNING",
            **dict(item.split("=", 1) for item in args.env),
        }
        process = subprocess.Popen(
            [sys.executable, "-m", "bot", "run", "--host", "127.0.0.1", "--port", str(port)],
            cwd=tmp,
            env=env,
        )
        try:
            while True:  # a benchmark may poll: the server is up once /healthz answers
                try:
                    httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
                    break
                except httpx.TransportError:
                    if process.poll() is not None:
                        raise RuntimeError("taskbot run exited") from None
                    time.sleep(0.1)
            settle(stub)
            report("idle", process.pid)
            started = time.perf_counter()
            done = 0
            while done < args.requests:  # in slices, so signatures stay fresh
                count = min(2000, args.requests - done)
                batch = signed(requests(stub.base, count))
                result = measure(port, batch, args.clients, fresh=False)
                done += count
            elapsed = time.perf_counter() - started
            print(
                f"{done} requests in {elapsed:.1f} s ({done / elapsed:.0f}/s); last slice p99 "
                f"{percentile(result.latencies, 99) * 1e3:.1f} ms, failed {result.errors}"
            )
            settle(stub)
            report(f"after {done} requests, after-ack work drained", process.pid)
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=30)


if __name__ == "__main__":
    main()
