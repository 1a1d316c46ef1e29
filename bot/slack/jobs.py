"""Every after-ack job by name, so a job can be sent as data to wherever it runs."""

from __future__ import annotations

from bot.slack.background import Payload, Runner
from bot.slack.deps import Job, SlackDeps
from bot.slack.listeners import actions, commands, events, views

JOBS: dict[str, Job] = {**actions.JOBS, **commands.JOBS, **events.JOBS, **views.JOBS}


def runner(deps: SlackDeps) -> Runner:
    def run(job: str, payload: Payload) -> None:
        JOBS[job](deps, payload)

    return run
