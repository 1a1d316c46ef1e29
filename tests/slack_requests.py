"""Correctly signed Slack requests, built from recorded payloads, and a client that sends them.

Slash commands are form-encoded, interactivity is ``payload=<json>``, events are JSON — each
signed with ``SignatureVerifier`` over the exact raw body, as Slack does.
"""

from __future__ import annotations

import copy
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
from slack_sdk.signature import SignatureVerifier

REQUESTS = Path(__file__).parent / "fixtures" / "slack" / "requests"


def recorded(name: str) -> dict[str, Any]:
    return copy.deepcopy(json.loads((REQUESTS / name).read_text()))


@dataclass(frozen=True)
class SlackRequest:
    body: str
    content_type: str


def slash_command(
    text: str,
    *,
    user_id: str,
    team_id: str,
    channel_id: str,
    response_url: str,
    trigger_id: str | None = None,
) -> SlackRequest:
    form = recorded("slash_command.bolt_test.parsed.json")
    form.update(
        command="/task",
        text=text,
        user_id=user_id,
        team_id=team_id,
        channel_id=channel_id,
        response_url=response_url,
        trigger_id=trigger_id or f"{time.time_ns()}.trigger",  # unique, as Slack's are
    )
    form.pop("enterprise_id", None)
    form.pop("enterprise_name", None)
    return SlackRequest(urlencode(form), "application/x-www-form-urlencoded")


def _interactive(payload: dict[str, Any]) -> SlackRequest:
    return SlackRequest(
        urlencode({"payload": json.dumps(payload)}), "application/x-www-form-urlencoded"
    )


def _who(payload: dict[str, Any], user_id: str, team_id: str) -> None:
    payload["user"] = {"id": user_id, "username": user_id.lower(), "team_id": team_id}
    payload["team"] = {"id": team_id, "domain": "example"}
    payload.pop("enterprise", None)


def block_action(
    action_id: str,
    value: str,
    *,
    user_id: str,
    team_id: str,
    container: str = "message",
    channel_id: str = "C1",
    message_ts: str = "1700000000.000100",
    response_url: str | None = None,
    trigger_id: str = "111.222.button",
    is_ephemeral: bool = False,
) -> SlackRequest:
    if container == "message":
        payload = recorded("block_actions.message_button.bolt_test.json")
        payload["container"] = {
            "type": "message",
            "message_ts": message_ts,
            "channel_id": channel_id,
            "is_ephemeral": is_ephemeral,
        }
        payload["channel"] = {"id": channel_id, "name": "channel"}
        payload["response_url"] = response_url
    else:
        payload = recorded("block_actions.home_tab_button.COMPOSED.json")
        payload.pop("response_url", None)
        payload.pop("channel", None)
    _who(payload, user_id, team_id)
    payload["trigger_id"] = trigger_id
    payload["actions"] = [
        {
            "action_id": action_id,
            "block_id": "card_actions",
            "text": {"type": "plain_text", "text": action_id},
            "value": value,
            "type": "button",
            "action_ts": f"{time.time():.6f}",
        }
    ]
    return _interactive(payload)


def view_submission(
    callback_id: str,
    values: dict[str, Any],
    *,
    user_id: str,
    team_id: str,
    private_metadata: str = "",
    view_id: str = "V111",
) -> SlackRequest:
    payload = recorded("view_submission.bolt_test.json")
    _who(payload, user_id, team_id)
    view = payload["view"]
    view.update(
        id=view_id,
        team_id=team_id,
        callback_id=callback_id,
        private_metadata=private_metadata,
        state={"values": values},
        hash=f"{time.time_ns()}.hash",  # each submission of a view has its own, as in Slack
    )
    return _interactive(payload)


def message_shortcut(
    callback_id: str,
    *,
    user_id: str,
    team_id: str,
    channel_id: str,
    message_text: str,
    message_ts: str,
    trigger_id: str = "111.222.shortcut",
) -> SlackRequest:
    payload = recorded("message_action.bolt_test.json")
    _who(payload, user_id, team_id)
    payload.update(
        callback_id=callback_id,
        trigger_id=trigger_id,
        message_ts=message_ts,
        channel={"id": channel_id, "name": "channel"},
        response_url="https://hooks.slack.com/app/unused",
    )
    payload["message"] = {**payload.get("message", {}), "text": message_text, "ts": message_ts}
    return _interactive(payload)


def event_callback(event: dict[str, Any], *, team_id: str) -> SlackRequest:
    envelope = recorded("event_callback.app_home_opened_home.slack_web_golden.json")
    envelope.update(team_id=team_id, event=event, event_id=f"Ev{time.time_ns()}")
    for authorization in envelope.get("authorizations") or []:
        authorization["team_id"] = team_id
    return SlackRequest(json.dumps(envelope), "application/json")


def app_home_opened(user_id: str, *, team_id: str) -> SlackRequest:
    envelope = recorded("event_callback.app_home_opened_home.slack_web_golden.json")
    event = {**envelope["event"], "user": user_id, "tab": "home"}
    event.pop("view", None)
    return event_callback(event, team_id=team_id)


def url_verification(challenge: str) -> SlackRequest:
    body = recorded("url_verification.bolt_test.json")
    body["challenge"] = challenge
    return SlackRequest(json.dumps(body), "application/json")


class SlackClient:
    """Sends signed requests to a running taskbot at ``base_url`` + ``/slack/events``."""

    def __init__(self, base_url: str, signing_secret: str) -> None:
        self._http = httpx.Client(base_url=base_url, timeout=10)
        self._verifier = SignatureVerifier(signing_secret)

    def send(
        self, request: SlackRequest, *, bad_signature: bool = False, stale: bool = False
    ) -> httpx.Response:
        timestamp = str(int(time.time()) - (360 if stale else 0))
        signature = self._verifier.generate_signature(timestamp=timestamp, body=request.body)
        if bad_signature:
            signature = "v0=" + "0" * 64
        return self._http.post(
            "/slack/events",
            content=request.body.encode(),
            headers={
                "Content-Type": request.content_type,
                "X-Slack-Request-Timestamp": timestamp,
                "X-Slack-Signature": signature,
            },
        )

    def close(self) -> None:
        self._http.close()
