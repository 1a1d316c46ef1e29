"""``taskbot``: run the bot (or one role of it: web, worker, scheduler), upgrade the database or
re-seal secrets.

Settings problems print one line each and exit with code 2; SIGTERM or Ctrl-C stops cleanly
(requests in flight finished, scheduler shut down) within 10 seconds.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import logging
import os
import signal
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from types import FrameType

from bot.config import KeySettings, Settings, SettingsError, load_key_settings, load_settings
from bot.logs import configure_logging

log = logging.getLogger("taskbot")
EXIT_SETTINGS = 2


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="taskbot", description="Slack front end for task assignment."
    )
    commands = top.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="the bot and its scheduler in one process")
    run.add_argument("--port", type=int, default=3000, help="HTTP port (default 3000)")
    run.add_argument("--host", default="0.0.0.0", help="address to listen on (default 0.0.0.0)")
    run.add_argument("--no-scheduler", action="store_true", help="run without the scheduler")
    commands.add_parser("scheduler", help="the scheduler alone")
    web = commands.add_parser("web", help="verify, persist and ack Slack requests (no jobs run)")
    web.add_argument("--port", type=int, default=3000, help="HTTP port (default 3000)")
    web.add_argument("--host", default="0.0.0.0", help="address to listen on (default 0.0.0.0)")
    commands.add_parser("worker", help="run the jobs web processes persisted")
    users = commands.add_parser("users", help="bulk links of Slack users to task-system ids")
    actions = users.add_subparsers(dest="action", required=True)
    load = actions.add_parser("import", help="links from a CSV: team, slack, backend, assignee_id")
    load.add_argument("file", help="CSV file (UTF-8); slack is a user id, group id or email")
    load.add_argument("--partial", action="store_true", help="write the good rows of a bad file")
    actions.add_parser("export", help="every link as CSV on standard output")
    keys = commands.add_parser("secrets", help="the keys that seal stored tokens")
    keys.add_argument(
        "action",
        choices=["rotate"],
        help="re-seal every stored token with TASKBOT_SECRET_KEY (TASKBOT_SECRET_KEY_OLD reads)",
    )
    db = commands.add_parser("db", help="database maintenance")
    db.add_argument("action", choices=["upgrade"], help="apply migrations")
    return top


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        if args.command == "db":
            settings_for_db = _database_url()
            configure_logging("INFO")
            from storage.migrate import upgrade

            upgrade(settings_for_db)
            print("database is up to date")
            return 0
        if args.command == "secrets":
            return _rotate(load_key_settings())
        settings = load_settings()
    except SettingsError as error:
        print("taskbot can't start; please set:", file=sys.stderr)
        for line in error.lines:
            print(f"  - {line}", file=sys.stderr)
        print("(environment variables, or a .env file in this folder)", file=sys.stderr)
        return EXIT_SETTINGS
    configure_logging(settings.LOG_LEVEL, settings.LOG_FORMAT)
    if args.command == "scheduler":
        return _scheduler(settings)
    if args.command == "worker":
        return _worker(settings)
    if args.command == "web":
        return _run(settings, args.host, args.port, with_scheduler=False, with_worker=False)
    if args.command == "users":
        return _users(settings, args.action, getattr(args, "file", None), args.__dict__)
    return _run(settings, args.host, args.port, with_scheduler=not args.no_scheduler)


def _users(settings: Settings, action: str, path: str | None, options: dict[str, object]) -> int:
    from pathlib import Path
    from typing import get_args

    from bot.backends import build_backend
    from bot.config import BackendName
    from bot.domain.errors import DomainError
    from bot.domain.models import BackendCapabilities
    from bot.service.link_import import LinkImport, decode, export
    from bot.slack.clients import make_client
    from bot.slack.directory import SlackDirectory
    from storage.engine import make_engine, make_sessionmaker
    from storage.migrate import SchemaError, prepare_schema
    from storage.user_map import SqlAlchemyUserMap

    engine = make_engine(settings.DATABASE_URL)
    try:
        prepare_schema(engine, migrate=settings.MIGRATE_ON_START)
    except SchemaError as exc:
        engine.dispose()
        print(f"taskbot can't start: {exc}", file=sys.stderr)
        return 1
    sessions = make_sessionmaker(engine)
    store = SqlAlchemyUserMap(sessions)
    try:
        if action == "export":
            sys.stdout.write(export(store.list_all()))
            return 0
        backend = build_backend(settings.TASK_BACKEND, sessions=sessions, settings=settings)

        def capabilities(name: str) -> BackendCapabilities | None:
            if name == backend.name:
                return backend.capabilities
            return BackendCapabilities() if name in get_args(BackendName) else None

        token = settings.SLACK_BOT_TOKEN.get_secret_value() if settings.SLACK_BOT_TOKEN else None
        directory = SlackDirectory(lambda team: make_client(token, settings.SLACK_API_URL))
        assert path is not None
        try:
            text = decode(Path(path).read_bytes())
            report = LinkImport(store, directory, _utc_now, capabilities).run(
                text, partial=bool(options.get("partial"))
            )
        except OSError as exc:
            print(f"can't read {path}: {exc.strerror}", file=sys.stderr)
            return EXIT_SETTINGS
        except DomainError as exc:
            print(exc.message, file=sys.stderr)
            return EXIT_SETTINGS
        for line, why in report.problems:
            print(f"line {line}: {why}", file=sys.stderr)
        if report.problems and not report.written:
            print(
                f"nothing written: {len(report.problems)} bad row(s); fix them, or "
                "use --partial to write the good rows",
                file=sys.stderr,
            )
            return 1
        print(f"linked {report.written} row(s)")
        return 1 if report.problems else 0
    finally:
        engine.dispose()


def _rotate(settings: KeySettings) -> int:
    """Re-seal every stored token with the current key; needs only the store and the keys."""
    from bot.keys import Keys, UnreadableSecret
    from storage.engine import make_engine, make_sessionmaker
    from storage.migrate import upgrade_engine
    from storage.oauth_tokens import SqlAlchemyOAuthTokens

    configure_logging("INFO")
    keys = Keys(*settings.keys)

    def reseal(sealed: str) -> str | None:
        try:
            return keys.reseal(sealed)
        except UnreadableSecret:
            return None

    engine = make_engine(settings.DATABASE_URL)
    try:
        upgrade_engine(engine)
        done, unreadable = SqlAlchemyOAuthTokens(make_sessionmaker(engine)).reseal_all(reseal)
    finally:
        engine.dispose()
    print(f"re-sealed {done} stored token set(s) with TASKBOT_SECRET_KEY")
    if unreadable:
        print(
            f"{unreadable} token set(s) could not be read with TASKBOT_SECRET_KEY or "
            "TASKBOT_SECRET_KEY_OLD and were left as they are (those people must link again)",
            file=sys.stderr,
        )
        return 1
    return 0


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _database_url() -> str:
    """``db upgrade`` needs only DATABASE_URL, not the Slack settings."""
    from dotenv import dotenv_values  # shipped with pydantic-settings

    return os.environ.get("DATABASE_URL") or str(
        dotenv_values(".env").get("DATABASE_URL") or Settings.model_fields["DATABASE_URL"].default
    )


def _cannot_start(exc: BaseException) -> int:
    """One line on stderr saying what failed (Slack, the database, the port, the worker)."""
    reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    print(f"taskbot can't start: {reason}", file=sys.stderr)
    return 1


class StopSignal:
    """SIGTERM or Ctrl-C makes ``wait`` return. Installed before a process says it is running,
    so a signal right after that line still stops it cleanly.

    The handler only writes a byte to a pipe that ``wait`` reads: Python runs handlers in the main
    thread between any two bytecodes, so one that took a lock (``Event.set``) or wrote a log line
    could land inside ``Event.wait`` or a log write holding that same lock or stream, and hang or
    fail without ever stopping the process."""

    def __init__(self) -> None:
        self._read, self._write = os.pipe()
        os.set_blocking(self._write, False)
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        with contextlib.suppress(OSError):  # a full pipe has said "stop" already
            os.write(self._write, b"!")

    def wait(self) -> None:
        os.read(self._read, 1)


def _scheduler(settings: Settings) -> int:
    from bot.bootstrap import build_app
    from bot.reminders.scheduler import build_scheduler

    try:
        app = build_app(settings, worker=False)
    except Exception as exc:  # a bad token or unreachable database: say so in one line
        return _cannot_start(exc)
    scheduler = build_scheduler(app.jobs())
    scheduler.start()
    stop = StopSignal()
    log.info("scheduler running: %s", ", ".join(j.id for j in scheduler.get_jobs()))
    stop.wait()
    log.info("stopping")
    scheduler.shutdown(wait=True)
    app.close()
    return 0


def _worker(settings: Settings) -> int:
    """Jobs only: no HTTP, no scheduler. Its log says "worker ready" once it claims jobs."""
    from bot.bootstrap import build_app

    stop = StopSignal()  # before build_app, whose worker logs "worker ready"
    try:
        app = build_app(settings)
    except Exception as exc:  # a bad token or unreachable database: say so in one line
        return _cannot_start(exc)
    stop.wait()
    log.info("stopping")
    app.close()
    return 0


def _run(
    settings: Settings, host: str, port: int, *, with_scheduler: bool, with_worker: bool = True
) -> int:
    from bot.bootstrap import build_app
    from bot.reminders.scheduler import build_scheduler
    from bot.web.server import HttpServer

    try:
        app = build_app(settings, worker=with_worker, work_process=settings.work_process)
    except Exception as exc:  # a bad token or unreachable database: say so in one line
        return _cannot_start(exc)
    # Start-up objects live as long as the process: keep them out of the collector, whose full
    # passes over them otherwise stall every thread (and every ack) for ~100 ms under load.
    gc.freeze()
    server = HttpServer(
        app.routes()
        if not settings.socket_mode
        else {("GET", "/healthz"): app.routes()[("GET", "/healthz")]},
        host=host,
        port=port,
    )
    try:
        server.start()
    except OSError as exc:  # the port is taken, or not ours to bind
        app.close()
        return _cannot_start(OSError(f"can't listen on {host}:{port}: {exc.strerror}"))
    socket = None
    if settings.socket_mode and settings.SLACK_APP_TOKEN is not None:
        from bot.slack.socket_mode import start_socket_mode

        socket = start_socket_mode(app.slack, settings.SLACK_APP_TOKEN.get_secret_value())
        log.info("connected to Slack in Socket Mode")
    scheduler = build_scheduler(app.jobs()) if with_scheduler else None
    if scheduler is not None:
        scheduler.start()
    stop = StopSignal()
    log.info("taskbot is running (backend=%s)", app.backend.name)
    stop.wait()
    log.info("stopping")
    if socket is not None:
        socket.close()  # type: ignore[no-untyped-call]
    server.stop()
    if scheduler is not None:
        scheduler.shutdown(wait=True)
    app.close()
    log.info("stopped")
    return 0
