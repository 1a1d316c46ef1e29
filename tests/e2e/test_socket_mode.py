"""Socket Mode requests reach the same listeners, without signatures (Slack authenticates the
socket with the app-level token instead)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from slack_bolt.request import BoltRequest

from tests.e2e.conftest import BOSS, CHANNEL, TEAM, Taskbot

REQUESTS = Path(__file__).parents[1] / "fixtures/slack/requests"


def test_socket_mode_slash_command_is_answered(make_taskbot: Callable[..., Taskbot]) -> None:
    taskbot = make_taskbot(SLACK_APP_TOKEN="xapp-1-test")
    form = json.loads((REQUESTS / "slash_command.bolt_test.parsed.json").read_text())
    form.update(command="/task", text="help", team_id=TEAM, user_id=BOSS, channel_id=CHANNEL)
    response = taskbot.app.slack.bolt.dispatch(BoltRequest(mode="socket_mode", body=form))
    assert response.status == 200 and "/task add" in response.body
