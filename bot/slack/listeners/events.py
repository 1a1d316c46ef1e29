"""Events API: ``app_home_opened`` publishes the person's App Home."""

from __future__ import annotations

from typing import Any, ClassVar

from bot.slack import ids
from bot.slack.deps import AnyJob, JobKind, JobPayload, SlackDeps
from bot.slack.errors import person_message
from bot.slack.home import publish_home
from bot.slack.registrar import Registrar


class NotSaved(RuntimeError):
    """An event's job could not be written: no 200, so that Slack delivers it again."""


class PublishHome(JobPayload):
    KIND: ClassVar[str] = "publish-home"

    team_id: str
    user_id: str


def register(registrar: Registrar, deps: SlackDeps) -> None:
    def on_app_home_opened(
        event: dict[str, Any], context: dict[str, Any], body: dict[str, Any]
    ) -> None:
        if event.get("tab") != "home":
            return
        job = PublishHome(team_id=context.get("team_id") or "", user_id=event["user"])
        event_id = body.get("event_id") or event.get("event_ts")
        if not deps.jobs.submit(job, f"{job.KIND}:{job.team_id}:{event_id}"):
            raise NotSaved(job.KIND)  # answered 500: Slack sends the event again, up to 3 times

    registrar.event(ids.EVENT_APP_HOME_OPENED, on_app_home_opened)


def _publish(deps: SlackDeps, job: PublishHome) -> None:
    try:
        publish_home(deps, job.team_id, job.user_id)
    except Exception as exc:  # logged with a reference; Home stays as it was
        person_message(exc, context={"event": "app_home_opened", "team": job.team_id})


JOBS: dict[str, AnyJob] = {PublishHome.KIND: JobKind(PublishHome, _publish)}
