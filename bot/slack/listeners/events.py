"""Events API: ``app_home_opened`` publishes the person's App Home."""

from __future__ import annotations

from typing import Any

from bot.slack import ids
from bot.slack.deps import SlackDeps
from bot.slack.errors import person_message
from bot.slack.home import publish_home
from bot.slack.registrar import Registrar


def register(registrar: Registrar, deps: SlackDeps) -> None:
    def on_app_home_opened(event: dict[str, Any], context: dict[str, Any]) -> None:
        if event.get("tab") != "home":
            return
        team_id = context.get("team_id") or ""
        deps.background.submit(lambda: _publish(team_id, event["user"]))

    def _publish(team_id: str, user_id: str) -> None:
        try:
            publish_home(deps, team_id, user_id)
        except Exception as exc:  # logged with a reference; Home stays as it was
            person_message(exc, context={"event": "app_home_opened", "team": team_id})

    registrar.event(ids.EVENT_APP_HOME_OPENED, on_app_home_opened)
