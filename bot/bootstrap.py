"""The composition root: the one place that builds and wires every part.

Nothing is built at import time; tests call ``build_app(settings, **overrides)`` with fakes or
local servers, ``bot.cli`` with the real settings.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from slack_sdk import WebClient
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

from bot.backends import build_backend, secret_keys
from bot.collector import give_back_free_memory
from bot.config import Settings
from bot.metrics import track_oldest_job
from bot.reminders.scheduler import Job
from bot.reminders.sweep import ReminderSweep
from bot.service.card_sweep import CardSweep
from bot.service.health import HeartbeatLoop, Readiness
from bot.service.ports import AccountLinking, Clock, Mirroring, TaskBackend
from bot.service.reminders import ReminderPlanner
from bot.service.sync import BackendSync
from bot.service.tasks import TaskService
from bot.service.user_links import UserLinks
from bot.service.work import JobWorker
from bot.slack.background import DurableJobs
from bot.slack.clients import check_token, make_client
from bot.slack.deps import SlackDeps
from bot.slack.directory import SlackDirectory
from bot.slack.home import HomeRefresher
from bot.slack.jobs import give_up, runner
from bot.slack.notifier import SlackNotifier
from bot.slack.reminders import SlackReminderSender
from bot.web.hooks import SyncTrigger, paymo_hook_app
from bot.web.oauth import SignIn, sign_in_routes
from bot.web.server import WSGIApp, health_app, live_app, metrics_app
from bot.work_process import WorkerProcess
from storage.comment_links import SqlAlchemyCommentLinks
from storage.engine import (
    check_reachable,
    let_acks_write_first,
    make_engine,
    make_sessionmaker,
)
from storage.home_claims import SqlAlchemyHomeClaims
from storage.job_intake import GroupCommit
from storage.job_ledger import SqlAlchemyJobLedger
from storage.local_tasks import SqlAlchemyTaskStore
from storage.rate_budget import SqlAlchemyRateBudget
from storage.reminder_ledger import SqlAlchemyReminderLedger
from storage.sync_runs import SqlAlchemySyncRuns
from storage.task_cards import SqlAlchemyTaskCards
from storage.user_map import SqlAlchemyUserMap
from storage.user_settings import SqlAlchemyUserSettings

if TYPE_CHECKING:  # a worker or scheduler has no Bolt app and never imports slack_bolt
    from bot.slack.app import SlackApp

JOB_RETENTION = timedelta(days=7)
JOB_PRUNE_SECONDS = 3600.0
WORKER_START_TIMEOUT = 60.0
"""How long the worker process may take to build its taskbot (seconds; a loaded machine)."""


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class TaskbotApp:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    backend: TaskBackend
    service: TaskService
    slack: SlackApp | None  # None where no Slack requests are served (``front=False``)
    deps: SlackDeps
    sweep: ReminderSweep
    intake: GroupCommit
    sync: BackendSync | None = None
    notifier: SlackNotifier | None = None
    worker: JobWorker | WorkerProcess | None = None
    hook_trigger: SyncTrigger | None = None
    card_sweep: CardSweep | None = None
    closers: list[Callable[[], None]] = field(default_factory=list)

    def health(self) -> dict[str, object]:
        """Readiness (``/readyz``, ``/healthz``): see ``bot.service.health``."""
        return {**self.readiness(), "backend": self.backend.name}

    @functools.cached_property
    def readiness(self) -> Readiness:
        from storage.heartbeats import SqlAlchemyHeartbeats, oldest_pending_job
        from storage.migrate import current_revision, head_revision

        head, beats = head_revision(), SqlAlchemyHeartbeats(self.sessions)

        def ping() -> None:
            with self.engine.connect() as connection:
                connection.execute(text("SELECT 1"))

        def schema_current() -> bool:
            with self.engine.connect() as connection:
                return current_revision(connection) == head

        settings = self.settings
        return Readiness(
            ping=ping,
            schema_current=schema_current,
            live_roles=lambda since: {b.role for b in beats.live(since)},
            oldest_pending=lambda now: oldest_pending_job(self.sessions, now),
            roles=settings.READY_ROLES,
            stale_after=timedelta(seconds=3 * settings.HEARTBEAT_SECONDS),
            max_job_age=timedelta(seconds=settings.READY_MAX_JOB_AGE_SECONDS),
            clock=utc_now,
        )

    def start_heartbeat(self, roles: list[str]) -> None:
        """Beat in the database for the roles this process hosts, until ``close``."""
        from storage.heartbeats import SqlAlchemyHeartbeats

        if not roles:
            return
        loop = HeartbeatLoop(
            SqlAlchemyHeartbeats(self.sessions), roles, self.settings.HEARTBEAT_SECONDS, utc_now
        )
        loop.start()
        self.closers.append(loop.stop)

    def health_routes(self) -> dict[tuple[str, str], WSGIApp]:
        """``/livez`` (the process answers), ``/readyz`` and its alias ``/healthz``, and
        ``/metrics``."""
        ready = health_app(self.health)
        self.track_metrics()
        return {
            ("GET", "/livez"): live_app,
            ("GET", "/readyz"): ready,
            ("GET", "/healthz"): ready,
            ("GET", "/metrics"): metrics_app,
        }

    def track_metrics(self) -> None:
        """The oldest-job gauge reads this process's database at each scrape."""
        from storage.heartbeats import oldest_pending_job

        def age() -> float | None:
            now = utc_now()
            oldest = oldest_pending_job(self.sessions, now)
            return None if oldest is None else (now - oldest).total_seconds()

        track_oldest_job(age)

    def routes(self, *, slack: bool = True) -> dict[tuple[str, str], WSGIApp]:
        """Health always; Slack's events over HTTP unless Socket Mode carries them."""
        routes: dict[tuple[str, str], WSGIApp] = self.health_routes()
        if slack and self.slack is not None:
            routes[("POST", "/slack/events")] = self.slack.wsgi()
        links, notifier = self.service.links, self.notifier
        if links is not None and notifier is not None and isinstance(self.backend, AccountLinking):

            def confirm(team_id: str, slack_id: str, account: str) -> None:
                notifier.tell(
                    team_id, slack_id, f":link: Linked: you are `{account}` in LINE WORKS."
                )

            from bot.backends.lineworks import SIGN_IN_PATH

            public = self.settings.TASKBOT_PUBLIC_URL or ""
            sign_in = SignIn(
                service="LINE WORKS",
                command="/task link lineworks",
                base=SIGN_IN_PATH,
                start=links.sign_in_url,
                complete=links.complete_link,
                linked=confirm,
                keys=secret_keys(self.settings),
                secure=public.startswith("https://"),
            )
            routes.update(sign_in_routes(sign_in))
        secret = self.settings.PAYMO_WEBHOOK_SECRET
        if self.hook_trigger is not None and secret is not None:
            routes[("POST", "/hooks/paymo")] = paymo_hook_app(
                secret.get_secret_value(), self.hook_trigger.pull
            )
        return routes

    def jobs(self) -> list[Job]:
        """What the scheduler runs: the reminder sweep, the card sweep, job pruning, and the
        backend sync where it mirrors."""
        jobs = [
            Job("reminder-sweep", self.sweep.run_once, self.settings.REMINDER_SWEEP_SECONDS),
            Job("job-prune", self.prune_jobs, JOB_PRUNE_SECONDS),
        ]
        if self.card_sweep is not None:
            jobs.append(
                Job("card-sweep", self.card_sweep.run_once, self.settings.CARD_SWEEP_SECONDS)
            )
        if self.sync is not None:
            jobs.append(Job("backend-sync", self.sync.run_once, self.settings.BACKEND_SYNC_SECONDS))
        return jobs

    def prune_jobs(self) -> int:
        """Finished job rows are kept a week (for diagnostics), then deleted."""
        return SqlAlchemyJobLedger(self.sessions).prune(utc_now() - JOB_RETENTION)

    def close(self) -> None:
        """Finish listeners and running jobs (the rest stay in the ledger), then release the
        database."""
        if self.slack is not None:
            self.slack.close(wait=True)
        self.intake.close()  # after the after-ack work, which may still write a job
        if isinstance(self.worker, JobWorker):
            self.worker.stop(timeout=8.0)
        elif self.worker is not None:
            self.worker.shutdown(timeout=8.0)
        for closer in reversed(self.closers):
            closer()
        close_backend = getattr(self.backend, "close", None)  # a task API's HTTP connections
        if callable(close_backend):
            close_backend()
        self.engine.dispose()


def build_app(
    settings: Settings,
    *,
    engine: Engine | None = None,
    backend: TaskBackend | None = None,
    clock: Clock = utc_now,
    token_verification: bool = True,
    migrate: bool = True,
    slack_workers: int | None = None,
    worker: bool = True,
    work_process: bool = False,
    front: bool = True,
) -> TaskbotApp:
    """Wire a taskbot. ``worker`` runs the jobs listeners persist, on threads here, or in a
    child process with ``work_process`` (``taskbot run`` asks for it, see
    ``Settings.work_process``); ``taskbot web`` and ``taskbot scheduler`` leave the jobs to
    ``taskbot worker`` processes. ``front=False`` builds no Bolt app: a process that serves no
    Slack request (a worker, a scheduler) never imports slack_bolt (2 MB)."""
    # A worker process builds its own backend from settings, so not one handed in here.
    use_worker_process = worker and work_process and backend is None
    engine = engine or make_engine(settings.DATABASE_URL)
    if not front:  # its writes can wait for an ack's (on a SQLite file)
        let_acks_write_first(engine)
    check_reachable(engine)  # unreachable: one line and exit, within seconds
    token = settings.SLACK_BOT_TOKEN.get_secret_value() if settings.SLACK_BOT_TOKEN else None
    if token and token_verification:  # before migrating (whose log lines would come first)
        check_token(token, settings.SLACK_API_URL)  # and before any child process is started
    if migrate:
        from storage.migrate import prepare_schema  # alembic: 10 MB the worker never needs

        prepare_schema(engine, migrate=settings.MIGRATE_ON_START)
    sessions = make_sessionmaker(engine)
    backend = backend or build_backend(
        settings.TASK_BACKEND,
        sessions=sessions,
        settings=settings,
        budget=SqlAlchemyRateBudget(sessions),  # the task APIs' rate limits, for every process
    )
    client = make_client(token, settings.SLACK_API_URL)

    def clients(team_id: str) -> WebClient:
        return client  # one workspace, one bot token

    directory = SlackDirectory(clients, admins=settings.TASKBOT_ADMINS, clock=clock)
    cards = SqlAlchemyTaskCards(sessions)
    ledger = SqlAlchemyReminderLedger(sessions)
    planner = ReminderPlanner(
        ledger,
        directory,
        clock,
        settings.REMINDER_OFFSETS,
        settings=SqlAlchemyUserSettings(sessions),
        escalate_after=settings.REMINDER_ESCALATE_AFTER,
    )
    notifier = SlackNotifier(
        clients,
        cards,
        directory,
        backend.capabilities,
        clock,
        next_reminder=planner.next_reminder,
        comment_threads=SqlAlchemyCommentLinks(sessions),
    )
    links = UserLinks(
        SqlAlchemyUserMap(sessions), backend, directory, clock, admins=settings.TASKBOT_ADMINS
    )
    service = TaskService(
        backend,
        notifier,
        directory,
        clock,
        admins=settings.TASKBOT_ADMINS,
        reminders=planner,
        links=links,
        channels=directory,
    )
    sweep = ReminderSweep(
        ledger,
        backend,
        directory,
        SlackReminderSender(
            clients, cards, backend.capabilities, clock, next_reminder=planner.next_reminder
        ),
        clock,
        plan_digest=planner.plan_digest,
        after_sent=notifier.refresh_reader,
        lease=timedelta(seconds=settings.REMINDER_LEASE_SECONDS),
    )
    service.reader_changed = notifier.refresh_reader
    job_ledger = SqlAlchemyJobLedger(sessions)
    intake = GroupCommit(engine)
    jobs = DurableJobs(intake)
    deps = SlackDeps(
        service=service,
        directory=directory,
        clients=clients,
        clock=clock,
        jobs=jobs,
        notifier=notifier,
        homes=SqlAlchemyHomeClaims(sessions),
    )
    runs: JobWorker | WorkerProcess | None = None
    if use_worker_process:
        runs = WorkerProcess(settings, serve_worker)
    elif worker:
        runs = JobWorker(
            job_ledger,
            runner(deps),
            give_up=give_up(deps),
            threads=settings.job_worker_threads,
            poll=settings.JOB_POLL_SECONDS,
            lease=timedelta(seconds=settings.JOB_LEASE_SECONDS),
            max_attempts=settings.JOB_MAX_ATTEMPTS,
            on_idle=give_back_free_memory,
        )
    if runs is not None:
        intake.after_commit = runs.wake
    if isinstance(runs, JobWorker):
        service.deliver_now = runs.run_now
    homes = HomeRefresher(deps)
    notifier.after_change = homes.request
    slack = (
        slack_front(settings, client, deps, token_verification, slack_workers) if front else None
    )
    app = TaskbotApp(
        settings=settings,
        engine=engine,
        sessions=sessions,
        backend=backend,
        service=service,
        slack=slack,
        deps=deps,
        sweep=sweep,
        intake=intake,
        notifier=notifier,
        sync=BackendSync(
            backend,
            notifier,
            clock,
            planner,
            name=backend.name,
            system=backend.capabilities.label,
            recorder=SqlAlchemySyncRuns(sessions),
        )
        if isinstance(backend, Mirroring)
        else None,
    )
    app.card_sweep = CardSweep(cards, SqlAlchemyTaskStore(sessions).load, notifier)
    if app.sync is not None and isinstance(runs, JobWorker):
        app.sync.deliver_now = runs.run_now  # a pulled change's notices, sent in the pass
    app.worker = runs
    if isinstance(runs, JobWorker):
        runs.start()
    app.closers.append(homes.close)
    if app.sync is not None and settings.TASK_BACKEND == "paymo" and settings.PAYMO_WEBHOOK_SECRET:
        app.hook_trigger = SyncTrigger(app.sync.run_once)
        app.closers.append(app.hook_trigger.close)
    if isinstance(runs, WorkerProcess) and not runs.wait_ready(WORKER_START_TIMEOUT):
        runs.shutdown(0.0)
        raise RuntimeError(f"the worker process did not start ({runs.state})")
    return app


def slack_front(
    settings: Settings,
    client: WebClient,
    deps: SlackDeps,
    token_verification: bool,
    workers: int | None,
) -> SlackApp:
    """The Bolt app with every listener, for a process that serves Slack's requests."""
    from bot.slack.app import build_slack_app

    secret = settings.SLACK_SIGNING_SECRET
    return build_slack_app(
        client=client,
        signing_secret=secret.get_secret_value() if secret else None,
        deps=deps,
        socket_mode=settings.socket_mode,
        token_verification=token_verification,
        **({"workers": workers} if workers else {}),
    )


class ServedWorker:
    """A worker-role taskbot as ``bot.work_process`` runs it."""

    def __init__(self, app: TaskbotApp) -> None:
        self._app = app

    def wake(self) -> None:
        if isinstance(self._app.worker, JobWorker):
            self._app.worker.wake()

    def close(self) -> None:
        self._app.close()


def serve_worker(settings: Settings) -> ServedWorker:
    """The worker role of ``taskbot run``'s child process (see ``bot.work_process``)."""
    app = build_app(
        settings, migrate=False, token_verification=False, work_process=False, front=False
    )
    return ServedWorker(app)
