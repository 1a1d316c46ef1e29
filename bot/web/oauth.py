"""``GET /oauth/lineworks/callback``: where a person's task-system sign-in comes back.

The ``state`` is checked by the backend (signed, for this person, not expired) before the code
is exchanged; whatever goes wrong is shown as a sentence on the page, never a stack trace.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qs

from bot.domain.errors import DomainError
from bot.web.server import StartResponse, WSGIApp

log = logging.getLogger(__name__)

Complete = Callable[[str, str], tuple[str, str, str]]
Linked = Callable[[str, str, str], None]


def _page(start_response: StartResponse, status: str, text: str) -> Iterable[bytes]:
    body = (
        "<!doctype html><meta charset=utf-8><title>taskbot</title>"
        f"<p style='font:16px sans-serif;margin:3em'>{html.escape(text)}</p>"
    ).encode()
    start_response(status, [("Content-Type", "text/html; charset=utf-8")])
    return [body]


def callback_app(service: str, complete: Complete, linked: Linked) -> WSGIApp:
    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        query = {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
        if "error" in query or not query.get("code") or not query.get("state"):
            return _page(
                start_response,
                "400 Bad Request",
                f"{service} did not link your account. Run /task link {service.lower()} "
                "in Slack to try again.",
            )
        try:
            team_id, slack_id, account = complete(query["code"], query["state"])
        except DomainError as exc:
            log.warning("account link refused: %s", exc.message)
            return _page(start_response, "400 Bad Request", exc.message)
        try:
            linked(team_id, slack_id, account)
        except Exception:  # the link is stored; the Slack confirmation is a courtesy
            log.exception("could not confirm the link in Slack")
        return _page(
            start_response, "200 OK", f"Your {service} account is linked. You can close this tab."
        )

    return app
