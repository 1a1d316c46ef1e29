"""End to end: the real taskbot (Bolt app, HTTP front, SQLite store) on a free port, driven by
correctly signed HTTP requests, talking to the local Slack Web API stub."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bot.bootstrap import TaskbotApp, build_app
from bot.config import Settings
from bot.service.ports import Clock, TaskBackend
from bot.web.server import HttpServer
from bot.work_process import WorkerProcess
from tests.conftest import migrated_sqlite
from tests.slack_requests import SlackClient, SlackRequest, block_action, slash_command
from tests.stubs.slack_api import SlackApiStub, slack_stub

TEAM, TOKEN, SECRET = "T0TEAM1", "xoxb-e2e-team1", "e2e-signing-secret"
BOSS, ANA, BEN, CARL, EVE, ADMIN = "UBOSS", "UANA", "UBEN", "UCARL", "UEVE", "UADMIN"
OPS = "SOPS"
CHANNEL = "C0PROJECT"


@pytest.fixture(scope="session")
def slack_session() -> Iterator[SlackApiStub]:
    with slack_stub() as stub:
        stub.add_team(TEAM, TOKEN)
        stub.add_user(TEAM, BOSS, tz="Europe/Paris", name="boss")
        stub.add_user(TEAM, ANA, tz="Asia/Tokyo", name="ana")
        stub.add_user(TEAM, BEN, tz="America/New_York", name="ben")
        stub.add_user(TEAM, CARL, tz="Europe/London", name="carl")
        stub.add_user(TEAM, EVE, tz="UTC", name="eve")
        stub.add_user(TEAM, ADMIN, tz="UTC", is_admin=True, name="admin")
        stub.add_user(TEAM, "UROBOT", is_bot=True, name="robot")
        stub.add_group(TEAM, OPS, "ops", [ANA, CARL])
        yield stub


@pytest.fixture
def slack(slack_session: SlackApiStub) -> SlackApiStub:
    slack_session.reset()
    return slack_session


@dataclass
class Taskbot:
    app: TaskbotApp
    server: HttpServer
    client: SlackClient
    slack: SlackApiStub

    def command(self, text: str, user: str = BOSS, channel: str = CHANNEL, key: str = "cmd") -> Any:
        request = slash_command(
            text,
            user_id=user,
            team_id=TEAM,
            channel_id=channel,
            response_url=self.slack.response_url_for(key),
        )
        return self.client.send(request)

    def click(
        self, action_id: str, value: str, user: str, *, channel: str, ts: str, key: str = "click"
    ) -> Any:
        request = block_action(
            action_id,
            value,
            user_id=user,
            team_id=TEAM,
            channel_id=channel,
            message_ts=ts,
            response_url=self.slack.response_url_for(key),
        )
        return self.client.send(request)

    def send(self, request: SlackRequest) -> Any:
        return self.client.send(request)


@pytest.fixture
def make_taskbot(
    slack: SlackApiStub, tmp_path: Path, sqlite_template: Path
) -> Iterator[Callable[..., Taskbot]]:
    started: list[Taskbot] = []
    database = tmp_path / "e2e.db"

    def start(
        backend: TaskBackend | None = None,
        clock: Clock | None = None,
        work_process: bool = False,
        **settings: Any,
    ) -> Taskbot:
        if "DATABASE_URL" not in settings and not database.exists():
            migrated_sqlite(sqlite_template, database)  # the start finds the schema current
        config = Settings(
            _env_file=None,  # type: ignore[call-arg]
            SLACK_BOT_TOKEN=TOKEN,  # type: ignore[arg-type]
            SLACK_SIGNING_SECRET=SECRET,  # type: ignore[arg-type]
            SLACK_API_URL=slack.url,
            **{"DATABASE_URL": f"sqlite:///{database}", **settings},
        )
        app = build_app(
            config,
            backend=backend,
            work_process=work_process,
            **({"clock": clock} if clock else {}),
        )
        if isinstance(app.worker, WorkerProcess):  # explicit readiness, not a timeout guess
            assert app.worker.wait_ready(60), "the worker process did not start"
        server = HttpServer(app.routes(), host="127.0.0.1", port=0, shutdown_timeout=2)
        server.start()
        bot = Taskbot(app, server, SlackClient(f"http://127.0.0.1:{server.port}", SECRET), slack)
        started.append(bot)
        return bot

    yield start
    for bot in started:
        bot.client.close()
        bot.server.stop()
        bot.app.close()


@pytest.fixture
def taskbot(make_taskbot: Callable[..., Taskbot]) -> Taskbot:
    return make_taskbot()
