"""The Slack Web API stub answers like Slack, driven by slack_sdk's own WebClient."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.slack.clients import make_client
from tests.stubs.slack_api import SlackApiStub, slack_stub


@pytest.fixture(scope="module")
def session_stub() -> Iterator[SlackApiStub]:
    with slack_stub() as stub:
        stub.add_team("T1", "xoxb-one")
        stub.add_user("T1", "U1", tz="Asia/Tokyo", email="one@example.com")
        stub.add_group("T1", "S1", "ops", ["U1"])
        yield stub


@pytest.fixture
def stub(session_stub: SlackApiStub) -> SlackApiStub:
    session_stub.reset()
    return session_stub


def test_answers_and_records(stub: SlackApiStub) -> None:
    client = WebClient(token="xoxb-one", base_url=stub.url)
    assert client.auth_test()["team_id"] == "T1"
    assert client.users_info(user="U1")["user"]["tz"] == "Asia/Tokyo"
    assert client.users_lookupByEmail(email="one@example.com")["user"]["id"] == "U1"
    assert client.usergroups_list(include_users=True)["usergroups"][0]["users"] == ["U1"]
    posted = client.chat_postMessage(channel="U1", text="hi")
    assert posted["channel"] == "D1"
    client.chat_update(channel="D1", ts=posted["ts"], text="edited")
    assert stub.message("D1", posted["ts"])["text"] == "edited"
    assert [c.method for c in stub.calls()][-2:] == ["chat.postMessage", "chat.update"]


def test_slack_errors(stub: SlackApiStub) -> None:
    client = WebClient(token="xoxb-one", base_url=stub.url)
    with pytest.raises(SlackApiError) as caught:
        client.users_info(user="UNOPE")
    assert caught.value.response["error"] == "user_not_found"
    stub.fail_next("chat.postMessage", "channel_not_found")
    with pytest.raises(SlackApiError):
        client.chat_postMessage(channel="C1", text="x")
    with pytest.raises(SlackApiError) as bad:
        WebClient(token="xoxb-wrong", base_url=stub.url).auth_test()
    assert bad.value.response["error"] == "invalid_auth"
    with pytest.raises(SlackApiError):
        client.chat_update(channel="C1", ts="1.2", text="x")


def test_429_with_retry_after(stub: SlackApiStub) -> None:
    stub.rate_limit_next("chat.postMessage", retry_after=1)
    with pytest.raises(SlackApiError) as caught:
        WebClient(token="xoxb-one", base_url=stub.url).chat_postMessage(channel="C1", text="x")
    assert caught.value.response.status_code == 429
    assert caught.value.response.headers["Retry-After"] == "1"
    stub.rate_limit_next("chat.postMessage", retry_after=1)
    started = time.monotonic()
    make_client("xoxb-one", stub.url).chat_postMessage(channel="C1", text="x")
    assert time.monotonic() - started >= 1.0


def test_trigger_ids_expire_and_are_single_use(stub: SlackApiStub) -> None:
    client = WebClient(token="xoxb-one", base_url=stub.url)
    view = {"type": "modal", "title": {"type": "plain_text", "text": "t"}, "blocks": []}
    client.views_open(trigger_id="1.1", view=view)
    with pytest.raises(SlackApiError, match="exchanged_trigger_id"):
        client.views_open(trigger_id="1.1", view=view)
    stub.expire_trigger("2.2")
    with pytest.raises(SlackApiError, match="expired_trigger_id"):
        client.views_open(trigger_id="2.2", view=view)


def test_reset_clears_recordings(stub: SlackApiStub) -> None:
    WebClient(token="xoxb-one", base_url=stub.url).auth_test()
    stub.reset()
    assert stub.calls() == []
