"""The composition root: the one place that builds and wires every part.

Nothing is built at import time; tests call ``build_app(settings, **overrides)`` with fakes or
local servers, ``bot.cli`` with the real settings.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from slack_sdk import WebClient
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

from bot.backends import build_backend, secret_keys
from bot.config import Settings
from bot.reminders.scheduler import Job
from bot.reminders.sweep import ReminderSweep
from bot.service.card_sweep import CardSweep
from bot.service.ports import AccountLinking, Clock, Mirroring, TaskBackend
from bot.service.reminders import ReminderPlanner
from bot.service.sync import BackendSync
from bot.service.tasks import TaskService
from bot.service.user_links import UserLinks
from bot.slack.app import SlackApp, build_slack_app
from bot.slack.background import Background, ThreadBackground
from bot.slack.clients import make_client
from bot.slack.deps import SlackDeps
from bot.slack.directory import SlackDirectory
from bot.slack.home import HomeRefresher
from bot.slack.jobs import runner
from bot.slack.notifier import SlackNotifier
from bot.slack.reminders import SlackReminderSender
from bot.web.hooks import SyncTrigger, paymo_hook_app
from bot.web.oauth import SignIn, sign_in_routes
from bot.web.server import WSGIApp, health_app
from bot.work_process import WorkerProcess
from storage.engine import make_engine, make_sessionmaker
from storage.home_claims import SqlAlchemyHomeClaims
from storage.local_tasks import SqlAlchemyTaskStore
from storage.migrate import prepare_schema
from storage.reminder_ledger import SqlAlchemyReminderLedger
from storage.task_cards import SqlAlchemyTaskCards
from storage.user_map import SqlAlchemyUserMap
from storage.user_settings import SqlAlchemyUserSettings


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class TaskbotApp:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    backend: TaskBackend
    service: TaskService
    slack: SlackApp
    deps: SlackDeps
    sweep: ReminderSweep
    sync: BackendSync | None = None
    notifier: SlackNotifier | None = None
    hook_trigger: SyncTrigger | None = None
    card_sweep: CardSweep | None = None
    closers: list[Callable[[], None]] = field(default_factory=list)

    def health(self) -> dict[str, object]:
        try:
            with self.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
            database = True
        except Exception:  # reported as a failed check, not raised
            database = False
        return {"database": database, "backend": self.backend.name}

    def routes(self, *, slack: bool = True) -> dict[tuple[str, str], WSGIApp]:
        """Health always; Slack's events over HTTP unless Socket Mode carries them."""
        routes: dict[tuple[str, str], WSGIApp] = {("GET", "/healthz"): health_app(self.health)}
        if slack:
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
        """What the scheduler runs: the reminder sweep, the card sweep, and the backend sync
        where it mirrors."""
        jobs = [Job("reminder-sweep", self.sweep.run_once, self.settings.REMINDER_SWEEP_SECONDS)]
        if self.card_sweep is not None:
            jobs.append(
                Job("card-sweep", self.card_sweep.run_once, self.settings.CARD_SWEEP_SECONDS)
            )
        if self.sync is not None:
            jobs.append(Job("backend-sync", self.sync.run_once, self.settings.BACKEND_SYNC_SECONDS))
        return jobs

    def close(self) -> None:
        """Finish acknowledged Slack work, then release the database."""
        self.slack.close(wait=True)
        for closer in reversed(self.closers):
            closer()
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
    background_workers: int = 32,
    background: Background | None = None,
    work_process: bool = False,
) -> TaskbotApp:
    """Wire a taskbot. ``work_process`` runs after-ack jobs in a child process (``taskbot run``
    asks for it, see ``Settings.work_process``); tests keep them on threads in this one."""
    # A worker process builds its own backend from settings, so not one handed in here.
    use_worker_process = work_process and backend is None
    engine = engine or make_engine(settings.DATABASE_URL)
    if migrate:
        prepare_schema(engine, migrate=settings.MIGRATE_ON_START)
    sessions = make_sessionmaker(engine)
    backend = backend or build_backend(settings.TASK_BACKEND, sessions=sessions, settings=settings)
    token = settings.SLACK_BOT_TOKEN.get_secret_value() if settings.SLACK_BOT_TOKEN else None
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
        lease=timedelta(seconds=settings.REMINDER_LEASE_SECONDS),
    )
    if background is None:
        background = (
            WorkerProcess(settings)
            if use_worker_process
            else ThreadBackground(workers=background_workers)
        )
    deps = SlackDeps(
        service=service,
        directory=directory,
        clients=clients,
        clock=clock,
        background=background,
        homes=SqlAlchemyHomeClaims(sessions),
    )
    if isinstance(background, ThreadBackground):
        background.start(runner(deps))
    homes = HomeRefresher(deps)
    notifier.after_change = homes.request
    secret = settings.SLACK_SIGNING_SECRET
    slack = build_slack_app(
        client=client,
        signing_secret=secret.get_secret_value() if secret else None,
        deps=deps,
        socket_mode=settings.socket_mode,
        token_verification=token_verification,
        **({"workers": slack_workers} if slack_workers else {}),
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
        notifier=notifier,
        sync=BackendSync(backend, notifier, clock, planner)
        if isinstance(backend, Mirroring)
        else None,
    )
    app.card_sweep = CardSweep(cards, SqlAlchemyTaskStore(sessions).load, notifier)
    app.closers.append(homes.close)
    if app.sync is not None and settings.TASK_BACKEND == "paymo" and settings.PAYMO_WEBHOOK_SECRET:
        app.hook_trigger = SyncTrigger(app.sync.run_once)
        app.closers.append(app.hook_trigger.close)
    return app
