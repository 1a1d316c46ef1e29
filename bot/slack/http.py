"""``POST /slack/events`` over HTTP: checked here, then handed to Bolt, parsed once.

Slack signs ``v0:{timestamp}:{raw body}`` with the signing secret (HMAC-SHA256, 5-minute
window). Bolt's own WSGI adapter checks the same, but raises on what it does not expect (a
timestamp that is not a number, a body that is not UTF-8, a payload that is not JSON) and the
request ends as a 500. Here every such request gets a 4xx and one warning line saying why, and
never reaches a listener; Bolt's check of the signature is then switched off (it would be the
second one), and the body Bolt parses is the one request it is given. Bodies are already
bounded by the HTTP front (``bot.web.server.MAX_BODY``).

Of ``bot.web`` it imports only the WSGI types of ``bot.web.server``; ``bot.slack.app`` puts it in
front of Bolt.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs, parse_qsl

from slack_bolt import App, BoltRequest

from bot.logs import bind_request_id
from bot.metrics import ACK_SECONDS, ack_kind
from bot.web.server import StartResponse, WSGIApp, json_response

log = logging.getLogger(__name__)

WINDOW_SECONDS = 300


class Refused(Exception):
    def __init__(self, status: str, reason: str) -> None:
        super().__init__(reason)
        self.status, self.reason = status, reason


def check_signature(
    secret: bytes, body: bytes, timestamp: str | None, signature: str | None, now: float
) -> None:
    """Raise ``Refused`` unless ``signature`` is Slack's for ``body`` at a recent ``timestamp``."""
    if not timestamp or not signature:
        raise Refused("401 Unauthorized", "signature headers missing")
    if not timestamp.isdigit():
        raise Refused("400 Bad Request", "X-Slack-Request-Timestamp is not a number")
    if abs(now - int(timestamp)) > WINDOW_SECONDS:
        raise Refused("401 Unauthorized", "stale timestamp")
    expected = (
        "v0="
        + hmac.new(secret, b"v0:%s:%s" % (timestamp.encode(), body), hashlib.sha256).hexdigest()
    )
    if not hmac.compare_digest(expected, signature.strip()):
        raise Refused("401 Unauthorized", "bad signature")


def bolt_request(body: bytes, environ: dict[str, Any]) -> BoltRequest:
    """Bolt's request for a signed body; ``Refused`` unless it is UTF-8 and a JSON object
    where Slack sends JSON (an events body, or a form's ``payload`` field)."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise Refused("400 Bad Request", "body is not UTF-8") from None
    headers = {
        name[5:].lower().replace("_", "-"): value
        for name, value in environ.items()
        if name.startswith("HTTP_")
    }
    headers["content-type"] = environ.get("CONTENT_TYPE", "")
    if not headers["content-type"].startswith("application/json") and _form_mistaken(text):
        form = dict(parse_qsl(text, keep_blank_values=True))  # as Bolt parses a form
        text, headers["content-type"] = json.dumps(form), "application/json"
    try:
        request = BoltRequest(body=text, query=environ.get("QUERY_STRING", ""), headers=headers)
    except ValueError:
        raise Refused("400 Bad Request", "body is not valid JSON") from None
    except (AttributeError, TypeError):  # JSON, but not an object: Bolt reads it as one
        raise Refused("400 Bad Request", "body is not a JSON object") from None
    if not isinstance(request.body, dict):
        raise Refused("400 Bad Request", "body is not a JSON object")
    return request


def _form_mistaken(text: str) -> bool:
    """Bolt reads any form that contains "payload" anywhere as an interactive payload, and a
    slash command whose text says "payload" as nothing at all; such a form is handed to it as
    JSON instead."""
    return (
        "payload" in text
        and not text.startswith(("payload=", "{"))  # a form's payload field; JSON, read as such
        and "&payload=" not in text
    )


def request_kind(body: dict[str, Any]) -> str:
    """What arrived, as a name (never the body): a command, a callback or an event type."""
    if body.get("command"):
        return "command"
    kind = str(body.get("type") or "?")
    if kind == "event_callback":
        return f"event:{(body.get('event') or {}).get('type', '?')}"
    return kind


def request_team(body: dict[str, Any]) -> str:
    team = body.get("team")
    return str(body.get("team_id") or (team.get("id") if isinstance(team, dict) else "") or "?")


def is_ssl_check(body: bytes) -> bool:
    """Slack's certificate probe (the form field ``ssl_check=1``); parsed only when present."""
    return b"ssl_check=" in body and parse_qs(body.decode("latin-1")).get("ssl_check") == ["1"]


def slack_events(bolt: App, signing_secret: str, clock: Callable[[], float] = time.time) -> WSGIApp:
    """The WSGI app for ``POST /slack/events``: the checks above, then Bolt (which has acked
    when ``dispatch`` returns); each request gets a fresh id and one log line."""
    secret = signing_secret.encode()

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        started = time.perf_counter()
        body = environ["wsgi.input"].read()
        if is_ssl_check(body):  # Slack's certificate probe, answered as Bolt does, unsigned
            start_response("200 OK", [("Content-Length", "0")])
            return [b""]
        try:
            check_signature(
                secret,
                body,
                environ.get("HTTP_X_SLACK_REQUEST_TIMESTAMP"),
                environ.get("HTTP_X_SLACK_SIGNATURE"),
                clock(),
            )
            request = bolt_request(body, environ)
        except Refused as refused:
            log.warning("refused a Slack request: %s", refused.reason)
            return json_response(start_response, refused.status, {"error": "invalid request"})
        bind_request_id()
        kind = request_kind(request.body)
        log.info("slack request type=%s team=%s", kind, request_team(request.body))
        answer = bolt.dispatch(request)
        label = ack_kind(kind if kind == "command" else str(request.body.get("type")))
        ACK_SECONDS.labels(label).observe(time.perf_counter() - started)
        data = answer.body.encode()
        headers = [
            (name, value)
            for name, values in answer.headers.items()
            if name.lower() != "content-length"
            for value in values
        ]
        start_response(_status_line(answer.status), [*headers, ("Content-Length", str(len(data)))])
        return [data]

    return app


def _status_line(status: int) -> str:
    try:
        return f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        return f"{status} Unknown"
