"""Persist before ack: listeners write their job to the durable ledger, then acknowledge.

A job is a typed payload (``bot.slack.deps.JobPayload``) and an idempotency key built from the
Slack interaction (``action_ts``, the view's id and hash, the command's ``trigger_id``, the
event id), so a replay lands on the row that is already there. Workers (``bot.service.work``)
claim the rows, in this process or any other on the same database.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

from bot.logs import current_request_id
from bot.metrics import JOBS_QUEUED
from bot.slack.deps import JobPayload

log = logging.getLogger(__name__)

NOT_SAVED = (
    ":warning: I couldn't save that just now, so nothing was done. Please try again in a moment."
)


class JobQueue(Protocol):
    """``storage.job_intake.GroupCommit``: returns once the job is
    committed, True if it was new."""

    def add(
        self,
        kind: str,
        key: str,
        payload: str,
        *,
        version: int = 1,
        request_id: str | None = None,
    ) -> bool: ...


class DurableJobs:
    """Jobs written to the ledger (the queue wakes a worker once they are committed)."""

    def __init__(self, queue: JobQueue) -> None:
        self._queue = queue

    def submit(self, payload: JobPayload, key: str, *, request_id: str | None = None) -> bool:
        try:
            added = self._queue.add(
                payload.KIND,
                key,
                payload.model_dump_json(),
                version=payload.VERSION,
                request_id=request_id or current_request_id(),  # the job logs under it too
            )
        except Exception:  # the person is told; nothing was acknowledged as done
            log.exception("could not save a %s job", payload.KIND)
            return False
        if added:  # a replay lands on the row already there
            JOBS_QUEUED.labels(payload.KIND).inc()
        return True


def action_key(kind: str, body: dict[str, Any]) -> str:
    """A button click: the clicker and the click's own ``action_ts``."""
    action = (body.get("actions") or [{}])[0]
    team = (body.get("team") or {}).get("id") or body["user"].get("team_id")
    return f"{kind}:{team}:{body['user']['id']}:{action.get('action_ts') or body.get('trigger_id')}"


def view_key(kind: str, body: dict[str, Any]) -> str:
    """A modal submission: the view and its hash (each submission of a view has its own)."""
    view = body.get("view") or {}
    return f"{kind}:{view.get('id')}:{view.get('hash')}"


def command_key(kind: str, command: dict[str, Any]) -> str:
    return f"{kind}:{command.get('team_id')}:{command.get('trigger_id')}"
