"""Slack against the LINE WORKS simulator (TASK_BACKEND=lineworks): a person links their own
account by signing in (OAuth over real HTTP), the others are linked by email, and the flows run
with LINE WORKS' native ANY_ONE/MUST_ALL."""

from __future__ import annotations

import html
from collections.abc import Callable, Iterator
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest

from bot.slack import ids
from tests.browser import Browser
from tests.e2e import test_flows, test_surfaces
from tests.e2e.conftest import ADMIN, ANA, BEN, BOSS, CARL, CHANNEL, TEAM, Taskbot
from tests.e2e.test_flows import card_in, create, dm, text_of
from tests.e2e.test_surfaces import form
from tests.e2e.test_user_map import answer
from tests.slack_requests import view_submission
from tests.stubs.lineworks_api import LineWorksSimulator

LW_IDS = {ANA: "lw-ana", BEN: "lw-ben", CARL: "lw-carl", BOSS: "lw-boss", ADMIN: "lw-admin"}
SECRET_KEY = "RDKagnuUzhRKmSNEQ0_13lK4QJ9YuOW-pybbUHu8QFY"  # made with secrets.token_urlsafe(32)


@pytest.fixture
def works() -> Iterator[LineWorksSimulator]:
    simulator = LineWorksSimulator().start()
    for user, account in LW_IDS.items():
        simulator.add_user(account, f"{user.lower()}@example.com")  # the Slack stub's emails
    simulator.add_user("lw-operator", "operator@example.com")
    yield simulator
    simulator.stop()


@pytest.fixture
def taskbot(make_taskbot: Callable[..., Taskbot], works: LineWorksSimulator) -> Taskbot:
    return make_taskbot(
        TASK_BACKEND="lineworks",
        LINEWORKS_API_URL=works.api_url,
        LINEWORKS_AUTH_URL=works.auth_url,
        LINEWORKS_CLIENT_ID="lw-client",
        LINEWORKS_CLIENT_SECRET="lw-secret",
        LINEWORKS_REFRESH_TOKEN=works.refresh_token_for("lw-operator"),
        TASKBOT_SECRET_KEY=SECRET_KEY,
        TASKBOT_PUBLIC_URL="https://taskbot.example",
    )


def browser(taskbot: Taskbot) -> Browser:
    return Browser(f"http://127.0.0.1:{taskbot.server.port}")


def sign_in_link(taskbot: Taskbot, user: str) -> str:
    """The link ``/task link lineworks`` gives ``user``."""
    reply = answer(taskbot, "link lineworks", user, f"link-{user}")
    return html.unescape(reply[reply.index("<") + 1 : reply.index("|")])  # &amp; in a Slack link


def open_link(browser: Browser, link: str, works: LineWorksSimulator) -> str:
    """Open the sign-in link and continue; the state LINE WORKS' sign-in page was given."""
    if not link.startswith(works.auth_url):  # it starts on taskbot: a page, then Continue
        page = browser.get(link)
        assert page.status_code == 200, page.text
        state = parse_qs(urlsplit(link).query)["state"][0]
        went_on = browser.post(urlsplit(link).path, {"state": state})
        assert went_on.status_code == 303, went_on.text
        link = went_on.headers["location"]
    assert link.startswith(f"{works.auth_url}authorize?")
    return parse_qs(urlsplit(link).query)["state"][0]


def come_back(
    browser: Browser, state: str, code: str, *, from_other_site: bool = True
) -> httpx.Response:
    """LINE WORKS sends the browser back to taskbot (from its own site) with a code for the
    account signed in."""
    query = urlencode({"code": code, "state": state})
    return browser.get(f"/oauth/lineworks/callback?{query}", from_other_site=from_other_site)


def sign_in(taskbot: Taskbot, works: LineWorksSimulator, user: str, account: str) -> httpx.Response:
    """``user`` links ``account`` the ordinary way, all in one browser."""
    own = browser(taskbot)
    state = open_link(own, sign_in_link(taskbot, user), works)
    return come_back(own, state, works.issue_code(account))


def test_a_person_signs_in_to_link_and_then_creates_tasks_as_themselves(
    taskbot: Taskbot, works: LineWorksSimulator
) -> None:
    own, link = browser(taskbot), sign_in_link(taskbot, BOSS)
    open_link(own, link, works)
    forged = come_back(own, "x.y", works.issue_code("lw-boss"))
    assert forged.status_code == 400 and "did not start in this browser" in forged.text
    state = open_link(own, link, works)  # the link can be opened again until it is used
    signed_in = come_back(own, state, works.issue_code("lw-boss"))
    assert signed_in.status_code == 200 and "linked" in signed_in.text
    assert any("Linked" in m["text"] for m in taskbot.slack.messages(dm(BOSS)))
    assert "`lw-boss`" in answer(taskbot, "whoami", BOSS, "w")
    create(taskbot, f"Book the venue <@{ANA}|ana>")
    (made,) = works.tasks.values()
    assert made["assignorId"] == "lw-boss" and made["owner"] == "lw-boss"
    assert "operator account" not in text_of(card_in(taskbot.slack, CHANNEL))


def test_without_a_link_the_operator_account_is_used_and_the_card_says_so(
    taskbot: Taskbot, works: LineWorksSimulator
) -> None:
    create(taskbot, f"Book the venue <@{ANA}|ana>")
    (made,) = works.tasks.values()
    assert made["assignorId"] == "lw-operator"
    assert "operator account" in text_of(card_in(taskbot.slack, CHANNEL))


def test_must_all(taskbot: Taskbot, works: LineWorksSimulator) -> None:
    test_flows.test_must_all_needs_every_assignee(taskbot)
    (made,) = works.tasks.values()
    assert made["completionCondition"] == "MUST_ALL" and made["status"] == "DONE"


def test_any_one(taskbot: Taskbot, works: LineWorksSimulator) -> None:
    test_flows.test_any_one_completes_at_the_first_done(taskbot)
    (made,) = works.tasks.values()
    assert made["status"] == "DONE"


def test_comment(taskbot: Taskbot) -> None:
    test_flows.test_comment_goes_to_the_cards_thread(taskbot)


def test_reassign(taskbot: Taskbot, works: LineWorksSimulator) -> None:
    test_surfaces.test_reassign_through_the_modal(taskbot)
    (made,) = works.tasks.values()
    assert [a["assigneeId"] for a in made["assignees"]] == ["lw-ben"]


def test_the_create_form_offers_my_categories_and_the_task_goes_there(
    taskbot: Taskbot, works: LineWorksSimulator
) -> None:
    works.categories["cat-offsite"] = "Offsite"
    assert taskbot.command("new", user=BOSS).status_code == 200
    taskbot.slack.wait_for("views.open")
    view_id = taskbot.slack.last_view_id()
    modal = taskbot.slack.view(view_id)
    assert "Offsite" in str(modal["blocks"]) and ids.BLOCK_DUE_TIME not in str(modal["blocks"])
    values = form(title="Order the bus", users=[ANA])
    values[ids.BLOCK_CATEGORY] = {
        ids.ELEMENT: {"type": "static_select", "selected_option": {"value": "cat-offsite"}}
    }
    answered = taskbot.send(
        view_submission(
            ids.VIEW_CREATE,
            values,
            user_id=BOSS,
            team_id=TEAM,
            private_metadata=modal["private_metadata"],
            view_id=view_id,
        )
    )
    assert answered.status_code == 200
    card_in(taskbot.slack, CHANNEL)
    (made,) = works.tasks.values()
    assert made["categoryId"] == "cat-offsite" and made["title"] == "Order the bus"
