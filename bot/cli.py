"""``taskbot``: run the bot (or one role of it: web, worker, scheduler), upgrade the database,
bulk-link users or re-seal secrets.

The database commands (``users``, ``db upgrade``, ``secrets rotate``) need only DATABASE_URL and
the keys they use, never Slack's settings. Exit codes (EPILOG): 0 done, 1 partly done, 2 nothing
done. SIGTERM or Ctrl-C stops cleanly (requests in flight finished, scheduler shut down) within
10 seconds.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from types import FrameType
from typing import TYPE_CHECKING

from bot.collector import settle_after_start
from bot.config import (
    KeySettings,
    Settings,
    SettingsError,
    StoreSettings,
    load_key_settings,
    load_settings,
    load_store_settings,
)
from bot.logs import configure_logging
from bot.work_process import limit_malloc_arenas

if TYPE_CHECKING:
    from collections.abc import Callable

    from bot.bootstrap import TaskbotApp
    from bot.service.ports import UserMapStore
    from storage.heartbeats import OpsStatus

log = logging.getLogger("taskbot")
EXIT_OK, EXIT_PARTLY, EXIT_NOTHING = 0, 1, 2
EXIT_SETTINGS = EXIT_NOTHING
EPILOG = """exit codes:
  0  done
  1  partly done: some rows refused (users import --partial), some tokens unreadable
     (secrets rotate), or a running role that stopped on an error
  2  nothing done: settings missing or invalid, a file taskbot can't read or that has bad rows
     (without --partial), a database it can't use

users import/export, db upgrade and secrets rotate need only DATABASE_URL (and, for secrets
rotate, TASKBOT_SECRET_KEY; for users import of a file with emails, SLACK_BOT_TOKEN)."""


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="taskbot",
        description="Slack front end for task assignment.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    top.add_argument(
        "-v", "--verbose", action="store_true", help="more detail (each migration step)"
    )
    commands = top.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="the bot and its scheduler in one process")
    run.add_argument("--port", type=int, default=3000, help="HTTP port (default 3000)")
    run.add_argument("--host", default="0.0.0.0", help="address to listen on (default 0.0.0.0)")
    run.add_argument("--no-scheduler", action="store_true", help="run without the scheduler")
    scheduler = commands.add_parser("scheduler", help="the scheduler alone")
    scheduler.add_argument("--metrics-port", type=int, help="serve GET /metrics on this port")
    web = commands.add_parser("web", help="verify, persist and ack Slack requests (no jobs run)")
    web.add_argument("--port", type=int, default=3000, help="HTTP port (default 3000)")
    web.add_argument("--host", default="0.0.0.0", help="address to listen on (default 0.0.0.0)")
    worker = commands.add_parser("worker", help="run the jobs web processes persisted")
    worker.add_argument("--metrics-port", type=int, help="serve GET /metrics on this port")
    users = commands.add_parser("users", help="bulk links of Slack users to task-system ids")
    actions = users.add_subparsers(dest="action", required=True)
    load = actions.add_parser(
        "import", help="links from a CSV: team_id,slack_user,backend,assignee_id"
    )
    load.add_argument(
        "file",
        help="CSV file (UTF-8) with the header team_id,slack_user,backend,assignee_id "
        "(team,slack,… also read); slack_user is a user id, group id or email",
    )
    load.add_argument("--partial", action="store_true", help="write the good rows of a bad file")
    actions.add_parser(
        "export",
        help="every link as CSV on standard output (team_id,slack_user,backend,assignee_id, "
        "then kind,how,set_by,set_at)",
    )
    keys = commands.add_parser("secrets", help="the keys that seal stored tokens")
    keys.add_argument(
        "action",
        choices=["rotate"],
        help="re-seal every stored token with TASKBOT_SECRET_KEY (TASKBOT_SECRET_KEY_OLD reads)",
    )
    commands.add_parser(
        "status",
        help="from the database: job queue, reminder lag, live workers and schedulers",
    )
    db = commands.add_parser("db", help="database maintenance")
    db.add_argument("action", choices=["upgrade"], help="apply migrations")
    return top


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        if args.command == "db":
            return _db_upgrade(load_store_settings(), verbose=args.verbose)
        if args.command == "secrets":
            return _rotate(load_key_settings(), verbose=args.verbose)
        if args.command == "status":
            return _status(load_store_settings())
        if args.command == "users":
            store_settings = load_store_settings()
            _offline_logging(args.verbose)
            return _users(store_settings, args.action, getattr(args, "file", None), args.__dict__)
        settings = load_settings()
    except SettingsError as error:
        print("taskbot can't start; please set:", file=sys.stderr)
        for line in error.lines:
            print(f"  - {line}", file=sys.stderr)
        print("(environment variables, or a .env file in this folder)", file=sys.stderr)
        return EXIT_SETTINGS
    configure_logging(settings.LOG_LEVEL, settings.LOG_FORMAT)
    _show_migration_steps(args.verbose)
    limit_malloc_arenas()  # a long-running role, before its first thread
    if args.command == "scheduler":
        return _scheduler(settings, args.metrics_port)
    if args.command == "worker":
        return _worker(settings, args.metrics_port)
    if args.command == "web":
        return _run(settings, args.host, args.port, with_scheduler=False, with_worker=False)
    return _run(settings, args.host, args.port, with_scheduler=not args.no_scheduler)


def _offline_logging(verbose: bool) -> None:
    """The database commands log warnings only (one summary line for a migration), or more
    with ``-v``."""
    configure_logging("INFO")
    _show_migration_steps(verbose)


def _show_migration_steps(verbose: bool) -> None:
    if verbose:
        logging.getLogger("alembic.runtime.migration").setLevel(logging.INFO)


def _db_upgrade(settings: StoreSettings, *, verbose: bool) -> int:
    from storage.migrate import upgrade

    _offline_logging(verbose)
    try:
        before, head = upgrade(settings.DATABASE_URL)  # logs its one line when it migrates
    except Exception as exc:  # an unreachable or foreign database: say so in one line
        return _cannot_start(exc, EXIT_NOTHING)
    if verbose and before == head:
        print(f"database is up to date ({head})")
    return EXIT_OK


def _status(settings: StoreSettings) -> int:
    """``taskbot status``: read-only; never migrates."""
    from storage.engine import make_engine, make_sessionmaker
    from storage.heartbeats import ops_status
    from storage.migrate import current_revision, head_revision

    configure_logging("WARNING")
    engine = make_engine(settings.DATABASE_URL)
    try:
        with engine.connect() as connection:
            revision = current_revision(connection)
        if revision != head_revision():
            found = "has no taskbot schema" if revision is None else f"is at {revision}"
            print(
                f"the database {found}, not {head_revision()}: run `taskbot db upgrade`",
                file=sys.stderr,
            )
            return EXIT_NOTHING
        now = _utc_now()
        status = ops_status(make_sessionmaker(engine), now, 3 * settings.HEARTBEAT_SECONDS)
    except Exception as exc:  # an unreachable database: one line
        return _cannot_start(exc, EXIT_NOTHING)
    finally:
        engine.dispose()
    print(status_text(status, now))
    return EXIT_OK


def status_text(status: OpsStatus, now: datetime) -> str:
    """The status as lines for a person (ages in seconds, times in UTC)."""
    states = status.jobs_by_state
    lines = [
        "jobs: "
        + ", ".join(f"{states.get(s, 0)} {s}" for s in ("pending", "claimed", "done", "failed"))
    ]
    oldest = status.oldest_pending
    lines.append(
        "oldest due job: none waiting"
        if oldest is None
        else f"oldest due job: waiting {(now - oldest).total_seconds():.0f} s "
        f"(since {oldest:%Y-%m-%d %H:%M:%S} UTC)"
    )
    lag = (
        f", lag avg {status.reminder_lag_avg_seconds:.1f} s, max "
        f"{status.reminder_lag_max_seconds:.1f} s"
        if status.reminder_lag_avg_seconds is not None
        else ""
    )
    lines.append(
        f"reminders, last hour: {status.reminders_sent_last_hour} sent{lag}; "
        f"{status.reminders_overdue} due and not sent yet"
    )
    lines.extend(sync_lines(status, now))
    if not status.live:
        lines.append("live: no worker or scheduler has a fresh heartbeat")
    for beat in status.live:
        lines.append(
            f"live {beat.role}: {beat.process_id} (up since {beat.started_at:%Y-%m-%d %H:%M:%S} "
            f"UTC, beat {(now - beat.beat_at).total_seconds():.0f} s ago)"
        )
    return "\n".join(lines)


def sync_lines(status: OpsStatus, now: datetime) -> list[str]:
    """The last sync pass of each task system, or that none ran (the embedded store has none)."""
    if not status.syncs:
        return ["backend sync: no pass recorded (the embedded store needs none)"]
    return [
        f"backend sync {run.backend}: last pass {(now - run.at).total_seconds():.0f} s ago, "
        + (f"failed: {run.error}" if run.error is not None else f"{run.changed} task(s) changed")
        for run in status.syncs
    ]


def _users(
    settings: StoreSettings, action: str, path: str | None, options: dict[str, object]
) -> int:
    from storage.engine import make_engine, make_sessionmaker
    from storage.migrate import prepare_schema
    from storage.user_map import SqlAlchemyUserMap

    engine = make_engine(settings.DATABASE_URL)
    try:
        try:
            prepare_schema(engine, migrate=settings.MIGRATE_ON_START)
        except Exception as exc:  # SchemaError, or a database taskbot can't reach
            return _cannot_start(exc, EXIT_NOTHING)
        store = SqlAlchemyUserMap(make_sessionmaker(engine))
        if action == "export":
            from bot.service.link_import import export

            sys.stdout.write(export(store.list_all()))
            return EXIT_OK
        assert path is not None
        return _import_links(settings, store, path, partial=bool(options.get("partial")))
    finally:
        engine.dispose()


def _import_links(settings: StoreSettings, store: UserMapStore, path: str, *, partial: bool) -> int:
    """``users import``: every bad row on stderr as ``line N: why``; Slack only for emails."""
    from pathlib import Path

    from bot.backends import capabilities_of
    from bot.domain.errors import DomainError
    from bot.service.link_import import LinkImport, decode, email_lines
    from bot.slack.clients import make_client
    from bot.slack.directory import SlackDirectory

    try:
        text = decode(Path(path).read_bytes())
        emails = email_lines(text)
    except OSError as exc:
        print(f"can't read {path}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_NOTHING
    except DomainError as exc:
        print(exc.message, file=sys.stderr)
        return EXIT_NOTHING
    token = settings.SLACK_BOT_TOKEN.get_secret_value() if settings.SLACK_BOT_TOKEN else None
    if emails and token is None:
        print(
            f"line {emails[0]} holds an email: set SLACK_BOT_TOKEN so taskbot can look emails "
            "up in Slack, or write Slack user ids instead",
            file=sys.stderr,
        )
        return EXIT_NOTHING
    directory = (
        SlackDirectory(lambda team: make_client(token, settings.SLACK_API_URL)) if emails else None
    )
    report = LinkImport(store, directory, _utc_now, capabilities_of).run(text, partial=partial)
    for line, why in report.problems:
        print(f"line {line}: {why}", file=sys.stderr)
    if report.problems and not report.written:
        print(
            f"nothing written: {len(report.problems)} bad row(s); fix them, or "
            "use --partial to write the good rows",
            file=sys.stderr,
        )
        return EXIT_NOTHING
    print(f"linked {report.written} row(s)")
    return EXIT_PARTLY if report.problems else EXIT_OK


def _rotate(settings: KeySettings, *, verbose: bool = False) -> int:
    """Re-seal every stored token with the current key; needs only the store and the keys."""
    from bot.keys import Keys, UnreadableSecret
    from storage.engine import make_engine, make_sessionmaker
    from storage.migrate import upgrade_engine
    from storage.oauth_tokens import SqlAlchemyOAuthTokens

    _offline_logging(verbose)
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
    except Exception as exc:  # a database taskbot can't reach: nothing was re-sealed
        return _cannot_start(exc, EXIT_NOTHING)
    finally:
        engine.dispose()
    print(f"re-sealed {done} stored token set(s) with TASKBOT_SECRET_KEY")
    if unreadable:
        print(
            f"{unreadable} token set(s) could not be read with TASKBOT_SECRET_KEY or "
            "TASKBOT_SECRET_KEY_OLD and were left as they are (those people must link again)",
            file=sys.stderr,
        )
        return EXIT_PARTLY
    return EXIT_OK


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _cannot_start(exc: BaseException, code: int = EXIT_PARTLY) -> int:
    """One line on stderr saying what failed (Slack, the database, the port, the worker)."""
    reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    print(f"taskbot can't start: {reason}", file=sys.stderr)
    return code


class StopSignal:
    """SIGTERM or Ctrl-C makes ``wait`` return. Installed before a process says it is running,
    so a signal right after that line still stops it cleanly; one per process.

    ``wait`` reads a pipe that Python's C-level handler writes the signal's number to
    (``signal.set_wakeup_fd``), at once and on whichever thread the kernel ran it. A Python
    handler writing that byte itself runs only later, in the main thread between bytecodes: a
    signal landing just before ``wait`` blocked in ``read``, or taken by another thread, left
    ``read`` asleep for good and the process never stopped (1 scheduler stop in ~1,000 in
    tests/test_concurrent_start.py's rounds on two loaded cores). The Python handler does
    nothing: no lock, no log line, which could land inside a holder of that lock or stream."""

    STOPS = (signal.SIGTERM, signal.SIGINT)

    def __init__(self) -> None:
        self._read, self._write = os.pipe()
        os.set_blocking(self._write, False)  # as set_wakeup_fd requires: the handler never waits
        signal.set_wakeup_fd(self._write, warn_on_full_buffer=False)
        for signum in self.STOPS:
            signal.signal(signum, _seen_on_the_wakeup_pipe)

    def wait(self) -> None:
        while os.read(self._read, 1)[0] not in self.STOPS:
            pass  # another signal with a Python handler: not a stop


def _seen_on_the_wakeup_pipe(signum: int, frame: FrameType | None) -> None:
    """A handler must be installed for the C-level one to write the wakeup pipe."""


def _metrics_server(app: TaskbotApp, port: int | None) -> Callable[[], None]:
    """``--metrics-port``: ``/metrics`` and ``/livez`` for a role with no HTTP of its own;
    returns what stops it."""
    if port is None:
        return lambda: None
    from bot.web.server import HttpServer, live_app, metrics_app

    app.track_metrics()
    server = HttpServer(
        {("GET", "/metrics"): metrics_app, ("GET", "/livez"): live_app},
        host="0.0.0.0",
        port=port,
    )
    try:
        server.start()
    except OSError as exc:  # the port is taken: the role runs on, without metrics
        log.error("can't serve metrics on port %d: %s", port, exc.strerror)
        return lambda: None
    log.info("metrics on port %d", server.port)
    return server.stop


def _scheduler(settings: Settings, metrics_port: int | None = None) -> int:
    from bot.bootstrap import build_app
    from bot.reminders.scheduler import build_scheduler

    try:
        app = build_app(settings, worker=False, front=False)
    except Exception as exc:  # a bad token or unreachable database: say so in one line
        return _cannot_start(exc)
    scheduler = build_scheduler(app.jobs())
    scheduler.start()
    settle_after_start()  # see _run
    app.start_heartbeat(["scheduler"])
    app.closers.append(_metrics_server(app, metrics_port))
    stop = StopSignal()
    log.info("scheduler running: %s", ", ".join(j.id for j in scheduler.get_jobs()))
    stop.wait()
    log.info("stopping")
    scheduler.shutdown(wait=True)
    app.close()
    return 0


def _worker(settings: Settings, metrics_port: int | None = None) -> int:
    """Jobs only: no HTTP, no scheduler. Its log says "worker ready" once it claims jobs."""
    from bot.bootstrap import build_app

    stop = StopSignal()  # before build_app, whose worker logs "worker ready"
    try:
        app = build_app(settings, front=False)
    except Exception as exc:  # a bad token or unreachable database: say so in one line
        return _cannot_start(exc)
    settle_after_start()  # see _run: a worker publishes Homes and lists
    app.start_heartbeat(["worker"])
    app.closers.append(_metrics_server(app, metrics_port))
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
    settle_after_start()
    app.start_heartbeat(
        (["worker"] if with_worker else []) + (["scheduler"] if with_scheduler else [])
    )
    server = HttpServer(
        app.routes() if not settings.socket_mode else app.health_routes(),
        host=host,
        port=port,
    )
    try:
        server.start()
    except OSError as exc:  # the port is taken, or not ours to bind
        app.close()
        return _cannot_start(OSError(f"can't listen on {host}:{port}: {exc.strerror}"))
    socket = None
    if settings.socket_mode and settings.SLACK_APP_TOKEN is not None and app.slack is not None:
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
