"""TaskService with in-memory ports: permissions, events, versions, bad input, isolation."""

from __future__ import annotations

import threading
from datetime import date, time

import pytest

from bot.domain.errors import BackendUnavailable, Conflict, InvalidInput, NotFound, NotPermitted
from bot.domain.models import (
    Actor,
    Assignee,
    BackendCapabilities,
    CompletionCondition,
    Due,
    ListView,
    Status,
    Task,
    TaskDraft,
    TaskEdit,
)
from bot.service.tasks import TaskService
from tests.fakes import FakeClock, FakeDirectory, FakeNotifier, InMemoryBackend

TEAM = "T1"


@pytest.fixture
def directory() -> FakeDirectory:
    d = FakeDirectory()
    for user in ("UBOSS", "UANA", "UBEN", "UCARL", "UEVE"):
        d.add_person(TEAM, user, tz="UTC")
    d.add_person(TEAM, "UADMIN", is_admin=True)
    d.add_person(TEAM, "UROBOT", is_bot=True)
    d.add_group(TEAM, "SOPS", ["UCARL"])
    d.add_person("T2", "UBOSS")
    return d


@pytest.fixture
def backend() -> InMemoryBackend:
    return InMemoryBackend()


@pytest.fixture
def notifier() -> FakeNotifier:
    return FakeNotifier()


@pytest.fixture
def service(
    backend: InMemoryBackend, notifier: FakeNotifier, directory: FakeDirectory
) -> TaskService:
    return TaskService(
        backend, notifier, directory, FakeClock(), admins=frozenset({"UEVE"}) - {"UEVE"}
    )


def who(user: str, team: str = TEAM) -> Actor:
    return Actor(team_id=team, user_id=user)


def draft(
    *assignees: Assignee,
    condition: CompletionCondition = CompletionCondition.MUST_ALL,
    **fields: object,
) -> TaskDraft:
    values: dict[str, object] = {
        "team_id": TEAM,
        "assignor": "UBOSS",
        "title": "Ship it",
        "condition": condition,
        "assignees": assignees or (Assignee.user("UANA"), Assignee.user("UBEN")),
    }
    values.update(fields)
    return TaskDraft(**values)  # type: ignore[arg-type]


def test_create_emits_created_and_assigned(service: TaskService, notifier: FakeNotifier) -> None:
    task = service.create_task(who("UBOSS"), draft())
    assert task.handle == "T-1"
    assert notifier.kinds() == ["created", "assigned"]
    assert notifier.events[1].assignees == task.assignees


def test_create_refuses_unknown_people_and_bots_and_writes_nothing(
    service: TaskService, backend: InMemoryBackend
) -> None:
    with pytest.raises(InvalidInput) as caught:
        service.create_task(
            who("UBOSS"),
            draft(Assignee.user("UGHOST"), Assignee.user("UROBOT"), Assignee.group("SNONE")),
        )
    message = caught.value.message  # ids by reference, never Slack markup
    assert "@UGHOST" in message and "@SNONE" in message and "@UROBOT" in message
    assert "<" not in caught.value.template
    assert {a.id for a in caught.value.refs} == {"UGHOST", "UROBOT", "SNONE"}
    assert backend.snapshot() == {}


def test_create_checks_the_backends_capabilities(directory: FakeDirectory) -> None:
    narrow = InMemoryBackend(
        BackendCapabilities(groups=False, multi_assignee=False, due_time=False)
    )
    service = TaskService(narrow, FakeNotifier(), directory, FakeClock())
    with pytest.raises(InvalidInput) as caught:
        service.create_task(
            who("UBOSS"),
            draft(
                Assignee.group("SOPS"),
                due=Due(date=date(2026, 12, 1), time=time(9)),
            ),
        )
    assert set(caught.value.errors) == {"assignees", "due"}
    assert narrow.snapshot() == {}


def test_create_as_someone_else_is_refused(service: TaskService) -> None:
    with pytest.raises(NotPermitted):
        service.create_task(who("UANA"), draft())


def test_must_all_flow_and_events(service: TaskService, notifier: FakeNotifier) -> None:
    service.create_task(who("UBOSS"), draft())
    service.complete_part(who("UANA"), "T-1")
    assert notifier.kinds()[-1] == "part_done"
    task = service.complete_part(who("UBEN"), "t1")
    assert task.status is Status.COMPLETED
    assert notifier.kinds()[-2:] == ["part_done", "completed"]
    task = service.undo_part(who("UBEN"), "#T-1")
    assert task.status is Status.REOPENED and notifier.kinds()[-1] == "reopened"


def test_done_twice_saves_and_notifies_nothing(
    service: TaskService, notifier: FakeNotifier
) -> None:
    service.create_task(who("UBOSS"), draft())
    first = service.complete_part(who("UANA"), "T-1")
    count = len(notifier.events)
    assert service.complete_part(who("UANA"), "T-1") == first
    assert len(notifier.events) == count


def test_assignor_done_completes_the_whole_task(service: TaskService) -> None:
    service.create_task(who("UBOSS"), draft())
    assert service.complete_part(who("UBOSS"), "T-1").status is Status.COMPLETED
    assert service.undo_part(who("UBOSS"), "T-1").status is Status.REOPENED


def test_group_member_does_the_group_part(service: TaskService) -> None:
    service.create_task(who("UBOSS"), draft(Assignee.group("SOPS")))
    assert service.complete_part(who("UCARL"), "T-1").status is Status.COMPLETED


def test_outsiders_change_nothing(service: TaskService, backend: InMemoryBackend) -> None:
    service.create_task(who("UBOSS"), draft())
    before = backend.snapshot()
    for action in (
        lambda: service.complete_part(who("UEVE"), "T-1"),
        lambda: service.reopen(who("UEVE"), "T-1"),
        lambda: service.assign(who("UEVE"), "T-1", [Assignee.user("UEVE")]),
        lambda: service.comment(who("UEVE"), "T-1", "hi"),
        lambda: service.delete(who("UEVE"), "T-1"),
        lambda: service.show(who("UEVE"), "T-1"),
    ):
        with pytest.raises(NotPermitted):
            action()
    assert backend.snapshot() == before


def test_workspace_admin_may_manage(service: TaskService) -> None:
    service.create_task(who("UBOSS"), draft())
    assert service.complete_task(who("UADMIN"), "T-1").status is Status.COMPLETED


def test_taskbot_admins_setting_counts_as_admin(
    backend: InMemoryBackend, directory: FakeDirectory
) -> None:
    service = TaskService(
        backend, FakeNotifier(), directory, FakeClock(), admins=frozenset({"UEVE"})
    )
    service.create_task(who("UBOSS"), draft())
    assert service.delete(who("UEVE"), "T-1").deleted


def test_other_workspaces_dont_see_tasks(service: TaskService) -> None:
    service.create_task(who("UBOSS"), draft())
    with pytest.raises(NotFound):
        service.show(who("UBOSS", team="T2"), "T-1")
    assert service.list_tasks(who("UBOSS", team="T2"), ListView.ASSIGNED) == []


def test_stale_version_is_a_conflict_and_changes_nothing(
    service: TaskService, backend: InMemoryBackend
) -> None:
    service.create_task(who("UBOSS"), draft())
    service.complete_part(who("UANA"), "T-1")
    before = backend.snapshot()
    with pytest.raises(Conflict) as caught:
        service.reassign(who("UBOSS"), "T-1", [Assignee.user("UCARL")], expected_version=1)
    assert caught.value.current.version == 2
    assert backend.snapshot() == before


class InterleavingBackend(InMemoryBackend):
    """Lets both threads read before either writes, so their saves collide."""

    def __init__(self) -> None:
        super().__init__()
        self.barrier: threading.Barrier | None = None
        self.waits = 0

    def get(self, team_id: str, handle: str) -> Task:
        task = super().get(team_id, handle)
        with self._lock:
            wait = self.barrier is not None and self.waits < 2
            self.waits += 1
        if wait and self.barrier is not None:
            self.barrier.wait(timeout=5)  # both have read version N before either saves
        return task


def test_two_assignees_pressing_done_at_once_both_count(directory: FakeDirectory) -> None:
    backend = InterleavingBackend()
    service = TaskService(backend, FakeNotifier(), directory, FakeClock())
    service.create_task(who("UBOSS"), draft())
    backend.barrier = threading.Barrier(2)
    threads = [
        threading.Thread(target=service.complete_part, args=(who(u), "T-1"))
        for u in ("UANA", "UBEN")
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    backend.barrier = None
    task = backend.get(TEAM, "T-1")
    assert task.done_count == 2 and task.status is Status.COMPLETED


def test_notifier_failure_never_undoes_a_change(
    service: TaskService, notifier: FakeNotifier, backend: InMemoryBackend
) -> None:
    service.create_task(who("UBOSS"), draft())
    notifier.fail = True
    service.complete_part(who("UANA"), "T-1")
    assert backend.get(TEAM, "T-1").done_count == 1


def test_backend_failure_propagates(service: TaskService, backend: InMemoryBackend) -> None:
    backend.fail_next()
    with pytest.raises(BackendUnavailable):
        service.create_task(who("UBOSS"), draft())


def test_bad_handles_and_deleted_tasks(service: TaskService) -> None:
    with pytest.raises(InvalidInput, match="look like T-12"):
        service.complete_part(who("UANA"), "banana")
    service.create_task(who("UBOSS"), draft())
    deleted = service.delete(who("UBOSS"), "T-1")
    assert deleted.deleted
    with pytest.raises(NotFound, match="T-1 was deleted"):
        service.complete_part(who("UANA"), "T-1")


def test_comment_and_edit_events(service: TaskService, notifier: FakeNotifier) -> None:
    service.create_task(who("UBOSS"), draft())
    task, comment = service.comment(who("UANA"), "T-1", "on it")
    assert notifier.events[-1].comment == comment and task.comments[-1] == comment
    service.edit(who("UBOSS"), "T-1", TaskEdit(title="Ship it now"))
    assert notifier.kinds()[-1] == "edited"


def test_lists_include_my_groups(service: TaskService) -> None:
    service.create_task(who("UBOSS"), draft(Assignee.group("SOPS")))
    service.create_task(who("UBOSS"), draft(Assignee.user("UANA")))
    assert [t.handle for t in service.list_tasks(who("UCARL"), ListView.MINE)] == ["T-1"]
    assert [t.handle for t in service.list_tasks(who("UBOSS"), ListView.ASSIGNED)] == ["T-1", "T-2"]


def test_claim(service: TaskService, notifier: FakeNotifier) -> None:
    service.create_task(who("UBOSS"), draft(condition=CompletionCondition.ANY_ONE))
    task = service.claim(who("UANA"), "T-1")
    assert task.claimed_by == "UANA" and notifier.kinds()[-1] == "claimed"


def test_one_assignee_backends_replace_on_assign_and_clear_on_unassign(
    directory: FakeDirectory,
) -> None:
    one = InMemoryBackend(BackendCapabilities(multi_assignee=False, label="Maxsight"))
    service = TaskService(one, FakeNotifier(), directory, FakeClock())
    service.create_task(who("UBOSS"), draft(Assignee.user("UANA")))
    task = service.assign(who("UBOSS"), "T-1", [Assignee.user("UBEN")])
    assert task.assignees == (Assignee.user("UBEN"),)
    with pytest.raises(InvalidInput, match="One assignee per task in Maxsight: assigning rep"):
        service.assign(who("UBOSS"), "T-1", [Assignee.user("UANA"), Assignee.group("SOPS")])
    assert service.unassign(who("UBOSS"), "T-1", []).assignees == ()


def test_unassign_naming_nobody_is_refused_where_tasks_have_several(service: TaskService) -> None:
    service.create_task(who("UBOSS"), draft())
    with pytest.raises(InvalidInput, match="Name who to unassign"):
        service.unassign(who("UBOSS"), "T-1", [])
