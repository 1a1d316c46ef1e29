"""LINE WORKS contract tests against its simulator (token endpoint and Task API over HTTP)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from bot.backends import lineworks
from bot.backends.http import ApiClient
from bot.domain.errors import InvalidInput, NotFound, NotPermitted
from bot.domain.links import LinkHow, UserLink
from bot.domain.models import (
    Actor,
    Assignee,
    AssigneeKind,
    CommentEvent,
    CompletionCondition,
    Due,
    TaskDraft,
)
from bot.domain.rates import Rate
from bot.keys import Keys
from bot.service.ports import SignedIn
from bot.service.tasks import TaskService
from storage.link_states import SqlAlchemyLinkStates
from storage.local_tasks import SqlAlchemyTaskStore
from storage.oauth_tokens import SqlAlchemyOAuthTokens
from storage.user_map import SqlAlchemyUserMap
from tests.fakes import FakeClock, FakeDirectory, FakeNotifier
from tests.stubs.lineworks_api import LineWorksSimulator

TEAM, BOSS, ANA, BEN = "T1", "UBOSS", "UANA", "UBEN"
NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
SECRET_KEY = "14TB5feYg2H3ItxE3A0C6XrXSZbmZLiwY_99s_ARtHY"  # made with secrets.token_urlsafe(32)


@pytest.fixture
def sim() -> Iterator[LineWorksSimulator]:
    simulator = LineWorksSimulator(per_minute=1000).start()
    for user in ("lw-boss", "lw-ana", "lw-ben", "lw-operator"):
        simulator.add_user(user, f"{user.removeprefix('lw-')}@works.example")
    yield simulator
    simulator.stop()


def make_backend(
    sim: LineWorksSimulator, sessions: sessionmaker[Session], **limits: float
) -> lineworks.LineWorksBackend:
    links = SqlAlchemyUserMap(sessions)
    for slack, theirs in ((ANA, "lw-ana"), (BEN, "lw-ben")):
        links.set(
            UserLink(
                team_id=TEAM,
                backend="lineworks",
                slack_id=slack,
                kind=AssigneeKind.USER,
                assignee_id=theirs,
                how=LinkHow.ADMIN,
                set_at=NOW,
            )
        )
    tokens = lineworks.Tokens(
        ApiClient("LINE WORKS sign-in", sim.auth_url, backoff=0.01),
        SqlAlchemyOAuthTokens(sessions),
        Keys(SECRET_KEY),
        client_id="lw-client",
        client_secret="lw-secret",
        operator_refresh=sim.refresh_token_for("lw-operator"),
    )
    return lineworks.LineWorksBackend(
        ApiClient("LINE WORKS", sim.api_url, detail=lineworks._detail, backoff=0.01),
        tokens,
        SqlAlchemyLinkStates(sessions),
        SqlAlchemyTaskStore(sessions),
        links,
        auth_url=sim.auth_url,
        client_id="lw-client",
        public_url="https://taskbot.example",
        rate=Rate(calls=int(limits.get("per_minute", 60)), seconds=limits.get("window", 60.0)),
    )


@pytest.fixture
def backend(sim: LineWorksSimulator, sessions: sessionmaker[Session]) -> lineworks.LineWorksBackend:
    return make_backend(sim, sessions)


def service(backend: lineworks.LineWorksBackend) -> TaskService:
    directory = FakeDirectory()
    for user in (BOSS, ANA, BEN):
        directory.add_person(TEAM, user, tz="Asia/Tokyo")
    return TaskService(backend, FakeNotifier(), directory, FakeClock(NOW))


def draft(condition: CompletionCondition = CompletionCondition.MUST_ALL) -> TaskDraft:
    return TaskDraft(
        team_id=TEAM,
        assignor=BOSS,
        title="Prepare the offsite",
        description="",
        due=Due(date=date(2026, 11, 30), tz="Asia/Tokyo"),
        condition=condition,
        assignees=(Assignee.user(ANA), Assignee.user(BEN)),
    )


def test_create_as_the_operator_when_the_person_has_no_link(
    sim: LineWorksSimulator, backend: lineworks.LineWorksBackend
) -> None:
    task = backend.create(draft(), NOW)
    (call,) = sim.calls("POST", "/v1.0/users/me/tasks")
    assert call.body == {
        "assignorId": "lw-operator",
        "assignees": [
            {"assigneeId": "lw-ana", "status": "TODO"},
            {"assigneeId": "lw-ben", "status": "TODO"},
        ],
        "title": "Prepare the offsite",
        "content": "",
        "dueDate": "2026-11-30",
        "completionCondition": "MUST_ALL",
        "categoryId": "default",
    }
    assert any(c.event is CommentEvent.OPERATOR for c in task.comments)  # the card says so
    sim.wrapped = True  # the documented {"task": …} shape reads the same
    assert backend.create(draft(), NOW).handle == "T-2"


def test_must_all_is_native_and_each_part_is_the_assignees_own_status(
    sim: LineWorksSimulator, backend: lineworks.LineWorksBackend
) -> None:
    tasks = service(backend)
    task = tasks.create_task(Actor(team_id=TEAM, user_id=BOSS), draft())
    remote = sim.tasks[backend.external_id(task)]
    tasks.complete_part(Actor(team_id=TEAM, user_id=ANA), "T-1")
    assert remote["status"] == "TODO" and remote["assignees"][0]["status"] == "DONE"
    tasks.complete_part(Actor(team_id=TEAM, user_id=BEN), "T-1")
    assert remote["status"] == "DONE"  # LINE WORKS completed it by its own MUST_ALL
    tasks.undo_part(Actor(team_id=TEAM, user_id=BEN), "T-1")
    assert remote["status"] == "TODO"
    tasks.undo_part(Actor(team_id=TEAM, user_id=ANA), "T-1")
    tasks.complete_task(Actor(team_id=TEAM, user_id=BOSS), "T-1")
    paths = [c.path for c in sim.calls("POST") if "complete" in c.path]
    assert paths[-1].endswith(f"/tasks/{remote['taskId']}/complete")  # the whole task at once
    assert remote["status"] == "DONE"


def test_tokens_are_refreshed_when_they_expire_and_on_401(
    sim: LineWorksSimulator, backend: lineworks.LineWorksBackend
) -> None:
    backend.create(draft(), NOW)
    sim.expire_access_tokens()  # the cached token now gets 401
    backend.create(draft(), NOW)
    grants = [c.body["grant_type"] for c in sim.calls("POST", "/oauth2/v2.0/token")]
    assert grants == ["refresh_token", "refresh_token"]


def test_a_person_links_their_own_account_and_tokens_are_sealed(
    sim: LineWorksSimulator, backend: lineworks.LineWorksBackend, sessions: sessionmaker[Session]
) -> None:
    seen: list[SignedIn] = []  # what the service is asked to confirm, before anything is kept
    start = urlsplit(backend.authorize_url(TEAM, BOSS, NOW))
    assert start.path == "/oauth/lineworks/start"  # the sign-in starts on taskbot
    state = parse_qs(start.query)["state"][0]
    pending = backend.sign_in_url(state, NOW)
    assert (pending.team_id, pending.slack_id) == (TEAM, BOSS)
    query = parse_qs(urlsplit(pending.url).query)
    assert query["redirect_uri"] == ["https://taskbot.example/oauth/lineworks/callback"]
    assert query["client_id"] == ["lw-client"] and query["response_type"] == ["code"]
    assert query["state"] == [state]
    with pytest.raises(NotPermitted):
        backend.complete_link(sim.issue_code("lw-boss"), state + "x", NOW, seen.append)
    with pytest.raises(NotPermitted):  # expired
        backend.sign_in_url(state, NOW + timedelta(seconds=lineworks.STATE_LIFETIME))
    code = sim.issue_code("lw-boss")
    assert backend.complete_link(code, state, NOW, seen.append) == (TEAM, BOSS, "lw-boss")
    assert [(s.slack_id, s.account_id) for s in seen] == [(BOSS, "lw-boss")]
    assert seen[0].email and seen[0].email == sim.users["lw-boss"]  # users/me, user.email.read
    with pytest.raises(NotPermitted):  # a state works once
        backend.complete_link(sim.issue_code("lw-boss"), state, NOW, seen.append)
    state = parse_qs(urlsplit(backend.authorize_url(TEAM, BOSS, NOW)).query)["state"][0]
    with pytest.raises(InvalidInput):  # and so does a code
        backend.complete_link(code, state, NOW, seen.append)
    with sessions() as session:
        stored = session.execute(text("select access_token, refresh_token from oauth_tokens"))
        for sealed in stored.one():
            assert sealed.startswith("gAAAA")  # Fernet, not the token itself
    task = backend.create(draft(), NOW)
    assert sim.calls("POST", "/v1.0/users/me/tasks")[-1].body["assignorId"] == "lw-boss"
    assert not any(c.event is CommentEvent.OPERATOR for c in task.comments)


def test_every_operation_is_held_to_its_rate_limit(
    sim: LineWorksSimulator, sessions: sessionmaker[Session]
) -> None:
    limited = make_backend(sim, sessions, per_minute=2, window=1.0)
    started = time.monotonic()
    for _ in range(3):
        limited.find_user_by_email(TEAM, "ana@works.example")  # operator token, not limited
        limited.create(draft(), NOW)
    assert time.monotonic() - started >= 1.0  # the third create waited for the window
    sim.per_minute, sim.window = 1, 1.0  # and a 429 waits rateLimit-reset
    started = time.monotonic()
    fast = make_backend(sim, sessions)
    fast.create(draft(), NOW)
    fast.create(draft(), NOW)
    assert time.monotonic() - started >= 1.0


def test_users_by_email_paging_and_pull(
    sim: LineWorksSimulator, backend: lineworks.LineWorksBackend
) -> None:
    assert backend.find_user_by_email(TEAM, "Ben@works.example") == "lw-ben"
    assert backend.find_user_by_email(TEAM, "nobody@works.example") is None
    for _ in range(3):
        backend.create(draft(), NOW)
    assert len(backend.all_tasks(TEAM, BOSS, page_size=2)) == 3
    assert [c.query.get("cursor") for c in sim.calls("GET", "/v1.0/users/me/tasks")] == [None, "2"]
    first = backend.get(TEAM, "T-1")
    remote = sim.tasks[backend.external_id(first)]
    remote["title"] = "Offsite, revised"
    (change,) = backend.pull(NOW)
    after = change.after
    assert after.title == "Offsite, revised"
    del sim.tasks[remote["taskId"]]
    gone = [c.after for c in backend.pull(NOW) if c.after.deleted]
    assert len(gone) == 1
    with pytest.raises(NotFound):
        backend.get(TEAM, "T-1")
