"""App Home's Previous / Next: inside Slack's 100 blocks at the worst case, and the place each
button carries is bounded and parsed strictly (issue 13)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time

import pytest

from bot.domain import rules
from bot.domain.models import (
    Assignee,
    BackendCapabilities,
    CompletionCondition,
    Due,
    PageKey,
    TaskDraft,
    TaskPage,
)
from bot.slack import ids
from bot.slack.blocks.home import PER_SECTION, home_view
from bot.slack.home_place import MAX_VALUE, SECTIONS, START, HomePlace, SectionPlace

NOW = datetime(2026, 11, 23, 12, tzinfo=UTC)
ANA = "UANA"
LATE = PageKey(due_at=datetime(2026, 12, 1, 9, 30, 0, 123456, tzinfo=UTC), number=999_999_999)


def worst_page(first: int) -> TaskPage:
    """A full page whose every task gives Ana every button: she assigned it to herself and a
    group, any-one: Done, I'm on it, Complete task, Comment, Reassign."""
    tasks = [
        rules.new_task(
            TaskDraft(
                team_id="T1",
                assignor=ANA,
                title="x" * 150,
                condition=CompletionCondition.ANY_ONE,
                due=Due(date=date(2026, 12, 1), time=time(9, 30), tz="Asia/Tokyo"),
                assignees=(Assignee.user(ANA), Assignee.user("UBEN"), Assignee.group("SOPS")),
            ),
            task_id=f"id{n}",
            handle=f"T-{n}",
            now=NOW,
        )
        for n in range(first, first + PER_SECTION)
    ]
    return TaskPage(tasks, total=5_000, more_before=True, more_after=True)


def test_a_home_paged_everywhere_stays_inside_100_blocks() -> None:
    place = HomePlace(mine=SectionPlace(after=LATE), overdue=SectionPlace(before=LATE))
    view = home_view(
        mine=worst_page(100_000_000),
        assigned=worst_page(200_000_000),
        overdue=worst_page(300_000_000),
        viewer=ANA,
        capabilities=BackendCapabilities(),
        now=NOW,
        place=place,
    ).to_dict()  # validates with slack_sdk
    assert len(view["blocks"]) <= 100
    turns = [
        e
        for b in view["blocks"]
        if b["type"] == "actions"
        for e in b["elements"]
        if e["action_id"] in (ids.ACTION_HOME_PREVIOUS, ids.ACTION_HOME_NEXT)
    ]
    assert len(turns) == 6
    for button, section in zip(turns, [s for s in SECTIONS for _ in (0, 1)], strict=True):
        assert len(button["value"]) <= MAX_VALUE
        moved = HomePlace.decode(button["value"])
        assert [moved.of(s) for s in SECTIONS if s != section] == [
            place.of(s) for s in SECTIONS if s != section
        ]
        assert moved.of(section) != place.of(section)


def test_a_place_round_trips() -> None:
    undated = PageKey(due_at=None, number=3)
    place = HomePlace(mine=SectionPlace(before=undated), assigned=SectionPlace(after=LATE))
    assert HomePlace.decode(place.encode()) == place
    assert HomePlace.decode(START.encode()) == START == HomePlace.decode(";;")


@pytest.mark.parametrize(
    "value",
    [
        "",
        ";",
        ";;;",
        "x/1;;",
        "a/;;",
        "a/12345678901;;",  # eleven digits
        "a2026-12-01T09:30:00/1;;",  # no zone
        "anot-a-date/1;;",
        "a/-1;;",
        "a/1 ;;",
        "a/1;;" + "b/1" * 200,
    ],
)
def test_a_value_taskbot_did_not_make_is_refused(value: str) -> None:
    with pytest.raises(ValueError):
        HomePlace.decode(value)
