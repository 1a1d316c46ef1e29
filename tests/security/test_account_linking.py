"""Account linking (issue 12, finding 2) tried as an attacker in the workspace would: over real
HTTP against the running taskbot and the LINE WORKS simulator, with one cookie jar per browser.

EVE is the attacker; ANA and BOSS are the people she tries to use."""

from __future__ import annotations

import html
import logging
from http.cookies import Morsel, SimpleCookie
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sqlalchemy import text

from tests.e2e import conftest as e2e
from tests.e2e import test_lineworks as lw
from tests.e2e.conftest import ADMIN, ANA, BOSS, CARL, EVE, Taskbot
from tests.e2e.test_lineworks import browser, come_back, open_link, sign_in, sign_in_link
from tests.e2e.test_user_map import answer
from tests.stubs.lineworks_api import LineWorksSimulator

# the end-to-end set-up of tests/e2e: Slack stub, taskbot on a free port, LINE WORKS simulator
slack_session, slack, make_taskbot = e2e.slack_session, e2e.slack, e2e.make_taskbot
works, taskbot = lw.works, lw.taskbot


def tokens_of(taskbot: Taskbot) -> list[str]:
    """Whose LINE WORKS tokens taskbot keeps."""
    with taskbot.app.sessions() as session:
        return [row[0] for row in session.execute(text("select slack_id from oauth_tokens"))]


def linked_account(taskbot: Taskbot, user: str) -> str | None:
    query = text("select assignee_id from user_map where backend = 'lineworks' and slack_id = :u")
    with taskbot.app.sessions() as session:
        return session.execute(query, {"u": user}).scalar_one_or_none()


def cookie_of(response: httpx.Response) -> Morsel[str]:
    (header,) = response.headers.get_list("set-cookie")
    jar: SimpleCookie = SimpleCookie()
    jar.load(header)
    (cookie,) = jar.values()
    return cookie


def test_the_sign_in_starts_on_taskbot_and_binds_the_browser_with_a_cookie(
    taskbot: Taskbot, works: LineWorksSimulator
) -> None:
    link = sign_in_link(taskbot, BOSS)
    assert link.startswith("https://taskbot.example/oauth/lineworks/start?")
    boss = browser(taskbot)
    page = boss.get(link)
    assert page.status_code == 200 and "<b>boss</b>" in page.text  # whose link this is
    assert page.headers["x-frame-options"] == "DENY"  # nobody can press Continue in a frame
    state = parse_qs(urlsplit(link).query)["state"][0]
    went_on = boss.post("/oauth/lineworks/start", {"state": state})
    assert went_on.status_code == 303
    assert went_on.headers["location"].startswith(f"{works.auth_url}authorize?")
    assert parse_qs(urlsplit(went_on.headers["location"]).query)["state"] == [state]
    for response in (page, went_on):
        cookie = cookie_of(response)
        assert cookie["httponly"] and cookie["secure"]  # TASKBOT_PUBLIC_URL is https
        assert cookie["samesite"] == "Lax" and cookie["path"] == "/oauth/lineworks/"
        assert cookie.value and state not in cookie.value  # a signature, not the state itself


def test_someone_elses_sign_in_page_does_not_link_your_account_to_them(
    taskbot: Taskbot, works: LineWorksSimulator
) -> None:
    """Login CSRF: Eve starts a sign-in, sends Ana the LINE WORKS page it leads to; Ana signs
    in there. Before: Ana's account was linked to Eve's Slack user, so Eve's tasks ran as Ana."""
    eve, ana = browser(taskbot), browser(taskbot)
    state = open_link(eve, sign_in_link(taskbot, EVE), works)
    # Ana, in her own browser, signs in on the page Eve sent her and comes back with her code
    came_back = come_back(ana, state, works.issue_code("lw-ana"))
    assert came_back.status_code == 400
    assert "did not start in this browser" in came_back.text
    assert linked_account(taskbot, EVE) is None and tokens_of(taskbot) == []
    assert "lw-ana" not in answer(taskbot, "whoami", EVE, "whoami")


def test_someone_elses_sign_in_link_names_them_and_cant_be_continued_for_you(
    taskbot: Taskbot, works: LineWorksSimulator
) -> None:
    """Eve sends Ana the taskbot link ``/task link lineworks`` gave her. Before: Ana signed in and
    her account was Eve's. Now the page tells Ana whose link it is, and a site of Eve's can't press
    Continue for her nor skip the page and send her to LINE WORKS directly."""
    eve, ana = browser(taskbot), browser(taskbot)
    link = sign_in_link(taskbot, EVE)
    state = open_link(eve, link, works)  # what Eve learns from her own browser
    page = ana.get(link, from_other_site=True)  # Ana follows Eve's link from a chat or a mail
    assert page.status_code == 200 and "<b>eve</b>" in page.text and "close this page" in page.text
    posted = ana.post("/oauth/lineworks/start", {"state": state}, from_other_site=True)
    assert posted.status_code == 400 and "location" not in posted.headers
    came_back = come_back(ana, state, works.issue_code("lw-ana"), from_other_site=True)
    assert came_back.status_code == 400 and "did not start in this browser" in came_back.text
    assert linked_account(taskbot, EVE) is None and tokens_of(taskbot) == []


def test_a_forwarded_link_continued_anyway_links_nobody(
    taskbot: Taskbot, works: LineWorksSimulator, caplog: pytest.LogCaptureFixture
) -> None:
    """Ana ignores the page naming Eve, presses Continue in her own browser and signs in as
    herself. Before: her account was linked to Eve, who then created tasks with Ana's token. Now
    the account's email must be the Slack user's, so nothing is linked or kept."""
    ana = browser(taskbot)
    state = open_link(ana, sign_in_link(taskbot, EVE), works)  # page shown, Continue pressed
    caplog.set_level(logging.INFO)
    came_back = come_back(ana, state, works.issue_code("lw-ana"))
    page = html.unescape(came_back.text).lower()
    assert came_back.status_code == 400 and "isn't yours by email" in page
    for secret in ("eve", "ana", "example.com"):
        assert secret not in page
    assert linked_account(taskbot, EVE) is None and tokens_of(taskbot) == []
    assert "lw-ana" not in answer(taskbot, "whoami", EVE, "whoami")
    refused = [r.getMessage() for r in caplog.records if "account link refused" in r.getMessage()]
    assert len(refused) == 1 and "@" not in refused[0]


def test_a_sign_in_state_works_once(taskbot: Taskbot, works: LineWorksSimulator) -> None:
    """Before: the state stayed good for 10 minutes, so a captured callback URL could be replayed
    with another account's code and relink the person."""
    boss = browser(taskbot)
    state = open_link(boss, sign_in_link(taskbot, BOSS), works)
    cookies = dict(boss.cookies)  # what a thief of this browser's cookie would hold
    assert come_back(boss, state, works.issue_code("lw-boss")).status_code == 200
    boss.cookies.update(cookies)
    replayed = come_back(boss, state, works.issue_code("lw-ana"))
    assert replayed.status_code == 400 and "not valid any more" in replayed.text
    assert linked_account(taskbot, BOSS) == "lw-boss"


def linked_by_admin(taskbot: Taskbot, user: str, account: str) -> None:
    """An admin links ``account`` to ``user`` (no tokens: only a sign-in brings those)."""
    reply = answer(taskbot, f"link <@{user}> {account}", ADMIN, f"admin-{user}")
    assert linked_account(taskbot, user) == account, reply


def test_a_refused_link_keeps_no_tokens(taskbot: Taskbot, works: LineWorksSimulator) -> None:
    """Before: the tokens of an account already linked to someone else were stored anyway."""
    assert sign_in(taskbot, works, ANA, "lw-ana").status_code == 200
    linked_by_admin(taskbot, CARL, "lw-boss")  # Boss's own account, held by Carl
    refused = sign_in(taskbot, works, BOSS, "lw-boss")
    assert refused.status_code == 400 and "already linked" in refused.text
    assert tokens_of(taskbot) == [ANA]  # Boss's sign-in left nothing behind
    assert linked_account(taskbot, BOSS) is None and linked_account(taskbot, CARL) == "lw-boss"


def test_the_error_page_names_nobody(taskbot: Taskbot, works: LineWorksSimulator) -> None:
    """Before: "lw-boss is already linked to UCARL" told anyone who tried whose account it was."""
    linked_by_admin(taskbot, CARL, "lw-boss")
    refused = sign_in(taskbot, works, BOSS, "lw-boss")
    assert refused.status_code == 400
    page = refused.text.lower()
    for secret in (CARL.lower(), "carl"):
        assert secret not in page
    assert "already linked to someone else" in page


def test_a_broken_start_link_says_so(taskbot: Taskbot) -> None:
    for link in ("/oauth/lineworks/start", "/oauth/lineworks/start?state=made-up"):
        page = browser(taskbot).get(link)
        assert page.status_code == 400 and "set-cookie" not in page.headers
        assert "/task link lineworks" in page.text
    direct = httpx.get(f"http://127.0.0.1:{taskbot.server.port}/oauth/lineworks/callback")
    assert direct.status_code == 400 and "Traceback" not in direct.text


def test_the_cookie_is_secure_exactly_when_taskbot_is_reached_over_https() -> None:
    from bot.keys import Keys
    from bot.web.oauth import SignIn

    def cookie(secure: bool) -> str:
        sign_in = SignIn(
            service="LINE WORKS",
            command="/task link lineworks",
            base="/oauth/lineworks",
            start=str,
            complete=lambda code, state: ("T", "U", "A"),
            linked=lambda team, user, account: None,
            keys=Keys(lw.SECRET_KEY),
            secure=secure,
        )
        return sign_in.cookie(sign_in.binding("state"), 600)

    assert "; Secure" in cookie(True) and "Secure" not in cookie(False)
    assert "HttpOnly" in cookie(False) and "SameSite=Lax" in cookie(False)


def test_the_email_rule_needs_an_email_on_both_sides() -> None:
    from bot.domain.links import same_email

    assert same_email("Boss@Example.com ", "boss@example.com")
    for a, b in (("", ""), (None, None), ("boss@example.com", None), ("", "boss@example.com")):
        assert not same_email(a, b)
    assert not same_email("boss@example.com", "boss@example.co")


def test_a_sign_in_without_an_email_links_nobody(
    taskbot: Taskbot, works: LineWorksSimulator
) -> None:
    """LINE WORKS answers ``users/me`` without an email (no ``user.email.read``): nothing to
    confirm the account by, so nothing is linked or kept."""
    works.users["lw-boss"] = ""
    refused = sign_in(taskbot, works, BOSS, "lw-boss")
    assert refused.status_code == 400 and "yours by email" in refused.text
    assert linked_account(taskbot, BOSS) is None and tokens_of(taskbot) == []
