"""Every after-ack job kind by name, and the worker's handler that runs one claimed row.

A job runs with the service keyed on its idempotency key, so a replay (a worker that died
mid-job, a retry after a failure) changes nothing twice; a change's notifications are a job of
their own (``notify``, queued by the store with the change) that the Slack notifier delivers
with a mark on every message, checked against Slack when the job is run again.
"""

from __future__ import annotations

import json
import logging
from dataclasses import replace

from bot.domain.events import NOTICE_KIND, Notice
from bot.logs import new_request_id, request_id_bound
from bot.service.work import ClaimedWork, GiveUp, Handler
from bot.slack.deps import AnyJob, JobKind, SlackDeps
from bot.slack.listeners import actions, commands, events, views
from bot.slack.notifier import Delivery, delivering

log = logging.getLogger(__name__)


def _notify(deps: SlackDeps, notice: Notice) -> None:
    if deps.notifier is None:
        raise RuntimeError("this taskbot has no notifier for notification jobs")
    deps.notifier.notify(deps.service.freshest(notice.events))


JOBS: dict[str, AnyJob] = {
    **actions.JOBS,
    **commands.JOBS,
    **events.JOBS,
    **views.JOBS,
    NOTICE_KIND: JobKind(Notice, _notify),
}


class UnknownJob(Exception):
    """A row this worker can't run (a newer taskbot wrote it); retried, then failed."""


def runner(deps: SlackDeps) -> Handler:
    def run(job: ClaimedWork) -> None:
        kind = JOBS.get(job.kind)
        if kind is None or job.payload_version != kind.version:
            raise UnknownJob(f"no handler for {job.kind} v{job.payload_version}")
        payload = kind.model.model_validate_json(job.payload)
        keyed = replace(deps, service=deps.service.keyed(job.key))
        # A run after a takeover or a failure may follow messages that already went out.
        delivery = Delivery(job.key, check=job.taken_over or job.attempts > 1, since=job.created_at)
        with request_id_bound(job.request_id or new_request_id()), delivering(delivery):
            log.debug("job %s started", job.kind)
            kind.run(keyed, payload)
            log.debug("job %s done", job.kind)

    return run


def give_up(deps: SlackDeps) -> GiveUp:
    """Tell the person a job was for (when it has one) that it could not be done."""

    def tell(job: ClaimedWork, error: str) -> None:
        try:
            data = json.loads(job.payload)
        except ValueError:
            return
        team, user = data.get("team_id"), data.get("user_id")
        if not (isinstance(team, str) and isinstance(user, str)):
            return
        deps.clients(team).chat_postMessage(
            channel=user,
            text=":warning: Sorry, I couldn't finish what you asked (the task system or Slack "
            "kept failing), so it was not done. Please try again.",
        )

    return tell
