"""Replies to the person who acted: a response_url that Slack no longer takes is said in the
log (without the URL), not lost without a trace."""

from __future__ import annotations

import logging

import pytest
from slack_sdk import WebClient

from bot.slack.reply import Reply
from tests.stubs.slack_api import slack_stub


def test_a_response_url_that_refuses_the_reply_is_logged_without_the_url(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with slack_stub() as stub:
        gone = f"{stub.base}/expired/T1-secret-path"  # the stub answers 404 off its routes
        reply = Reply(
            client=WebClient(base_url=f"{stub.base}/api/"), user_id="U1", response_url=gone
        )
        with caplog.at_level(logging.WARNING, logger="bot.slack.reply"):
            reply.send("Done.")
        kept = f"{stub.base}/respond/kept"
        Reply(client=WebClient(base_url=f"{stub.base}/api/"), user_id="U1", response_url=kept).send(
            "Done."
        )
        assert stub.responses("kept")[0]["text"] == "Done."
    lines = [r.getMessage() for r in caplog.records]
    assert lines == ["reply to user=U1 failed: response_url answered 404"]
    assert "secret-path" not in caplog.text
