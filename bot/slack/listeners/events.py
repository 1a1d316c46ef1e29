"""Events API: ``app_home_opened`` publishes the person's App Home."""

from __future__ import annotations

from typing import Any

from bot.slack import ids
from bot.slack.background import Payload
from bot.slack.deps import Job, SlackDeps
from bot.slack.errors import person_message
from bot.slack.home import publish_home
from bot.slack.registrar import Registrar


def register(registrar: Registrar, deps: SlackDeps) -> None:
    def on_app_home_opened(event: dict[str, Any], context: dict[str, Any]) -> None:
        if event.get("tab") != "home":
            return
        team_id = context.get("team_id") or ""
        deps.background.submit(JOB_PUBLISH_HOME, {"team_id": team_id, "user_id": event["user"]})

    registrar.event(ids.EVENT_APP_HOME_OPENED, on_app_home_opened)


def _publish(deps: SlackDeps, payload: Payload) -> None:
    try:
        publish_home(deps, payload["team_id"], payload["user_id"])
    except Exception as exc:  # logged with a reference; Home stays as it was
        person_message(exc, context={"event": "app_home_opened", "team": payload["team_id"]})


JOB_PUBLISH_HOME = "publish-home"
JOBS: dict[str, Job] = {JOB_PUBLISH_HOME: _publish}
