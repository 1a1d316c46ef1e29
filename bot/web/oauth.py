"""A person's task-system sign-in, as the browser sees it: start on taskbot, come back.

``GET {base}/start?state=…`` (the link ``/task link lineworks`` gives) sets a cookie that binds the
state to this browser (an HMAC of the state under the signing key of ``bot.keys``; HttpOnly,
SameSite=Lax, Secure when ``TASKBOT_PUBLIC_URL`` is https) and redirects to the task system.
``GET {base}/callback`` refuses a state whose cookie this browser does not hold, so a sign-in page
someone else started can't link your account to their Slack user (login CSRF); the service then
uses the state up. Whatever goes wrong is one sentence on the page about this sign-in only, never
about other people, never a stack trace.
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


@dataclass(frozen=True)
class SignIn:
    """One task system's sign-in: where it lives, and the service calls behind it."""

    service: str  # as people know it: "LINE WORKS"
    command: str  # what starts it again: "/task link lineworks"
    base: str  # "/oauth/lineworks"
    start: Callable[[str], str]  # state → the task system's sign-in page
    complete: Complete  # (code, state) → (team, Slack user, account)
    linked: Linked  # tell the person in Slack
    keys: Keys
    secure: bool  # TASKBOT_PUBLIC_URL is https
    lifetime: int = 600  # seconds the cookie lives (the state's own lifetime)

    def binding(self, state: str) -> str:
        """The cookie's value for ``state``: only taskbot can make it."""
        return self.keys.mac(f"sign-in cookie:{self.base}:{state}")

    def bound(self, state: str, cookie: str | None) -> bool:
        label = f"sign-in cookie:{self.base}:{state}"
        return cookie is not None and self.keys.check_mac(label, cookie)

    def cookie(self, value: str, max_age: int) -> str:
        flags = f"Path={self.base}/; Max-Age={max_age}; HttpOnly; SameSite=Lax"
        return f"{COOKIE}={value}; {flags}{'; Secure' if self.secure else ''}"


def sign_in_routes(sign_in: SignIn) -> dict[tuple[str, str], WSGIApp]:
    return {
        ("GET", f"{sign_in.base}/start"): start_app(sign_in),
        ("GET", f"{sign_in.base}/callback"): callback_app(sign_in),
    }


def _page(
    start_response: StartResponse,
    status: str,
    text: str,
    headers: Iterable[tuple[str, str]] = (),
) -> Iterable[bytes]:
    body = (
        "<!doctype html><meta charset=utf-8><title>taskbot</title>"
        f"<p style='font:16px sans-serif;margin:3em'>{html.escape(text)}</p>"
    ).encode()
    start_response(
        status,
        [
            ("Content-Type", "text/html; charset=utf-8"),
            ("Cache-Control", "no-store"),
            ("Referrer-Policy", "no-referrer"),
            *headers,
        ],
    )
    return [body]


def _query(environ: dict[str, Any]) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}


def _cookie(environ: dict[str, Any]) -> str | None:
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(environ.get("HTTP_COOKIE", ""))
    except CookieError:
        return None
    morsel = jar.get(COOKIE)
    return morsel.value if morsel is not None else None


def start_app(sign_in: SignIn) -> WSGIApp:
    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        state = _query(environ).get("state", "")
        try:
            target = sign_in.start(state) if state else None
        except DomainError as exc:
            return _page(start_response, "400 Bad Request", exc.message)
        if target is None:
            return _page(start_response, "400 Bad Request", _again(sign_in, "This link is broken"))
        start_response(
            "302 Found",
            [
                ("Location", target),
                ("Set-Cookie", sign_in.cookie(sign_in.binding(state), sign_in.lifetime)),
                ("Cache-Control", "no-store"),
                ("Referrer-Policy", "no-referrer"),
            ],
        )
        return [b""]

    return app


def _again(sign_in: SignIn, why: str) -> str:
    return f"{why}. Run {sign_in.command} in Slack to try again."


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
