"""One server process for the ack benchmark: taskbot (optionally with a slow backend) or a bare
Bolt app that only acks, on one of several HTTP stacks. Prints READY, stops on SIGTERM.

    python -m bench.serve --mode taskbot|bare --port P --api-url URL --db sqlite:///… [--delay S]
                          [--server front|cheroot|cheroot-tuned|bolt-dev]
    python -m bench.serve --mode stub            # prints READY <base URL of the Slack stub>

Stacks: ``front`` is taskbot's HTTP front (``bot.web.server``, uvicorn); ``cheroot`` is the
server taskbot had before (cheroot with its defaults: backlog 5, 32 threads); ``cheroot-tuned``
is cheroot with a 2048 backlog, 64 threads and a 1 MB body limit; ``bolt-dev`` is Bolt's own
``app.start()`` (http.server; bare app only).
"""

from __future__ import annotations

import argparse
import gc
import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from datetime import datetime
from functools import partial

from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler
from sqlalchemy import Engine

from bot.backends.local import LocalBackend
from bot.bootstrap import ServedWorker, build_app
from bot.config import Settings
from bot.domain.models import Assignee, Task, TaskDraft, TaskQuery
from bot.service.ports import TaskBackend
from bot.slack import ids
from bot.slack.clients import make_client
from bot.web.server import HttpServer, Router
from bot.work_process import WorkerProcess
from storage.engine import make_engine, make_sessionmaker
from storage.migrate import upgrade_engine
from tests.stubs.slack_api import slack_stub

TEAM, TOKEN, SECRET = "T0BENCH", "xoxb-bench", "bench-secret"
USERS = [f"U{i:04d}" for i in range(20)]
SEEDED_TASKS = 50


class DelayedBackend:
    """The embedded backend behind a fixed per-call delay: a slow task API."""

    def __init__(self, inner: LocalBackend, delay: float) -> None:
        self._inner, self._delay = inner, delay
        self.name, self.capabilities = "delayed", inner.capabilities

    def create(self, draft: TaskDraft, now: datetime) -> Task:
        time.sleep(self._delay)
        return self._inner.create(draft, now)

    def get(self, team_id: str, handle: str) -> Task:
        time.sleep(self._delay)
        return self._inner.get(team_id, handle)

    def save(self, task: Task, expected_version: int) -> Task:
        time.sleep(self._delay)
        return self._inner.save(task, expected_version)

    def delete(self, team_id: str, handle: str, expected_version: int) -> None:
        time.sleep(self._delay)
        self._inner.delete(team_id, handle, expected_version)

    def list(self, query: TaskQuery) -> list[Task]:
        time.sleep(self._delay)
        return self._inner.list(query)

    def find_user_by_email(self, team_id: str, email: str) -> str | None:
        return None


class CherootServer:
    """``bot.web.server.HttpServer``'s interface on cheroot, for the comparison only."""

    def __init__(self, routes: dict, port: int, *, tuned: bool) -> None:  # type: ignore[type-arg]
        from cheroot import wsgi

        options = {"numthreads": 64, "request_queue_size": 2048} if tuned else {"numthreads": 32}
        self._server = wsgi.Server(("127.0.0.1", port), Router(routes), **options)
        if tuned:
            self._server.max_request_body_size = 1_000_000

    def start(self) -> None:
        self._server.prepare()
        threading.Thread(target=self._server.serve, daemon=True).start()

    def stop(self) -> None:
        self._server.stop()


def bare_app(api_url: str) -> App:
    app = App(client=make_client(TOKEN, api_url), signing_secret=SECRET)

    @app.command(ids.COMMAND)
    def on_command(ack: Callable[..., None]) -> None:
        ack()

    @app.action(ids.ACTION_DONE)
    def on_done(ack: Callable[..., None]) -> None:
        ack()

    return app


def bare_routes(api_url: str) -> dict[tuple[str, str], SlackRequestHandler]:
    return {("POST", "/slack/events"): SlackRequestHandler(bare_app(api_url))}


def backend_for(engine: Engine, delay: float) -> TaskBackend:
    local = LocalBackend(make_sessionmaker(engine))
    return DelayedBackend(local, delay) if delay else local


def serve_worker(settings: Settings, *, delay: float, threads: int | None) -> ServedWorker:
    """The worker process: a taskbot worker on the delayed backend (module-level, so it can be
    sent to the worker process)."""
    engine = make_engine(settings.DATABASE_URL)
    app = build_app(
        settings.model_copy(update={"JOB_WORKER_THREADS": threads}) if threads else settings,
        engine=engine,
        backend=backend_for(engine, delay),
        migrate=False,
        token_verification=False,
        front=False,  # as ``taskbot run``'s worker process: no Bolt app
    )
    return ServedWorker(app)


def seed(engine: Engine) -> LocalBackend:
    """Migrate, and create ``SEEDED_TASKS`` tasks assigned to the first three users."""
    upgrade_engine(engine)
    local = LocalBackend(make_sessionmaker(engine))
    now = datetime.now().astimezone()
    for i in range(SEEDED_TASKS):
        assignees = tuple(Assignee.user(u) for u in USERS[:3])
        local.create(
            TaskDraft(team_id=TEAM, assignor=USERS[0], title=f"t{i}", assignees=assignees), now
        )
    return local


def taskbot_app(
    api_url: str, db: str, delay: float, workers: int | None, work_process: bool
) -> tuple[dict, Callable[[], None]]:  # type: ignore[type-arg]
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        SLACK_BOT_TOKEN=TOKEN,  # type: ignore[arg-type]
        SLACK_SIGNING_SECRET=SECRET,  # type: ignore[arg-type]
        SLACK_API_URL=api_url,
        DATABASE_URL=db,
    )
    engine = make_engine(db)
    local = seed(engine)
    backend = DelayedBackend(local, delay) if delay else local
    worker = (
        WorkerProcess(settings, partial(serve_worker, delay=delay, threads=workers))
        if work_process
        else None
    )
    if worker is not None and not worker.wait_ready(60):
        raise RuntimeError("the worker process did not start")
    app = build_app(
        settings,
        engine=engine,
        backend=backend,
        migrate=False,
        worker=worker is None,
    )
    if worker is not None:
        app.intake.after_commit = worker.wake

    def close() -> None:
        if worker is not None:  # queued after-ack work is irrelevant here
            worker.kill()
        app.slack.close(wait=False)

    return app.routes(), close


def serve_stub(stop: threading.Event) -> None:
    """The Slack Web API stub in a process of its own at low CPU priority, so answering the
    servers' calls slows neither the benchmark's clients nor the server measured (Slack's API
    runs on Slack's machines in real life)."""
    os.nice(15)
    with slack_stub() as stub:
        stub.add_team(TEAM, TOKEN)
        for user in USERS:
            stub.add_user(TEAM, user)
        print(f"READY {stub.base}", flush=True)
        stop.wait()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mode", choices=["taskbot", "bare", "stub"], required=True)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--api-url", default="")
    parser.add_argument("--db", default="sqlite://")
    parser.add_argument("--delay", type=float, default=0.0)
    parser.add_argument("--switch", type=float, default=None)
    parser.add_argument(
        "--workers", type=int, default=None, help="job threads (default: JOB_WORKER_THREADS's)"
    )
    parser.add_argument(
        "--server", choices=["front", "cheroot", "cheroot-tuned", "bolt-dev"], default="front"
    )
    parser.add_argument(
        "--threads-only", action="store_true", help="after-ack work on threads in the server"
    )
    args = parser.parse_args()
    if args.switch:
        import sys

        sys.setswitchinterval(args.switch)
    logging.basicConfig(level=logging.CRITICAL)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    if args.mode == "stub":
        serve_stub(stop)
        return
    if args.server == "bolt-dev":
        from slack_bolt.app.app import SlackAppDevelopmentServer  # what app.start() runs

        app = bare_app(args.api_url)
        dev = SlackAppDevelopmentServer(
            port=args.port, path="/slack/events", app=app, http_server_logger_enabled=False
        )  # bound and listening from here
        threading.Thread(target=dev.start, daemon=True).start()
        print("READY", flush=True)
        stop.wait()
        return
    if args.mode == "bare":
        routes, close = bare_routes(args.api_url), (lambda: None)
    else:
        routes, close = taskbot_app(
            args.api_url, args.db, args.delay, args.workers, work_process=not args.threads_only
        )
    server: HttpServer | CherootServer
    if args.server == "front":
        server = HttpServer(routes, host="127.0.0.1", port=args.port)
    else:
        server = CherootServer(routes, args.port, tuned=args.server == "cheroot-tuned")
    server.start()
    gc.freeze()  # as ``taskbot run`` does: start-up objects are never collected
    print("READY", flush=True)
    stop.wait()
    server.stop()
    close()


if __name__ == "__main__":
    main()
