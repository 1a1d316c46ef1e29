"""The user map end to end: Slack stub, and a task backend that names people by UUIDs and has a
user directory (by email), as the external task systems do."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from bot.domain.links import LinkHow
from bot.domain.models import BackendCapabilities, CommentEvent
from tests.e2e.conftest import ADMIN, ANA, BEN, BOSS, CARL, OPS, TEAM, Taskbot
from tests.e2e.test_flows import card_in, dm, text_of
from tests.fakes import InMemoryBackend

UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
ANA_ID, CARL_ID, BEN_ID = (str(uuid.uuid4()) for _ in range(3))


class DirectoryBackend(InMemoryBackend):
    """People are UUIDs; the directory knows some of them by email."""

    name = "uuidtasks"

    def __init__(self, *, groups: bool = True) -> None:
        super().__init__(
            BackendCapabilities(
                must_all_native=True,
                groups=groups,
                user_map=True,
                directory=True,
                assignee_id_pattern=UUID,
                assignee_id_example="a UUID such as 3f2b…-…",
            )
        )
        self.emails = {"uana@example.com": ANA_ID, "ucarl@example.com": CARL_ID}

    def find_user_by_email(self, team_id: str, email: str) -> str | None:
        return self.emails.get(email.lower())


def answer(taskbot: Taskbot, text: str, user: str, key: str) -> str:
    assert taskbot.command(text, user=user, key=key).status_code == 200
    (reply,) = taskbot.slack.wait_for_response(key)
    return str(reply["text"])


def dms(taskbot: Taskbot, user: str) -> list[dict[str, Any]]:
    return taskbot.slack.messages(dm(user))


def test_people_are_linked_by_email_without_doing_anything(
    make_taskbot: Callable[..., Taskbot],
) -> None:
    taskbot = make_taskbot(backend=DirectoryBackend())
    created = answer(taskbot, f"add Audit <@{ANA}|ana>", BOSS, "c")
    assert "Created *T-1*" in created
    link = taskbot.app.service.links.whoami_of(TEAM, ANA)  # type: ignore[union-attr]
    assert link is not None and link.assignee_id == ANA_ID and link.how is LinkHow.EMAIL
    whoami = answer(taskbot, "whoami", ANA, "w")
    assert f"`{ANA_ID}`" in whoami and "by email" in whoami


def test_unlinked_people_are_named_and_the_task_saves_without_them(
    make_taskbot: Callable[..., Taskbot],
) -> None:
    taskbot = make_taskbot(backend=DirectoryBackend())
    refused = answer(taskbot, f"add Audit <@{ANA}|ana> <@{BEN}|ben>", BOSS, "c")
    assert f"<@{BEN}> is not linked to uuidtasks" in refused and "Remove them" in refused
    assert taskbot.app.backend.snapshot() == {}  # nothing half-written
    assert "/task link &lt;their-id&gt;" in refused  # escaped at the rendering edge
    assert dms(taskbot, BEN) == []  # nothing was saved, so nobody is DMed
    assert "Created *T-1*" in answer(taskbot, f"add Audit <@{ANA}|ana>", BOSS, "c2")
    assert "You are not linked to uuidtasks yet" in answer(taskbot, "whoami", BEN, "w")


def test_an_admin_links_people_and_others_cannot(make_taskbot: Callable[..., Taskbot]) -> None:
    taskbot = make_taskbot(backend=DirectoryBackend())
    refused = answer(taskbot, f"link <@{BEN}|ben> {BEN_ID}", CARL, "l1")
    assert "Only workspace admins" in refused
    assert "not an id this task system uses" in answer(
        taskbot, f"link <@{BEN}|ben> not-a-uuid", ADMIN, "l2"
    )
    assert f"is now `{BEN_ID}`" in answer(taskbot, f"link <@{BEN}|ben> {BEN_ID}", ADMIN, "l3")
    # Ben can't link himself to someone else's id: it isn't his email in the directory.
    assert "doesn't belong to your Slack email" in answer(taskbot, f"link {ANA_ID}", BEN, "l4")
    # Two Slack users for one id: refused, unless an admin forces it.
    assert "already linked" in answer(taskbot, f"link <@{CARL}|carl> {BEN_ID}", ADMIN, "l5")
    assert "is now" in answer(taskbot, f"link <@{CARL}|carl> {BEN_ID} --force", ADMIN, "l6")
    assert "no longer linked" in answer(taskbot, f"unlink <@{CARL}|carl>", ADMIN, "l7")
    assert "Only workspace admins" in answer(taskbot, f"unlink <@{ANA}|ana>", BEN, "l8")
    # Carl links himself: the directory confirms the id is his email's.
    assert f"You are now `{CARL_ID}`" in answer(taskbot, f"link {CARL_ID}", CARL, "l9")
    assert "Created *T-1*" in answer(taskbot, f"add Audit <@{CARL}|carl>", BOSS, "c")


def test_groups_are_expanded_where_the_backend_has_none(
    make_taskbot: Callable[..., Taskbot],
) -> None:
    backend = DirectoryBackend(groups=False)
    taskbot = make_taskbot(backend=backend)
    created = answer(taskbot, f"add Rota <!subteam^{OPS}|@ops>", BOSS, "c")
    assert "Created *T-1*" in created
    (task,) = backend.snapshot().values()
    assert {a.id for a in task.assignees} == {ANA, CARL}
    assert any(c.event is CommentEvent.EXPANDED for c in task.comments)
    ana_card = card_in(taskbot.slack, dm(ANA))
    assert f"assigned as members of <!subteam^{OPS}>" in text_of(ana_card)
