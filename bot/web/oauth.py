"""A person's task-system sign-in, as the browser sees it: start on taskbot, come back.

``GET {base}/start?state=…`` (the link ``/task link lineworks`` gives) shows whose Slack user the
sign-in links to and a Continue button; only that button (a same-site ``POST``) sends the browser on
to the task system, with a cookie that binds the state to this browser (an HMAC of the state under
the signing key of ``bot.keys``; HttpOnly, SameSite=Lax, Secure when ``TASKBOT_PUBLIC_URL`` is
https). ``GET {base}/callback`` refuses a state whose cookie this browser does not hold, so a
sign-in someone else started can't link your account to their Slack user (login CSRF): not through
the task system's page they send you, nor through a page that navigates or posts for you. The page
naming the Slack user warns whoever opens a forwarded start link; if they continue anyway, the
service links nothing unless the account's email is that Slack user's (it uses the state up first).
Whatever goes wrong is one sentence about this sign-in only, never about other people.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from http.cookies import CookieError, SimpleCookie
from typing import Any
from urllib.parse import parse_qs

from bot.domain.errors import DomainError
from bot.keys import Keys
from bot.web.server import StartResponse, WSGIApp

log = logging.getLogger(__name__)

COOKIE = "taskbot_sign_in"
Complete = Callable[[str, str], tuple[str, str, str]]
Linked = Callable[[str, str, str], None]
FORM, BOUND = "form", "bound"  # the cookie's two stages: page shown; Continue pressed
MAX_FORM = 4096
PAGE_HEADERS = [
    ("Content-Type", "text/html; charset=utf-8"),
    ("Cache-Control", "no-store"),
    ("Referrer-Policy", "no-referrer"),
    ("X-Frame-Options", "DENY"),
    (
        "Content-Security-Policy",
        "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
    ),
]


@dataclass(frozen=True)
class SignIn:
    """One task system's sign-in: where it lives, and the service calls behind it."""

    service: str  # as people know it: "LINE WORKS"
    command: str  # what starts it again: "/task link lineworks"
    base: str  # "/oauth/lineworks"
    start: Callable[[str], tuple[str, str]]  # state → (the system's sign-in page, whose link)
    complete: Complete  # (code, state) → (team, Slack user, account)
    linked: Linked  # tell the person in Slack
    keys: Keys
    secure: bool  # TASKBOT_PUBLIC_URL is https
    lifetime: int = 600  # seconds the cookie lives (the state's own lifetime)

    def binding(self, state: str, stage: str = BOUND) -> str:
        """The cookie's value for ``state`` at ``stage``: only taskbot can make it."""
        return f"{stage}.{self.keys.mac(self._label(state, stage))}"

    def bound(self, state: str, cookie: str | None, stage: str = BOUND) -> bool:
        prefix, _, mac = (cookie or "").partition(".")
        return prefix == stage and bool(mac) and self.keys.check_mac(self._label(state, stage), mac)

    def _label(self, state: str, stage: str) -> str:
        return f"sign-in {stage}:{self.base}:{state}"

    def cookie(self, value: str, max_age: int) -> str:
        flags = f"Path={self.base}/; Max-Age={max_age}; HttpOnly; SameSite=Lax"
        return f"{COOKIE}={value}; {flags}{'; Secure' if self.secure else ''}"


def sign_in_routes(sign_in: SignIn) -> dict[tuple[str, str], WSGIApp]:
    return {
        ("GET", f"{sign_in.base}/start"): start_app(sign_in),
        ("POST", f"{sign_in.base}/start"): continue_app(sign_in),
        ("GET", f"{sign_in.base}/callback"): callback_app(sign_in),
    }


def _html(
    start_response: StartResponse,
    status: str,
    body: str,
    headers: Iterable[tuple[str, str]] = (),
) -> Iterable[bytes]:
    page = (
        "<!doctype html><meta charset=utf-8><title>taskbot</title>"
        f"<div style='font:16px sans-serif;margin:3em;max-width:36em'>{body}</div>"
    ).encode()
    start_response(status, [*PAGE_HEADERS, *headers])
    return [page]


def _page(
    start_response: StartResponse,
    status: str,
    text: str,
    headers: Iterable[tuple[str, str]] = (),
) -> Iterable[bytes]:
    return _html(start_response, status, f"<p>{html.escape(text)}</p>", headers)


def _query(environ: dict[str, Any]) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}


def _form(environ: dict[str, Any]) -> dict[str, str]:
    """A small urlencoded form body; anything else reads as empty."""
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return {}
    if not 0 < length <= MAX_FORM:
        return {}
    body = environ["wsgi.input"].read(length).decode("utf-8", "replace")
    return {k: v[0] for k, v in parse_qs(body).items()}


def _cookie(environ: dict[str, Any]) -> str | None:
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(environ.get("HTTP_COOKIE", ""))
    except CookieError:
        return None
    morsel = jar.get(COOKIE)
    return morsel.value if morsel is not None else None


def _again(sign_in: SignIn, why: str) -> str:
    return f"{why}. Run {sign_in.command} in Slack to try again."


def start_app(sign_in: SignIn) -> WSGIApp:
    """The start link: say whose Slack user this links to, and offer to continue."""

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        state = _query(environ).get("state", "")
        if not state:
            return _page(start_response, "400 Bad Request", _again(sign_in, "This link is broken"))
        try:
            _, name = sign_in.start(state)
        except DomainError as exc:
            return _page(start_response, "400 Bad Request", exc.message)
        who, service = html.escape(name), html.escape(sign_in.service)
        body = (
            f"<p>This signs you in to {service} and links that account to the Slack user "
            f"<b>{who}</b>: tasks {who} creates from Slack are then made as you.</p>"
            f"<p>Continue only if you are <b>{who}</b> and just ran "
            f"<code>{html.escape(sign_in.command)}</code> in Slack. If someone sent you this "
            "link, close this page.</p>"
            f"<form method=post action='{html.escape(sign_in.base)}/start'>"
            f"<input type=hidden name=state value='{html.escape(state)}'>"
            f"<button type=submit>Continue to {service}</button></form>"
        )
        cookie = sign_in.cookie(sign_in.binding(state, FORM), sign_in.lifetime)
        return _html(start_response, "200 OK", body, [("Set-Cookie", cookie)])

    return app


def continue_app(sign_in: SignIn) -> WSGIApp:
    """The Continue button: only from the page this browser was shown (its cookie; a post from
    another site carries none), then on to the task system with the state bound here."""

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        state = _form(environ).get("state", "")
        if not state or not sign_in.bound(state, _cookie(environ), FORM):
            why = "This sign-in can only continue from its own page, in this browser"
            return _page(start_response, "400 Bad Request", _again(sign_in, why))
        try:
            target, _ = sign_in.start(state)
        except DomainError as exc:
            return _page(start_response, "400 Bad Request", exc.message)
        start_response(
            "303 See Other",
            [
                ("Location", target),
                ("Set-Cookie", sign_in.cookie(sign_in.binding(state), sign_in.lifetime)),
                ("Cache-Control", "no-store"),
                ("Referrer-Policy", "no-referrer"),
            ],
        )
        return [b""]

    return app


def callback_app(sign_in: SignIn) -> WSGIApp:
    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        query = _query(environ)
        clear = [("Set-Cookie", sign_in.cookie("", 0))]
        state, code = query.get("state", ""), query.get("code", "")
        if "error" in query or not code or not state:
            why = f"{sign_in.service} did not link your account"
            return _page(start_response, "400 Bad Request", _again(sign_in, why), clear)
        if not sign_in.bound(state, _cookie(environ)):
            log.warning("account link refused: the sign-in did not start in this browser")
            why = (
                "This sign-in did not start in this browser, so it can't link an account. "
                f"Open the link {sign_in.command} gives you in this browser"
            )
            return _page(start_response, "400 Bad Request", _again(sign_in, why), clear)
        try:
            team_id, slack_id, account = sign_in.complete(code, state)
        except DomainError as exc:
            log.warning("account link refused: %s", exc.message)
            return _page(start_response, "400 Bad Request", exc.message, clear)
        try:
            sign_in.linked(team_id, slack_id, account)
        except Exception:  # the link is stored; the Slack confirmation is a courtesy
            log.exception("could not confirm the link in Slack")
        done = f"Your {sign_in.service} account is linked. You can close this tab."
        return _page(start_response, "200 OK", done, clear)

    return app
