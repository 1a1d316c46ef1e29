"""Property tests over random sequences of actions on one task.

Whatever happens: a MUST_ALL task is COMPLETED exactly when it has parts and all are DONE, an
ANY_ONE task exactly when one is (unless the assignor completed it whole); nobody outside the
task, and nobody from another workspace, ever changes it; every change bumps the version.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.domain import rules
from bot.domain.errors import DomainError, NotPermitted
from bot.domain.models import (
    Actor,
    Assignee,
    CompletionCondition,
    PartState,
    Status,
    Task,
    TaskDraft,
)

NOW = datetime(2026, 11, 23, 12, tzinfo=UTC)
USERS = ["U1", "U2", "U3", "U4"]
GROUPS = {"S1": {"U3", "U5"}, "S2": {"U4"}}
ASSIGNOR = "U0"
OUTSIDER = "U9"

assignees = st.lists(
    st.sampled_from([Assignee.user(u) for u in USERS] + [Assignee.group(g) for g in GROUPS]),
    min_size=1,
    max_size=5,
    unique=True,
)
people = st.sampled_from([ASSIGNOR, OUTSIDER, "UADMIN", "U5", *USERS])
actions = st.sampled_from(
    ["done", "undo", "complete", "reopen", "assign", "unassign", "reassign", "comment", "claim"]
)


def actor(user: str, team: str = "T1") -> Actor:
    groups = frozenset(g for g, members in GROUPS.items() if user in members)
    return Actor(team_id=team, user_id=user, is_admin=user == "UADMIN", group_ids=groups)


def apply(task: Task, action: str, who: Actor, picked: list[Assignee], at: datetime) -> Task:
    if action == "done":
        return rules.set_own_parts(task, who, PartState.DONE, at)
    if action == "undo":
        return rules.set_own_parts(task, who, PartState.TODO, at)
    if action == "complete":
        return rules.complete_task(task, who, at)
    if action == "reopen":
        return rules.reopen(task, who, at)
    if action == "assign":
        return rules.assign(task, who, picked, at)
    if action == "unassign":
        return rules.unassign(task, who, picked[:1], at)
    if action == "reassign":
        return rules.reassign(task, who, picked, at)
    if action == "claim":
        return rules.claim(task, who, at)
    return rules.add_comment(task, who, "hello", at)[0]


def is_outsider(task: Task, who: Actor) -> bool:
    return not rules.can_manage(task, who) and not rules.own_parts(task, who)


@settings(max_examples=150, deadline=None)
@given(
    condition=st.sampled_from(list(CompletionCondition)),
    initial=assignees,
    steps=st.lists(st.tuples(actions, people, assignees), max_size=25),
)
def test_status_follows_the_completion_rule(
    condition: CompletionCondition,
    initial: list[Assignee],
    steps: list[tuple[str, str, list[Assignee]]],
) -> None:
    draft = TaskDraft(
        team_id="T1", assignor=ASSIGNOR, title="t", condition=condition, assignees=tuple(initial)
    )
    task = rules.new_task(draft, task_id="x", handle="T-1", now=NOW)
    completed_whole = False
    for index, (action, user, picked) in enumerate(steps):
        at = NOW + timedelta(minutes=index)
        who = actor(user)
        before = task
        try:
            task = apply(task, action, who, picked, at)
        except NotPermitted:
            assert task == before
            continue
        except DomainError:
            assert task == before
            continue
        if is_outsider(before, who):
            raise AssertionError(f"{user} changed a task they are not part of with {action}")
        if task != before:
            assert task.version == before.version + 1
        else:
            assert task.version == before.version
        if action == "complete" and task.is_completed and not before.is_completed:
            completed_whole = True
        if task.status is not Status.COMPLETED:
            completed_whole = False

        done = [p.state is PartState.DONE for p in task.parts]
        if condition is CompletionCondition.MUST_ALL:
            holds = bool(done) and all(done)
        else:
            holds = any(done)
        if completed_whole and not task.parts:
            continue
        assert (task.status is Status.COMPLETED) == holds, (action, task.status, done)


@settings(max_examples=100, deadline=None)
@given(
    initial=assignees,
    steps=st.lists(st.tuples(actions, people, assignees), min_size=1, max_size=10),
)
def test_another_workspace_never_changes_a_task(
    initial: list[Assignee], steps: list[tuple[str, str, list[Assignee]]]
) -> None:
    draft = TaskDraft(team_id="T1", assignor=ASSIGNOR, title="t", assignees=tuple(initial))
    task = rules.new_task(draft, task_id="x", handle="T-1", now=NOW)
    for action, user, picked in steps:
        try:
            apply(task, action, actor(user, team="T2"), picked, NOW)
        except DomainError:
            continue
        raise AssertionError(f"{user} of another workspace could {action}")
