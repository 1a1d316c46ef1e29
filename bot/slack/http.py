"""``POST /slack/events`` over HTTP: the request is checked here before Bolt sees it.

Slack signs ``v0:{timestamp}:{raw body}`` with the signing secret (HMAC-SHA256, 5-minute
window). Bolt checks the same, but raises on what it does not expect (a timestamp that is not a
number, a body that is not UTF-8, a payload that is not JSON) and the request ends as a 500. Here
every such request gets a 4xx and one warning line saying why, and never reaches a listener.
Bodies are already bounded by the HTTP front (``bot.web.server.MAX_BODY``).

Imports only the WSGI types of ``bot.web.server``; ``bot.slack.app`` puts it in front of Bolt.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import logging
import time
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qs

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


def check_body(body: bytes, content_type: str) -> str | None:
    """Raise ``Refused`` unless the (signed) body is what Bolt can parse: UTF-8, and JSON where
    Slack sends JSON (an events body, or a form's ``payload`` field). Returns the request's kind
    (``command``, or the payload's ``type``) for the ack metric."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise Refused("400 Bad Request", "body is not UTF-8") from None
    try:
        if content_type.startswith("application/json"):
            document = json.loads(text)
        else:
            payload = parse_qs(text).get("payload")
            document = json.loads(payload[0]) if payload else {}
    except ValueError:
        raise Refused("400 Bad Request", "body is not valid JSON") from None
    if not isinstance(document, dict):
        raise Refused("400 Bad Request", "body is not a JSON object")
    if not document:
        return "command" if "command" in parse_qs(text) else None
    kind = document.get("type")
    return kind if isinstance(kind, str) else None


def is_ssl_check(body: bytes) -> bool:
    """Slack's certificate probe (the form field ``ssl_check=1``); parsed only when present."""
    return b"ssl_check=" in body and parse_qs(body.decode("latin-1")).get("ssl_check") == ["1"]


def guarded(
    handler: WSGIApp, signing_secret: str, clock: Callable[[], float] = time.time
) -> WSGIApp:
    """``handler`` (Bolt's WSGI adapter) behind the checks above."""
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
            kind = check_body(body, environ.get("CONTENT_TYPE", ""))
        except Refused as refused:
            log.warning("refused a Slack request: %s", refused.reason)
            return json_response(start_response, refused.status, {"error": "invalid request"})
        environ["wsgi.input"] = io.BytesIO(body)
        answer = handler(environ, start_response)  # Bolt has acked when its adapter returns
        ACK_SECONDS.labels(ack_kind(kind)).observe(time.perf_counter() - started)
        return answer

    return app
