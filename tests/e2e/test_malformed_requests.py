"""Malformed requests to ``POST /slack/events`` on the running taskbot: each gets a 4xx and one
log line, never a 500 or a traceback, and reaches no listener."""

from __future__ import annotations

import hashlib
import hmac
import logging
import time

import httpx
import pytest

from tests.e2e.conftest import ANA, SECRET, TEAM, Taskbot
from tests.e2e.test_flows import create


def signed(body: bytes, timestamp: str | None = None) -> dict[str, str]:
    stamp = timestamp or str(int(time.time()))
    digest = hmac.new(SECRET.encode(), b"v0:" + stamp.encode() + b":" + body, hashlib.sha256)
    return {"X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": "v0=" + digest.hexdigest()}


FORM = "application/x-www-form-urlencoded"
COMMAND = b"command=%2Ftask&text=list&team_id=T0TEAM1&user_id=UANA&channel_id=C1"

CASES: dict[str, tuple[bytes, dict[str, str]]] = {
    "timestamp not a number": (
        COMMAND,
        {"X-Slack-Request-Timestamp": "soon", "X-Slack-Signature": "v0=" + "0" * 64},
    ),
    "timestamp signed but not a number": (COMMAND, signed(COMMAND, timestamp="12ab")),
    "headers missing": (COMMAND, {}),
    "signature missing": (COMMAND, {"X-Slack-Request-Timestamp": str(int(time.time()))}),
    "signed body not UTF-8": (
        b"command=%2Ftask&text=\xff\xfe",
        signed(b"command=%2Ftask&text=\xff\xfe"),
    ),
    "signed payload not JSON": (b"payload=%7Bnot+json", signed(b"payload=%7Bnot+json")),
}


@pytest.mark.parametrize("case", list(CASES))
def test_malformed_slack_request_gets_4xx_and_one_log_line(
    taskbot: Taskbot, case: str, caplog: pytest.LogCaptureFixture
) -> None:
    body, headers = CASES[case]
    base = f"http://127.0.0.1:{taskbot.server.port}"
    calls_before = len(taskbot.slack.calls())
    caplog.clear()
    with caplog.at_level(logging.INFO):
        answer = httpx.post(
            base + "/slack/events", content=body, headers={"Content-Type": FORM, **headers}
        )
    assert 400 <= answer.status_code < 500, (answer.status_code, answer.text[:200])
    assert "Traceback" not in answer.text
    noted = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(noted) == 1, [r.getMessage() for r in noted]
    assert noted[0].exc_info is None and "\n" not in noted[0].getMessage()
    assert len(taskbot.slack.calls()) == calls_before


def test_slacks_unsigned_ssl_check_is_answered_200(taskbot: Taskbot) -> None:
    answer = httpx.post(
        f"http://127.0.0.1:{taskbot.server.port}/slack/events",
        content=b"ssl_check=1&token=x",
        headers={"Content-Type": FORM},
    )
    assert answer.status_code == 200


def test_a_command_that_says_payload_is_still_a_command(taskbot: Taskbot) -> None:
    """Bolt's parser takes any form containing "payload" for an interactive payload and read
    this command as an empty request (no listener, no task); it now reaches ``/task add``."""
    create(taskbot, f"Update the payload schema <@{ANA}|ana>")
    assert taskbot.app.backend.get(TEAM, "T-1").title == "Update the payload schema"
