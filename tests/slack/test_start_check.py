"""The start-up ``auth.test``: an address that answers HTTP but is not Slack's API (a proxy's
404, a wrong ``SLACK_API_URL``) is named as unreachable, not as Slack refusing the token."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from bot.slack.clients import SlackStartError, check_token
from tests.stubs.slack_api import slack_stub


class NotSlack(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.send_response(404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass


@pytest.fixture
def not_slack() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), NotSlack)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/api/"
    server.shutdown()
    server.server_close()


def test_an_address_that_is_not_slacks_api_is_unreachable_slack(not_slack: str) -> None:
    with pytest.raises(SlackStartError, match=rf"^can't reach Slack at {not_slack}: HTTP 404$"):
        check_token("xoxb-anything", not_slack)


def test_a_token_slack_refuses_is_named_as_refused() -> None:
    with slack_stub() as stub:
        with pytest.raises(SlackStartError, match=r"^Slack refused the bot token \(invalid_auth\)"):
            check_token("xoxb-unknown", stub.url)
