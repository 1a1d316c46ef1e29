"""Comments both ways on Paymo (comment threads) and Struct PIM (UserTask comments).

First the simulators' contracts for the calls taskbot makes (as the vendors' docs say), then the
backends against them: comments written there come in once, attributed to the linked person;
edits and deletions made there follow; comments written in Slack are never taken back in."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from bot.domain.events import EventKind
from bot.domain.models import COMMENT_MAX, Actor, Comment, Task
from bot.service.ports import Pulled
from bot.service.sync import BackendSync
from tests.backends import test_paymo, test_struct_pim
from tests.fakes import FakeNotifier
from tests.stubs.paymo_api import PaymoSimulator, paymo_simulator
from tests.stubs.struct_pim_api import StructPimSimulator, struct_pim_simulator

TEAM, BOSS, ANA, BEN = "T1", "UBOSS", "UANA", "UBEN"
NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
LATER = NOW + timedelta(minutes=1)


@pytest.fixture
def paymo_sim() -> Iterator[PaymoSimulator]:
    with paymo_simulator("paymo-key") as simulator:
        simulator.add_user(test_paymo.ANA_ID, "ana@example.com")
        simulator.add_user(test_paymo.BEN_ID, "ben@example.com")
        simulator.add_user(99, "outsider@example.com")  # in Paymo, linked to nobody
        yield simulator


@pytest.fixture
def struct_sim() -> Iterator[StructPimSimulator]:
    with struct_pim_simulator("struct-key") as simulator:
        simulator.add_user("12", "ana@example.com")
        simulator.add_user("5", "ben@example.com")
        simulator.add_group(test_struct_pim.GROUP_UID, "Ops")
        yield simulator


# --- the simulators' contracts ------------------------------------------------------------------


def test_paymo_simulator_comment_threads_follow_the_docs(paymo_sim: PaymoSimulator) -> None:
    """sections/comments.md: threads by task with ``include=comments``; comments created with a
    ``task_id`` (201, Location), read, updated (PUT or POST, changed fields only), deleted."""
    with httpx.Client(base_url=paymo_sim.url, auth=("paymo-key", "X")) as api:
        one, two = (
            api.post("tasks", json={"name": name, "project_id": 7001}).json()["tasks"][0]["id"]
            for name in ("One", "Two")
        )
        made = api.post("comments", json={"task_id": one, "content": "<p>Hi &amp; bye</p>"})
        assert made.status_code == 201
        comment = made.json()["comments"][0]
        assert made.headers["Location"] == f"/api/comments/{comment['id']}"
        assert set(comment) >= {"id", "thread_id", "user_id", "content", "created_on"}
        api.post("comments", json={"task_id": two, "content": "second"})
        threads = api.get(
            "threads", params={"where": f"task_id in ({one},{two})", "include": "comments"}
        ).json()["threads"]
        assert sorted(t["task_id"] for t in threads) == [one, two]
        first = next(t for t in threads if t["task_id"] == one)
        assert [c["content"] for c in first["comments"]] == ["<p>Hi &amp; bye</p>"]
        bare = api.get("threads", params={"where": f"task_id={one}"}).json()["threads"]
        assert "comments" not in bare[0]  # only with include=comments
        listed = api.get("comments", params={"where": f"thread_id={first['id']}"}).json()
        assert [c["id"] for c in listed["comments"]] == [comment["id"]]
        path = f"comments/{comment['id']}"
        assert api.put(path, json={"content": "edited"}).json()["comments"][0]["content"] == (
            "edited"
        )
        assert api.post(path, json={"content": "again"}).status_code == 200
        assert api.get(path).json()["comments"][0]["content"] == "again"
        assert api.delete(path).status_code == 200
        assert api.get(path).status_code == 404
        assert api.delete(path).status_code == 404
        assert api.post("comments", json={"content": "nowhere"}).status_code == 400


def test_struct_simulator_comments_live_in_the_user_task(struct_sim: StructPimSimulator) -> None:
    """API-NOTES §1.3/1.4: comments come inside each UserTask; add, edit and delete answer 200
    with no body; the delete takes ``commentUid``."""
    uid = "0b7c5e4e-0000-4000-8000-000000000001"
    comment_uid = "0b7c5e4e-0000-4000-8000-00000000000c"
    with httpx.Client(base_url=struct_sim.url, headers={"Authorization": "struct-key"}) as api:
        assert api.post("v1/usertasks", json={"Uid": uid, "Title": "T"}).status_code == 200
        path = f"v1/usertasks/{uid}/comments"
        added = api.post(path, json={"Uid": comment_uid, "Comment": "Hello"})
        assert added.status_code == 200 and added.content == b""
        (task,) = api.post("v1/usertasks/batch", json=[uid]).json()
        (comment,) = task["Comments"]
        assert comment["Uid"] == comment_uid and comment["Comment"] == "Hello"
        assert set(comment) == {
            "Uid",
            "Comment",
            "UserId",
            "Name",
            "Created",
            "LastModified",
            "IsSystemGenerated",
        }
        assert api.put(path, json={"Uid": comment_uid, "Comment": "Edited"}).status_code == 200
        assert api.get(f"v1/usertasks/{uid}").json()["Comments"][0]["Comment"] == "Edited"
        assert api.delete(path, params={"commentUid": comment_uid}).status_code == 200
        assert api.get(f"v1/usertasks/{uid}").json()["Comments"] == []
        assert api.delete(path, params={"commentUid": comment_uid}).status_code == 404


# --- the backends -------------------------------------------------------------------------------


def _only(pulled: Sequence[Pulled]) -> Task:
    (change,) = pulled
    return change.after


def _people(task: Task) -> list[Comment]:
    return [c for c in task.comments if not c.system]


def test_paymo_comments_come_in_once_and_follow_edits_and_deletions(
    paymo_sim: PaymoSimulator, sessions: sessionmaker[Session]
) -> None:
    backend = test_paymo.make_backend(paymo_sim, sessions)
    task = backend.create(test_paymo.draft(), NOW)
    number = int(backend.external_id(task))
    assert backend.pull(NOW) == []
    first = paymo_sim.add_comment(number, test_paymo.ANA_ID, "<p>Looks <b>good</b> &amp; done</p>")
    paymo_sim.add_comment(number, 99, "From someone unlinked")
    after = _only(backend.pull(LATER))
    assert [(c.author, c.text) for c in _people(after)] == [
        (ANA, "Looks good & done"),
        (None, "From someone unlinked"),
    ]
    assert backend.pull(LATER) == []  # told once
    assert len(paymo_sim.calls("GET", "/api/threads")) == 3  # one read per batch of tasks
    paymo_sim.edit_comment(first, "Looks <i>better</i>")
    edited = _only(backend.pull(LATER))
    assert [c.text for c in _people(edited)] == ["Looks better", "From someone unlinked"]
    paymo_sim.delete_comment(first)
    deleted = _only(backend.pull(LATER))
    assert [c.text for c in _people(deleted)] == ["From someone unlinked"]
    assert [c.text for c in _people(backend.get(TEAM, task.handle))] == ["From someone unlinked"]
    assert backend.pull(LATER) == []


def test_a_comment_written_in_slack_reaches_paymo_and_is_not_taken_back(
    paymo_sim: PaymoSimulator, sessions: sessionmaker[Session]
) -> None:
    backend = test_paymo.make_backend(paymo_sim, sessions)
    tasks = test_paymo.service(backend)
    task = tasks.create_task(Actor(team_id=TEAM, user_id=BOSS), test_paymo.draft())
    tasks.comment(Actor(team_id=TEAM, user_id=ANA), task.handle, "I <3 this & that")
    (content,) = paymo_sim._task_comments(int(backend.external_id(task)))
    assert content == "I &lt;3 this &amp; that<br>— @UANA in Slack"
    assert backend.pull(LATER) == []
    assert [c.text for c in _people(backend.get(TEAM, task.handle))] == ["I <3 this & that"]


def test_a_comment_taskbot_wrote_before_it_kept_links_is_recognised(
    paymo_sim: PaymoSimulator, sessions: sessionmaker[Session]
) -> None:
    """After an upgrade, comments written from Slack earlier are known by their words."""
    backend = test_paymo.make_backend(paymo_sim, sessions)
    tasks = test_paymo.service(backend)
    task = tasks.create_task(Actor(team_id=TEAM, user_id=BOSS), test_paymo.draft())
    tasks.comment(Actor(team_id=TEAM, user_id=ANA), task.handle, "Old words")
    with sessions.begin() as session:  # as before the upgrade: no links
        session.execute(text("DELETE FROM comment_links"))
    assert backend.pull(LATER) == []


def test_a_long_comment_from_paymo_is_cut_not_refused(
    paymo_sim: PaymoSimulator, sessions: sessionmaker[Session]
) -> None:
    backend = test_paymo.make_backend(paymo_sim, sessions)
    task = backend.create(test_paymo.draft(), NOW)
    paymo_sim.add_comment(int(backend.external_id(task)), 99, "x" * (COMMENT_MAX + 500))
    (comment,) = _people(_only(backend.pull(LATER)))
    assert len(comment.text) == COMMENT_MAX and comment.text.endswith("…")


def test_struct_comments_come_with_the_batch_get_and_follow_edits_and_deletions(
    struct_sim: StructPimSimulator, sessions: sessionmaker[Session]
) -> None:
    backend = test_struct_pim.make_backend(struct_sim, sessions)
    task = backend.create(test_struct_pim.draft(), NOW)
    uid = backend.external_id(task)
    said = struct_sim.add_comment(uid, "12", "Please check <!channel>")
    struct_sim.add_comment(uid, "1", "Status changed to In progress", system=True)
    after = _only(backend.pull(LATER))
    assert [(c.author, c.text) for c in _people(after)] == [(ANA, "Please check <!channel>")]
    assert backend.pull(LATER) == []
    assert {c.path for c in struct_sim.calls()} <= {"/v1/usertasks", "/v1/usertasks/batch"}
    struct_sim.edit_comment(uid, said, "Please check now")
    assert [c.text for c in _people(_only(backend.pull(LATER)))] == ["Please check now"]
    struct_sim.delete_comment(uid, said)
    assert _people(_only(backend.pull(LATER))) == []
    assert backend.pull(LATER) == []


def test_struct_comments_written_in_slack_are_not_taken_back(
    struct_sim: StructPimSimulator, sessions: sessionmaker[Session]
) -> None:
    backend = test_struct_pim.make_backend(struct_sim, sessions)
    tasks = test_struct_pim.service(backend)
    task = tasks.create_task(Actor(team_id=TEAM, user_id=BOSS), test_struct_pim.draft())
    tasks.comment(Actor(team_id=TEAM, user_id=ANA), task.handle, "On it")
    tasks.complete_part(Actor(team_id=TEAM, user_id=ANA), task.handle)  # an event comment too
    before = backend.get(TEAM, task.handle)
    assert backend.pull(LATER) == []
    assert backend.get(TEAM, task.handle).comments == before.comments


def test_the_sync_tells_each_comment_change_as_made_there(
    struct_sim: StructPimSimulator, sessions: sessionmaker[Session]
) -> None:
    backend = test_struct_pim.make_backend(struct_sim, sessions)
    task = backend.create(test_struct_pim.draft(), NOW)
    uid = backend.external_id(task)
    notifier = FakeNotifier()
    sync = BackendSync(backend, notifier, lambda: LATER, system="Struct PIM")
    said = struct_sim.add_comment(uid, "12", "New")
    struct_sim.add_comment(uid, "77", "By someone unlinked")
    assert sync.run_once() == 1
    assert notifier.kinds() == ["commented", "commented"]  # only the comments: no "edited"
    first, second = notifier.events
    assert first.origin is not None and first.origin.user_id == ANA
    assert second.origin is not None and second.origin.user_id is None
    assert second.origin.system == "Struct PIM"
    struct_sim.edit_comment(uid, said, "Newer")
    struct_sim.delete_comment(uid, said)
    sync.run_once()
    assert notifier.kinds()[2:] == [EventKind.COMMENT_DELETED.value]
    struct_sim.edit_task(uid, Title="Renamed there")
    struct_sim.add_comment(uid, "5", "And renamed")
    sync.run_once()
    assert notifier.kinds()[3:] == ["edited", "commented"]
