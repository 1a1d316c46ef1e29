"""Who hears what, in which words: changes made in Slack name their author; changes pulled from a
task system say where they were made (and who, when the system names a linked person), never
that the task's assignor made them."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.domain import rules
from bot.domain.events import EventKind, Origin, TaskEvent
from bot.domain.models import (
    Actor,
    Assignee,
    BackendCapabilities,
    CardKind,
    CompletionCondition,
    Part,
    Status,
    Task,
)
from bot.slack.blocks.card import task_card
from bot.slack.notifier import SlackNotifier
from tests.fakes import FakeDirectory
from tests.security.test_rendering_edge import MemoryCards, RecordingClient

TEAM, BOSS, ANA, BEN = "T1", "UBOSS", "UANA", "UBEN"
NOW = datetime(2026, 12, 3, 9, tzinfo=UTC)
STRUCT = Origin(system="Struct PIM")


def task(**fields: object) -> Task:
    base = Task(
        team_id=TEAM,
        id="struct-1",
        handle="T-1",
        title="Check images",
        condition=CompletionCondition.ANY_ONE,
        status=Status.REOPENED,
        assignor=BOSS,
        parts=(Part(assignee=Assignee.user(BEN)),),
        created_at=NOW,
        updated_at=NOW,
        version=2,
    )
    return base.model_copy(update=fields)


def told(*events: TaskEvent) -> dict[str, list[str]]:
    """The text each person (DM channel) was sent."""
    client = RecordingClient()
    notifier = SlackNotifier(
        lambda team: client,  # type: ignore[arg-type, return-value]
        MemoryCards(),
        FakeDirectory(),
        BackendCapabilities(),
        lambda: NOW,
    )
    notifier.notify(list(events))
    said: dict[str, list[str]] = {}
    for message in client.sent:
        said.setdefault(message["channel"], []).append(message["text"])
    return said


def pulled(kind: EventKind, origin: Origin = STRUCT, **fields: object) -> TaskEvent:
    actor = Actor(team_id=TEAM, user_id=origin.user_id or "")
    return TaskEvent(kind=kind, task=task(), actor=actor, origin=origin, **fields)  # type: ignore[arg-type]


def test_a_reopening_in_struct_is_told_once_to_assignees_and_assignor_as_made_there() -> None:
    said = told(pulled(EventKind.REOPENED))
    text = ":leftwards_arrow_with_hook: *T-1* Check images was reopened in Struct PIM."
    assert said == {BEN: [text], BOSS: [text]}


def test_a_linked_author_is_named_with_the_system() -> None:
    said = told(pulled(EventKind.COMPLETED, Origin(system="Paymo", user_id=ANA)))
    assert said == {BOSS: [f":white_check_mark: <@{ANA}> completed *T-1* Check images in Paymo."]}


def test_assignees_changed_there_get_the_card_or_hear_they_were_removed() -> None:
    said = told(
        pulled(EventKind.ASSIGNED, assignees=(Assignee.user(ANA),)),
        pulled(EventKind.UNASSIGNED, assignees=(Assignee.user(BEN),)),
    )
    assert said == {
        ANA: ["You were assigned *T-1* Check images in Struct PIM"],
        BEN: ["You were unassigned from *T-1* Check images in Struct PIM."],
    }


def test_changes_made_in_slack_keep_their_words() -> None:
    boss = Actor(team_id=TEAM, user_id=BOSS)
    said = told(TaskEvent(kind=EventKind.REOPENED, task=task(), actor=boss))
    assert said == {BEN: [f":leftwards_arrow_with_hook: <@{BOSS}> reopened *T-1* Check images."]}
    ben = Actor(team_id=TEAM, user_id=BEN)
    done = TaskEvent(kind=EventKind.COMPLETED, task=task(), actor=ben)
    assert told(done) == {
        BOSS: [f":white_check_mark: *T-1* Check images is completed (last by <@{BEN}>)."]
    }


def test_the_card_says_a_task_was_completed_in_the_system_not_by_its_assignor() -> None:
    system = Actor(team_id=TEAM, user_id="", is_admin=True)
    open_task = task(status=Status.NEW)
    done = rules.made_in(open_task, rules.complete_task(open_task, system, NOW), "Struct PIM")
    card = task_card(
        done, viewer=BOSS, kind=CardKind.ASSIGNOR_DM, capabilities=BackendCapabilities(), now=NOW
    )
    shown = str(card.blocks)
    assert "Completed in Struct PIM" in card.text and "Completed by" not in shown
    (comment,) = rules.added_comments(open_task, done)
    assert comment.origin == "Struct PIM" and comment.author == ""


def test_a_system_label_with_markup_is_shown_inert() -> None:
    said = told(pulled(EventKind.REOPENED, Origin(system="<!channel> PIM")))
    assert said[BEN] == [
        ":leftwards_arrow_with_hook: *T-1* Check images was reopened in &lt;!channel&gt; PIM."
    ]
