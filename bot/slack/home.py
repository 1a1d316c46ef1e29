"""App Home: my open tasks, tasks I assigned, overdue — published with views.publish."""

from __future__ import annotations

import logging

from slack_sdk.errors import SlackApiError

from bot.domain.models import Actor, AssigneeKind, ListView, Task
from bot.slack.blocks.home import home_view
from bot.slack.deps import SlackDeps

log = logging.getLogger(__name__)


def publish_home(deps: SlackDeps, team_id: str, user_id: str) -> None:
    """Build and publish one person's App Home (three list queries, one views.publish)."""
    actor = Actor(team_id=team_id, user_id=user_id)
    service = deps.service
    view = home_view(
        mine=service.list_tasks(actor, ListView.MINE),
        assigned=service.list_tasks(actor, ListView.ASSIGNED),
        overdue=service.list_tasks(actor, ListView.OVERDUE),
        viewer=user_id,
        capabilities=service.capabilities,
        now=deps.clock(),
    )
    deps.clients(team_id).views_publish(user_id=user_id, view=view)


def refresh_homes(deps: SlackDeps, task: Task) -> None:
    """After a change, republish the Home of the assignor and the user assignees."""
    users = {task.assignor} | {a.id for a in task.assignees if a.kind is AssigneeKind.USER}
    for user in sorted(users):
        try:
            publish_home(deps, task.team_id, user)
        except SlackApiError as exc:
            log.info("home refresh skipped team=%s user=%s: %s", task.team_id, user, exc)
