"""How fast taskbot acknowledges Slack, against a bare Bolt app on the same server stack.

Signed requests (half ``/task list``, half Done buttons) from C concurrent clients, each either
on one keep-alive connection or on a fresh connection per request (as Slack's many hosts do), to
server processes in turn (``bench/serve.py``): a bare Bolt app that only acks and taskbot on
SQLite, each on taskbot's HTTP front and on cheroot tuned; and the bare app on the server
taskbot had before (cheroot with its defaults) and on Bolt's own ``app.start()`` server. The
Slack Web API stub runs in a process of its own. Each measurement starts once every taskbot
server's worker has done the jobs queued so far, and measurements alternate in short rounds, so
neither app's figures carry the other's after-ack work or a different moment of a shared
machine.

    python -m bench.ack_latency [--requests 400] [--rounds 6] [--clients 8,50,100,200]
                                [--modes keep-alive,fresh] [--stacks front,cheroot-tuned,...]
                                [--slow-clients 120]  # slow-loris connections held meanwhile
                                [--delay S]   # also taskbot with a task backend this slow

Prints p50/p99/max, requests of 1 s or more, failed requests, and p99 relative to the bare app
on the same stack, with the machine's load before and after.

Targets (issue 11): taskbot p99 < 150 ms at 50 keep-alive clients; p99 ≤ 1.5 × the bare app on
the same stack; no request ≥ 1 s at 100 fresh-connection clients.
"""

from __future__ import annotations

import argparse
import http.client
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from slack_sdk.signature import SignatureVerifier

from bench.serve import SECRET, TEAM, USERS
from bot.slack import ids
from storage.engine import make_engine, make_sessionmaker
from storage.job_ledger import SqlAlchemyJobLedger
from tests.postgres import free_port
from tests.slack_requests import SlackRequest, block_action, slash_command

TIMEOUT = 5.0
STACKS = ["front", "cheroot-tuned", "cheroot", "bolt-dev"]
STACK_NAMES = {
    "front": "taskbot's front (uvicorn)",
    "cheroot-tuned": "cheroot tuned",
    "cheroot": "cheroot defaults (before)",
    "bolt-dev": "Bolt app.start()",
}


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


def signed(batch: list[SlackRequest]) -> list[tuple[bytes, dict[str, str]]]:
    """Bodies and headers, signed now (valid for 5 minutes), so clients only send."""
    verifier, stamp = SignatureVerifier(SECRET), str(int(time.time()))
    return [
        (
            request.body.encode(),
            {
                "Content-Type": request.content_type,
                "X-Slack-Request-Timestamp": stamp,
                "X-Slack-Signature": verifier.generate_signature(
                    timestamp=stamp, body=request.body
                ),
            },
        )
        for request in batch
    ]


@dataclass
class Result:
    latencies: list[float] = field(default_factory=list)
    errors: int = 0


def measure(
    port: int, batch: list[tuple[bytes, dict[str, str]]], clients: int, fresh: bool
) -> Result:
    """Closed loop: each client sends its next request as soon as the last is answered."""
    result, lock = Result(), threading.Lock()
    start = threading.Barrier(clients)

    def client(share: list[tuple[bytes, dict[str, str]]]) -> None:
        connection: http.client.HTTPConnection | None = None
        start.wait()
        for body, headers in share:
            began = time.perf_counter()
            try:
                if connection is None:
                    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT)
                connection.request(
                    "POST",
                    "/slack/events",
                    body,
                    {**headers, "Connection": "close"} if fresh else headers,
                )
                answer = connection.getresponse()
                answer.read()
                ok = answer.status == 200
                if fresh or answer.will_close:
                    connection.close()
                    connection = None
            except OSError:
                ok = False
                if connection is not None:
                    connection.close()
                connection = None
            elapsed = time.perf_counter() - began
            with lock:
                if ok:
                    result.latencies.append(elapsed)
                else:
                    result.errors += 1
        if connection is not None:
            connection.close()

    threads = [threading.Thread(target=client, args=(batch[i::clients],)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return result


def serve(args: list[str]) -> tuple[subprocess.Popen[str], str, int]:
    """Start ``bench.serve``; its URL (the stub says its own) and port."""
    port = free_port()
    root = Path(__file__).parent.parent
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.serve", "--port", str(port), *args],
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root)},
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,  # a killed worker's hang-ups, the dev server's chatter
        text=True,
    )
    assert process.stdout is not None
    for line in process.stdout:  # Bolt's dev server says hello on stdout too
        ready, _, url = line.strip().partition(" ")
        if ready == "READY":
            return process, url or f"http://127.0.0.1:{port}", port
    raise RuntimeError(f"benchmark server {args} did not start")


SETTLE_SECONDS = 300.0


def settle(ledger: SqlAlchemyJobLedger) -> None:
    """Wait until a taskbot's worker has done every job queued so far: each measurement starts
    from quiet servers, so none carries another's (or its own last round's) after-ack work."""
    if left := ledger.wait_finished(SETTLE_SECONDS):
        print(f"warning: {left} jobs still unfinished after {SETTLE_SECONDS:g} s", flush=True)


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def load() -> str:
    return "load average " + ", ".join(f"{x:.2f}" for x in os.getloadavg())


def servers(api_url: str, tmp: str, stacks: list[str], delay: float) -> dict[str, list[str]]:
    """Label → bench.serve arguments; labels are "<app> on <stack>"."""
    runs: dict[str, list[str]] = {}
    for stack in stacks:
        runs[f"bare on {stack}"] = ["--mode", "bare", "--server", stack, "--api-url", api_url]
        if stack in ("front", "cheroot-tuned"):
            db = f"sqlite:///{tmp}/{stack}.db"
            runs[f"taskbot on {stack}"] = [
                "--mode", "taskbot", "--server", stack, "--api-url", api_url, "--db", db,
            ]  # fmt: skip
            if delay:
                runs[f"taskbot {delay:g}s-backend on {stack}"] = [
                    *runs[f"taskbot on {stack}"][:-1], f"{db}-slow", "--delay", str(delay),
                ]  # fmt: skip
    return runs


HEADER = (
    f"{'mode':10} {'clients':>7} {'server':38} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}"
    f" {'>=1s':>5} {'failed':>6} {'p99/bare':>8}"
)


def row(table: dict[tuple[str, int, str], Result], mode: str, clients: int, label: str) -> str:
    result = table[mode, clients, label]
    stack = label.rsplit(" on ", 1)[1]
    bare = table.get((mode, clients, f"bare on {stack}"))
    p99 = percentile(result.latencies, 99)
    ratio = p99 / percentile(bare.latencies, 99) if bare and bare.latencies else float("nan")
    slow = sum(1 for value in result.latencies if value >= 1.0)
    name = label.replace(stack, STACK_NAMES[stack])
    return (
        f"{mode:10} {clients:7} {name:38} {percentile(result.latencies, 50) * 1e3:8.1f} "
        f"{p99 * 1e3:8.1f} {max(result.latencies, default=0) * 1e3:8.1f} {slow:5} "
        f"{result.errors:6} {ratio:8.2f}"
    )


class SlowLoris:
    """``count`` connections that each sent half a request head and then one byte every 2 s,
    held open while the benchmark runs (the issue's slow-client attack)."""

    def __init__(self, port: int, count: int) -> None:
        self._port, self._count = port, count
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> SlowLoris:
        if self._count:
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._count:
            self._thread.join()

    def _run(self) -> None:
        sockets = []
        for _ in range(self._count):
            try:
                sock = socket.create_connection(("127.0.0.1", self._port), timeout=2)
                sock.sendall(b"POST /slack/events HTTP/1.1\r\nHost: 127.0.0.1\r\n")
                sockets.append(sock)
            except OSError:
                pass
        while not self._stop.wait(2.0):
            for sock in list(sockets):
                try:
                    sock.sendall(b"X")
                except OSError:  # the server hung up on it: open another
                    sockets.remove(sock)
                    sock.close()
        for sock in sockets:
            sock.close()


def run(
    args: argparse.Namespace, stub_base: str, table: dict[tuple[str, int, str], Result]
) -> None:
    """Every stack in turn: its servers started, measured alternately, stopped."""
    counts = [int(c) for c in args.clients.split(",")]
    modes = args.modes.split(",")
    with tempfile.TemporaryDirectory() as tmp:
        for stack in args.stacks.split(","):
            runs = servers(f"{stub_base}/api/", tmp, [stack], args.delay)
            started = {label: serve(server_args) for label, server_args in runs.items()}
            engines = [  # each taskbot server's database, to see its jobs done
                make_engine(server_args[server_args.index("--db") + 1])
                for server_args in runs.values()
                if "--db" in server_args
            ]
            ledgers = [SqlAlchemyJobLedger(make_sessionmaker(engine)) for engine in engines]
            try:
                for mode in modes:
                    for clients in counts:
                        fresh = mode == "fresh"
                        count = max(args.requests, clients * 3)
                        for _ in range(args.rounds):  # alternate, so load drift hits all alike
                            for label, (_, _, port) in started.items():
                                batch = signed(requests(stub_base, count))
                                measure(port, batch[: clients * 2], clients, fresh)  # warm up
                                for ledger in ledgers:
                                    settle(ledger)
                                with SlowLoris(port, args.slow_clients):
                                    result = measure(port, batch, clients, fresh)
                                total = table.setdefault((mode, clients, label), Result())
                                total.latencies += result.latencies
                                total.errors += result.errors
                        for label in started:
                            print(row(table, mode, clients, label), flush=True)
            finally:
                for engine in engines:
                    engine.dispose()
                for process, _, _ in started.values():
                    process.terminate()  # the server drops its queued after-ack work
                    process.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=400, help="per measurement")
    parser.add_argument(  # short and many: the machine's drift hits both apps alike
        "--rounds", type=int, default=6, help="bare and taskbot alternate"
    )
    parser.add_argument("--clients", default="8,50,100,200")
    parser.add_argument("--modes", default="keep-alive,fresh")
    parser.add_argument("--stacks", default=",".join(STACKS))
    parser.add_argument("--delay", type=float, default=0.0)
    parser.add_argument("--slow-clients", type=int, default=0, help="slow-loris connections")
    args = parser.parse_args()
    print(f"before: {load()} ({os.cpu_count()} CPUs)")
    print(
        f"signed requests (half /task list, half Done), {args.rounds} x {args.requests} "
        f"(at least 3 per client) per row; {args.slow_clients} slow-loris connections"
    )
    print(HEADER, flush=True)
    stub, stub_base, _ = serve(["--mode", "stub"])
    table: dict[tuple[str, int, str], Result] = {}
    try:
        run(args, stub_base, table)
    finally:
        stub.terminate()
        stub.wait(timeout=10)
    print(f"after: {load()}")


if __name__ == "__main__":
    main()
