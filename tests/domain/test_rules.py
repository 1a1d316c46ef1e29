"""Each rule of DESIGN.md, one example at a time."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest

from bot.domain import rules
from bot.domain.errors import Conflict, InvalidInput, NotFound, NotPermitted
from bot.domain.models import (
    MAX_ASSIGNEES,
    Actor,
    Assignee,
    CommentEvent,
    CompletionCondition,
    Due,
    PartState,
    Status,
    Task,
    TaskDraft,
    TaskEdit,
)

NOW = datetime(2026, 11, 23, 12, tzinfo=UTC)
BOSS = Actor(team_id="T1", user_id="UBOSS")
ANA = Actor(team_id="T1", user_id="UANA")
BEN = Actor(team_id="T1", user_id="UBEN")
CARL = Actor(team_id="T1", user_id="UCARL", group_ids=frozenset({"SOPS"}))
EVE = Actor(team_id="T1", user_id="UEVE")
ADMIN = Actor(team_id="T1", user_id="UADM", is_admin=True)


def make(condition: CompletionCondition = CompletionCondition.MUST_ALL, **fields: object) -> Task:
    values: dict[str, object] = {
        "team_id": "T1",
        "assignor": "UBOSS",
        "title": "Ship it",
        "condition": condition,
        "assignees": (Assignee.user("UANA"), Assignee.user("UBEN")),
    }
    values.update(fields)
    return rules.new_task(TaskDraft(**values), task_id="id1", handle="T-1", now=NOW)  # type: ignore[arg-type]


def test_must_all_completes_only_when_everyone_is_done() -> None:
    task = rules.set_own_parts(make(), ANA, PartState.DONE, NOW)
    assert task.status is Status.IN_PROGRESS
    task = rules.set_own_parts(task, BEN, PartState.DONE, NOW)
    assert task.status is Status.COMPLETED
    assert task.comments[-1].event is CommentEvent.COMPLETED


def test_any_one_completes_at_the_first_done() -> None:
    task = rules.set_own_parts(make(CompletionCondition.ANY_ONE), BEN, PartState.DONE, NOW)
    assert task.status is Status.COMPLETED


def test_undo_on_a_completed_task_reopens_it() -> None:
    task = rules.set_own_parts(make(CompletionCondition.ANY_ONE), BEN, PartState.DONE, NOW)
    task = rules.set_own_parts(task, BEN, PartState.TODO, NOW)
    assert task.status is Status.REOPENED


def test_group_part_is_done_by_a_member() -> None:
    task = make(assignees=(Assignee.group("SOPS"),))
    done = rules.set_own_parts(task, CARL, PartState.DONE, NOW)
    assert done.status is Status.COMPLETED and done.parts[0].done_by == "UCARL"
    with pytest.raises(NotPermitted):
        rules.set_own_parts(task, EVE, PartState.DONE, NOW)


def test_done_twice_is_a_no_op_without_a_new_version() -> None:
    task = rules.set_own_parts(make(), ANA, PartState.DONE, NOW)
    assert rules.set_own_parts(task, ANA, PartState.DONE, NOW) is task


def test_only_assignor_or_admin_manage() -> None:
    task = make()
    for rule in (
        lambda who: rules.complete_task(task, who, NOW),
        lambda who: rules.assign(task, who, [Assignee.user("UZED")], NOW),
        lambda who: rules.reassign(task, who, [Assignee.user("UZED")], NOW),
        lambda who: rules.delete(task, who, NOW),
        lambda who: rules.edit(task, who, TaskEdit(title="new"), NOW),
    ):
        with pytest.raises(NotPermitted):
            rule(ANA)
        assert rule(BOSS).version == 2
        assert rule(ADMIN).version == 2


def test_complete_whole_task_marks_every_part() -> None:
    task = rules.complete_task(make(), BOSS, NOW)
    assert task.status is Status.COMPLETED and task.done_count == 2


def test_reopen_sets_every_part_back() -> None:
    task = rules.reopen(rules.complete_task(make(), BOSS, NOW), BOSS, NOW)
    assert task.status is Status.REOPENED and task.done_count == 0
    with pytest.raises(InvalidInput, match="not completed"):
        rules.reopen(task, BOSS, NOW)


def test_reassign_keeps_parts_of_those_who_stay() -> None:
    task = rules.set_own_parts(make(), ANA, PartState.DONE, NOW)
    task = rules.reassign(task, BOSS, [Assignee.user("UANA"), Assignee.user("UZED")], NOW)
    assert [(p.assignee.id, p.state) for p in task.parts] == [
        ("UANA", PartState.DONE),
        ("UZED", PartState.TODO),
    ]
    events = [c.event for c in task.comments]
    assert CommentEvent.ASSIGNED in events and CommentEvent.UNASSIGNED in events


def test_unassigning_someone_not_assigned_is_an_input_error() -> None:
    with pytest.raises(InvalidInput, match="Not assigned to T-1: UZED"):
        rules.unassign(make(), BOSS, [Assignee.user("UZED")], NOW)


def test_assignee_cap() -> None:
    many = tuple(Assignee.user(f"U{i}") for i in range(MAX_ASSIGNEES + 1))
    with pytest.raises(InvalidInput, match=f"at most {MAX_ASSIGNEES}"):
        make(assignees=many)
    task = make(assignees=many[:MAX_ASSIGNEES])
    with pytest.raises(InvalidInput):
        rules.assign(task, BOSS, [Assignee.user("UEXTRA")], NOW)


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"title": "   "}, "title"),
        ({"title": "x" * 151}, "title"),
        ({"description": "x" * 3001}, "description"),
        ({"due": Due(date=date(2026, 11, 22))}, "due"),
        ({"due": Due(date=date(2026, 11, 23), time=time(11, 0))}, "due"),
    ],
)
def test_bad_drafts_name_the_field(fields: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        make(**fields)
    assert field in caught.value.errors


def test_today_without_a_time_is_allowed() -> None:
    assert make(due=Due(date=date(2026, 11, 23))).due is not None


def test_stale_version_is_a_conflict_carrying_the_current_task() -> None:
    task = rules.set_own_parts(make(), ANA, PartState.DONE, NOW)
    with pytest.raises(Conflict) as caught:
        rules.ensure_version(task, 1)
    assert caught.value.current == task


def test_deleted_tasks_refuse_changes() -> None:
    task = rules.delete(make(), BOSS, NOW)
    with pytest.raises(NotFound, match="T-1 was deleted"):
        rules.set_own_parts(task, ANA, PartState.DONE, NOW)


def test_comments_by_participants_only() -> None:
    task, comment = rules.add_comment(make(), ANA, "  looks good  ", NOW)
    assert comment.text == "looks good" and not comment.system
    with pytest.raises(NotPermitted):
        rules.add_comment(task, EVE, "hi", NOW)
    with pytest.raises(InvalidInput):
        rules.add_comment(task, ANA, "   ", NOW)


def test_claim_is_for_pending_assignees_of_any_one_tasks() -> None:
    task = make(CompletionCondition.ANY_ONE)
    claimed = rules.claim(task, ANA, NOW)
    assert claimed.claimed_by == "UANA" and claimed.status is Status.IN_PROGRESS
    assert rules.claim(claimed, ANA, NOW) is claimed
    with pytest.raises(NotPermitted):
        rules.claim(task, EVE, NOW)
    with pytest.raises(InvalidInput):
        rules.claim(make(), ANA, NOW)


def test_edit_changes_fields_and_refuses_past_due() -> None:
    task = rules.edit(make(), BOSS, TaskEdit(title="New", status=Status.AWAITING_FEEDBACK), NOW)
    assert (task.title, task.status) == ("New", Status.AWAITING_FEEDBACK)
    with pytest.raises(InvalidInput):
        rules.edit(task, BOSS, TaskEdit(due=Due(date=(NOW - timedelta(days=3)).date())), NOW)


def test_visibility() -> None:
    task = make(channel_id="C1")
    assert rules.can_see(task, ANA) and rules.can_see(task, BOSS)
    assert not rules.can_see(task, EVE) and rules.can_see(task, EVE, "C1")
    assert not rules.can_see(task, Actor(team_id="T2", user_id="UBOSS"))
