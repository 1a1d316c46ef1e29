"""App Home's sections page with Previous / Next over signed HTTP (issue 13): a click
re-publishes Home with that section a page further, the other sections where they were, and a
value taskbot did not make publishes nothing."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from bot.domain.models import Assignee, TaskDraft
from bot.slack import ids
from bot.slack.blocks.home import PER_SECTION
from storage.tables import JobRow
from tests.e2e.conftest import ANA, BOSS, TEAM, Taskbot
from tests.slack_requests import app_home_opened, block_action

EXTRA = 3


def section(home: dict[str, Any], title: str) -> tuple[list[str], dict[str, str]]:
    """A section's handles and its Previous / Next buttons (action_id → value)."""
    handles: list[str] = []
    turns: dict[str, str] = {}
    inside = False
    for block in home["blocks"]:
        if block["type"] == "header":
            inside = block["text"]["text"].startswith(title)
        elif inside and block["type"] == "section":
            handles.append(block["text"]["text"].split("*")[1])
        elif inside and block["type"] == "actions":
            for e in block["elements"]:
                if e["action_id"] in (ids.ACTION_HOME_PREVIOUS, ids.ACTION_HOME_NEXT):
                    turns[e["action_id"]] = e["value"]
    return handles, turns


def click(taskbot: Taskbot, action_id: str, value: str, published: int) -> dict[str, Any]:
    request = block_action(action_id, value, user_id=ANA, team_id=TEAM, container="view")
    assert taskbot.send(request).status_code == 200
    taskbot.slack.wait_for("views.publish", count=published)
    home = taskbot.slack.home(ANA)
    assert home is not None
    return home


def test_home_sections_turn_pages_in_place(taskbot: Taskbot) -> None:
    now = datetime.now(UTC)
    backend = taskbot.app.backend
    for n in range(PER_SECTION + EXTRA):
        mine = TaskDraft(
            team_id=TEAM, assignor=BOSS, title=f"Mine {n}", assignees=(Assignee.user(ANA),)
        )
        backend.create(mine, now)
        given = TaskDraft(
            team_id=TEAM, assignor=ANA, title=f"By me {n}", assignees=(Assignee.user(BOSS),)
        )
        backend.create(given, now)
    assert taskbot.send(app_home_opened(ANA, team_id=TEAM)).status_code == 200
    taskbot.slack.wait_for("views.publish")
    first = taskbot.slack.home(ANA)
    assert first is not None
    mine, turns = section(first, "My open tasks")
    assert len(mine) == PER_SECTION and set(turns) == {ids.ACTION_HOME_NEXT}
    assert f"My open tasks ({PER_SECTION + EXTRA})" in str(first["blocks"])

    # Next under "Tasks I assigned", then Next under "My open tasks": assigned stays on page 2.
    given_first, given_turns = section(first, "Tasks I assigned")
    home = click(taskbot, ids.ACTION_HOME_NEXT, given_turns[ids.ACTION_HOME_NEXT], 2)
    given_second, _ = section(home, "Tasks I assigned")
    assert len(given_second) == EXTRA and not set(given_second) & set(given_first)
    assert section(home, "My open tasks")[0] == mine
    home = click(
        taskbot, ids.ACTION_HOME_NEXT, section(home, "My open tasks")[1][ids.ACTION_HOME_NEXT], 3
    )
    mine_second, turns = section(home, "My open tasks")
    assert len(mine_second) == EXTRA and set(turns) == {ids.ACTION_HOME_PREVIOUS}
    assert sorted(mine + mine_second) == sorted(set(mine + mine_second))
    assert section(home, "Tasks I assigned")[0] == given_second

    home = click(taskbot, ids.ACTION_HOME_PREVIOUS, turns[ids.ACTION_HOME_PREVIOUS], 4)
    assert section(home, "My open tasks")[0] == mine

    bad = block_action(ids.ACTION_HOME_NEXT, "a/1;x;", user_id=ANA, team_id=TEAM, container="view")
    assert taskbot.send(bad).status_code == 200  # acknowledged; refused before any job
    with taskbot.app.engine.connect() as connection:
        kinds = connection.execute(select(JobRow.kind).where(JobRow.kind == "home-page")).all()
    assert len(kinds) == 3
