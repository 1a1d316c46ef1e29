"""How fast taskbot acknowledges Slack, against a bare Bolt app on the same server stack.

N signed requests (half ``/task list``, half Done buttons) from C concurrent clients to three
server processes in turn (``bench/serve.py``): a bare Bolt app that only acks, taskbot on SQLite,
and taskbot whose task backend takes 2.5 s per call. Each talks to a local Slack Web API stub,
which runs in a process of its own.
Prints p50/p99/max and p99 relative to the bare app.

    python -m bench.ack_latency [--requests 400] [--concurrency 8] [--delay 2.5]

Targets (issue 3): taskbot p99 ≤ 1.5 × the bare app; p99 < 300 ms with the 2.5 s backend.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bench.serve import SECRET, TEAM, USERS
from bot.slack import ids
from tests.postgres import free_port
from tests.slack_requests import SlackClient, SlackRequest, block_action, slash_command


def requests(stub_base: str, count: int) -> list[SlackRequest]:
    made = []
    for i in range(count):
        user = USERS[1 + i % 3]  # an assignee of the seeded tasks
        url = f"{stub_base}/respond/bench"
        if i % 2:
            made.append(
                slash_command(
                    "list", user_id=user, team_id=TEAM, channel_id="C0B", response_url=url
                )
            )
        else:
            value = ids.encode_ref(f"T-{1 + i % 50}", 1)
            made.append(
                block_action(ids.ACTION_DONE, value, user_id=user, team_id=TEAM, response_url=url)
            )
    return made


def measure(
    base_url: str, batch: list[SlackRequest], concurrency: int, rate: float | None = None
) -> list[float]:
    """Closed loop (each client sends its next request at once) or, with ``rate``, requests
    started on a fixed schedule of ``rate`` per second across the clients."""
    local = threading.local()
    start = time.perf_counter() + 0.5

    def send(item: tuple[int, SlackRequest]) -> float:
        index, request = item
        if not hasattr(local, "client"):
            local.client = SlackClient(base_url, SECRET)
        if rate:
            time.sleep(max(0.0, start + index / rate - time.perf_counter()))
        started = time.perf_counter()
        answer = local.client.send(request)
        elapsed = time.perf_counter() - started
        if answer.status_code != 200:
            raise RuntimeError(f"HTTP {answer.status_code}: {answer.text[:200]}")
        return elapsed

    with ThreadPoolExecutor(concurrency) as pool:
        warm = [(0, r) for r in batch[: concurrency * 2]]
        list(pool.map(lambda item: send((item[0], item[1])), warm if not rate else []))
        start = time.perf_counter() + 0.5
        return list(pool.map(send, enumerate(batch)))


def serve(args: list[str]) -> tuple[subprocess.Popen[str], str]:
    """Start ``bench.serve``; its URL (the stub says its own)."""
    port = free_port()
    root = Path(__file__).parent.parent
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.serve", "--port", str(port), *args],
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root)},
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL if "stub" in args else None,  # a killed worker's hang-ups
        text=True,
    )
    assert process.stdout is not None
    ready, _, url = process.stdout.readline().strip().partition(" ")
    if ready != "READY":
        raise RuntimeError("benchmark server did not start")
    return process, url or f"http://127.0.0.1:{port}"


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--delay", type=float, default=2.5)
    parser.add_argument("--rate", type=float, default=None, help="paced requests per second")
    parser.add_argument("--extra", nargs="*", default=[], help="more bench.serve arguments")
    args = parser.parse_args()
    results: dict[str, list[float]] = {}
    stub, stub_base = serve(["--mode", "stub"])
    api_url = f"{stub_base}/api/"
    with tempfile.TemporaryDirectory() as tmp:
        batch = requests(stub_base, args.requests)
        runs = {
            "bare Bolt app": ["--mode", "bare", "--api-url", api_url],
            "taskbot (SQLite)": [
                "--mode",
                "taskbot",
                "--api-url",
                api_url,
                "--db",
                f"sqlite:///{tmp}/a.db",
            ],
            f"taskbot ({args.delay:g} s backend)": [
                "--mode",
                "taskbot",
                "--api-url",
                api_url,
                "--db",
                f"sqlite:///{tmp}/b.db",
                "--delay",
                str(args.delay),
            ],
        }
        for label, server_args in runs.items():
            process, url = serve(server_args + (args.extra if "taskbot" in label else []))
            try:
                results[label] = measure(url, batch, args.concurrency, args.rate)
            finally:
                process.terminate()  # the server drops its queued after-ack work
                process.wait(timeout=30)
    stub.terminate()
    stub.wait(timeout=10)
    print(
        f"{args.requests} signed requests (half /task list, half Done), "
        f"{args.concurrency} concurrent clients; each server in its own process"
    )
    bare = percentile(results["bare Bolt app"], 99)
    print(f"{'':30} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'p99/bare':>9}")
    for label, values in results.items():
        p50, p99 = percentile(values, 50), percentile(values, 99)
        worst = max(values)
        print(f"{label:30} {p50 * 1e3:8.1f} {p99 * 1e3:8.1f} {worst * 1e3:8.1f} {p99 / bare:9.2f}")


if __name__ == "__main__":
    main()
