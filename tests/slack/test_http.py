"""How ``bot.slack.http`` hands a signed body to Bolt: parsed once, and what Bolt's own parser
would have lost or refused with a 500 is a request or a 400 here."""

from __future__ import annotations

import json
from urllib.parse import urlencode

import pytest

from bot.slack.http import Refused, bolt_request


def environ(content_type: str) -> dict[str, str]:
    return {"CONTENT_TYPE": content_type, "HTTP_X_SLACK_REQUEST_TIMESTAMP": "1", "QUERY_STRING": ""}


FORM = "application/x-www-form-urlencoded"


def test_a_command_is_its_form_fields() -> None:
    body = urlencode({"command": "/task", "text": "list", "team_id": "T1"}).encode()
    request = bolt_request(body, environ(FORM))
    assert request.body == {"command": "/task", "text": "list", "team_id": "T1"}
    assert request.headers["x-slack-request-timestamp"] == ["1"]


def test_a_command_whose_text_says_payload_keeps_every_field() -> None:
    """Bolt alone reads any form containing "payload" as an interactive payload, and this one
    as an empty request."""
    fields = {"command": "/task", "text": "add Fix the payload parser", "user_id": "U1", "x": ""}
    request = bolt_request(urlencode(fields).encode(), environ(FORM))
    assert request.body == fields


def test_an_interactive_payload_is_its_json() -> None:
    payload = {"type": "block_actions", "text": "payload"}
    body = urlencode({"payload": json.dumps(payload)}).encode()
    assert bolt_request(body, environ(FORM)).body == payload


@pytest.mark.parametrize(
    ("body", "content_type", "reason"),
    [
        (b"\xff\xfe", FORM, "not UTF-8"),
        (b"payload=%7Bnot+json", FORM, "not valid JSON"),
        (b"[1, 2]", "application/json", "not a JSON object"),
        (b'"payload"', "application/json", "not a JSON object"),
        (b"{nope", "application/json", "not valid JSON"),
    ],
)
def test_what_bolt_cannot_read_is_refused_with_a_400(
    body: bytes, content_type: str, reason: str
) -> None:
    with pytest.raises(Refused) as refused:
        bolt_request(body, environ(content_type))
    assert refused.value.status == "400 Bad Request"
    assert reason in refused.value.reason
