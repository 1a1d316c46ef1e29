"""Issue 14, attribution: a change pulled from a task system is stored as made there. Its history
(system comments) says where, the system's own author is mapped back to Slack when its API says
who (Paymo ``completed_by``, Maxsight ``assigned_by_id``), never the assignor; assignees changed
there are taken in; and taskbot's own writes read back are no change."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.domain.events import EventKind, Notice, Origin
from bot.domain.models import Actor, Assignee, Comment, CommentEvent, ListView
from bot.domain.rules import added_comments
from bot.service.ports import Pulled
from storage.tables import JobRow
from tests.backends import test_maxsight as mx
from tests.backends import test_paymo as pm
from tests.backends import test_struct_pim as st
from tests.fakes import FakeNotifier
from tests.stubs.maxsight_api import MaxsightSimulator, maxsight_simulator
from tests.stubs.paymo_api import PaymoSimulator, paymo_simulator
from tests.stubs.struct_pim_api import StructPimSimulator, struct_pim_simulator

BOSS, ANA, BEN = st.BOSS, st.ANA, st.BEN
later = st.NOW + timedelta(minutes=1)


@pytest.fixture
def struct() -> Iterator[StructPimSimulator]:
    with struct_pim_simulator("struct-key") as simulator:
        simulator.add_user("12", "ana@example.com")
        simulator.add_user("5", "ben@example.com")
        simulator.add_group(st.GROUP_UID, "Ops")
        yield simulator


@pytest.fixture
def paymo() -> Iterator[PaymoSimulator]:
    with paymo_simulator("paymo-key") as simulator:
        simulator.add_user(pm.ANA_ID, "ana@example.com")
        simulator.add_user(pm.BEN_ID, "ben@example.com")
        yield simulator


@pytest.fixture
def maxsight() -> Iterator[MaxsightSimulator]:
    with maxsight_simulator("maxsight-key") as simulator:
        yield simulator


def history(change: Pulled) -> list[tuple[CommentEvent | None, str | None, str | None]]:
    """(event, author, origin) of each comment the change added."""
    assert change.before is not None
    return [(c.event, c.author, c.origin) for c in added_comments(change.before, change.after)]


def test_a_reopening_in_struct_is_recorded_as_made_there_not_by_the_assignor(
    struct: StructPimSimulator, sessions: sessionmaker[Session]
) -> None:
    backend = st.make_backend(struct, sessions)
    tasks = st.service(backend)
    task = tasks.create_task(Actor(team_id=st.TEAM, user_id=BOSS), st.draft())
    tasks.complete_task(Actor(team_id=st.TEAM, user_id=BOSS), task.handle)
    assert backend.pull(later) == []  # taskbot's own write read back: no change
    struct.edit_task(backend.external_id(task), Status=0)
    (change,) = backend.pull(later)
    assert change.by is None and not change.after.is_completed
    assert history(change) == [(CommentEvent.REOPENED, "", "Struct PIM")]
    assert BOSS not in {p.done_by for p in change.after.parts}
    stored = backend.get(st.TEAM, task.handle)  # read back, as the card sweep and /task show do
    assert stored.comments[-1].origin == "Struct PIM"


def test_assignees_changed_in_struct_are_taken_in(
    struct: StructPimSimulator, sessions: sessionmaker[Session]
) -> None:
    backend = st.make_backend(struct, sessions)
    task = st.service(backend).create_task(Actor(team_id=st.TEAM, user_id=BOSS), st.draft())
    struct.edit_task(backend.external_id(task), AssignedUsers=["5"], AssignedUserGroups=[])
    (change,) = backend.pull(later)
    assert change.after.assignees == (Assignee.user(BEN),)
    assert history(change) == [(CommentEvent.UNASSIGNED, "", "Struct PIM")]
    struct.edit_task(backend.external_id(task), AssignedUsers=["5", "999"])  # unknown there
    assert backend.pull(later) == []  # someone taskbot can't name: the assignees stay


def test_a_completion_in_paymo_names_its_linked_author(
    paymo: PaymoSimulator, sessions: sessionmaker[Session]
) -> None:
    backend = pm.make_backend(paymo, sessions)
    task = pm.service(backend).create_task(Actor(team_id=pm.TEAM, user_id=BOSS), pm.draft())
    remote_id = int(backend.external_id(task))
    paymo.edit_task(remote_id, complete=True, completed_by=pm.ANA_ID)
    (change,) = backend.pull(later)
    assert change.by == ANA and change.after.is_completed
    assert history(change) == [(CommentEvent.COMPLETED, ANA, "Paymo")]
    paymo.edit_task(remote_id, users=[pm.BEN_ID])
    (change,) = backend.pull(later)
    assert change.by is None and change.after.assignees == (Assignee.user(BEN),)


def test_a_reassignment_in_maxsight_names_who_assigned(
    maxsight: MaxsightSimulator, sessions: sessionmaker[Session]
) -> None:
    backend = mx.make_backend(maxsight, sessions)
    task_id = maxsight.add_task("KYC review", assigned_to=mx.ANA_MX)
    (task,) = mx.service(backend).list_tasks(mx.ana, ListView.MINE)
    maxsight.assign_in_maxsight(task_id, to=mx.BEN_MX, by=mx.ANA_MX)
    (change,) = backend.pull(later)
    assert change.by == ANA and change.after.assignees == (Assignee.user(BEN),)
    assert [e for e, _, _ in history(change)] == [CommentEvent.ASSIGNED, CommentEvent.UNASSIGNED]
    assert {(a, o) for _, a, o in history(change)} == {(ANA, "Maxsight")}


def test_comments_stored_before_origin_existed_read_as_made_in_slack() -> None:
    stored = {"author": BOSS, "text": "reopened the task", "created_at": st.NOW.isoformat()}
    assert Comment.model_validate({**stored, "event": "reopened"}).origin is None


def test_a_pulled_change_and_its_notice_are_stored_together_once(
    struct: StructPimSimulator, sessions: sessionmaker[Session]
) -> None:
    backend = st.make_backend(struct, sessions)
    task = st.service(backend).create_task(Actor(team_id=st.TEAM, user_id=BOSS), st.draft())
    struct.edit_task(backend.external_id(task), Status=4)
    (change,) = backend.pull(later)
    assert change.notice is not None
    notices = notice_jobs(sessions)
    assert list(notices) == [change.notice]
    (event,) = Notice.model_validate_json(notices[change.notice]).events
    assert event.kind is EventKind.COMPLETED and event.origin == Origin(system="Struct PIM")
    assert backend.pull(later) == []  # the pass run again: nothing stored or queued twice
    assert list(notice_jobs(sessions)) == [change.notice]


def notice_jobs(sessions: sessionmaker[Session]) -> dict[str, str]:
    """key → payload of every notification job queued by a sync."""
    with sessions() as session:
        rows = session.scalars(select(JobRow).where(JobRow.key.startswith("notify:sync:")))
        return {row.key: row.payload for row in rows}


def deliver_from_jobs(
    sessions: sessionmaker[Session], notifier: FakeNotifier
) -> Callable[[str], None]:
    """Stands in for the job worker a sync pass hands its queued notices to (``deliver_now``)."""

    def run(key: str) -> None:
        with sessions() as session:
            payload = session.scalars(select(JobRow.payload).where(JobRow.key == key)).one()
        notifier.notify(Notice.model_validate_json(payload).events)

    return run
