"""WebClients for Slack's Web API: base URL from settings, 429 and connection retries on.

May import slack_sdk (and ``bot.metrics``, which counts failed calls by method and error).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
)

from bot.metrics import SLACK_API_ERRORS

ClientProvider = Callable[[str], WebClient]
"""Team id → a WebClient holding that workspace's bot token."""
_ERROR_CODE = re.compile(r"[a-z_]{1,64}")


class CountingWebClient(WebClient):
    """A WebClient whose failed calls are counted by method and Slack's error code (a code, never
    the call's arguments); ``unreachable`` when no answer came."""

    def api_call(self, api_method: str, **kwargs: Any) -> Any:
        try:
            return super().api_call(api_method, **kwargs)
        except SlackApiError as exc:
            code = str(exc.response.get("error") or "")
            SLACK_API_ERRORS.labels(
                api_method, code if _ERROR_CODE.fullmatch(code) else "other"
            ).inc()
            raise
        except Exception:
            SLACK_API_ERRORS.labels(api_method, "unreachable").inc()
            raise


def make_client(token: str | None, base_url: str, *, rate_limit_retries: int = 3) -> WebClient:
    """A client that waits Retry-After on 429 and retries dropped connections."""
    return CountingWebClient(
        token=token,
        base_url=base_url,
        timeout=10,
        retry_handlers=[
            ConnectionErrorRetryHandler(max_retry_count=2),
            RateLimitErrorRetryHandler(max_retry_count=rate_limit_retries),
        ],
    )


START_TIMEOUT = 5.0
"""Seconds the start-up ``auth.test`` may take: a start that can't reach Slack must say so within
15 s, where the everyday client (10 s timeout, two retries) would take over 30."""

_quiet = logging.getLogger("taskbot.slack.startup")
_quiet.disabled = True  # the one line the caller prints says it all


class SlackStartError(Exception):
    """Slack can't be reached, or refuses the bot token; the message is one line."""


def check_token(token: str, base_url: str, timeout: float = START_TIMEOUT) -> None:
    """One ``auth.test``, bounded by ``timeout`` and not retried."""
    client = WebClient(
        token=token, base_url=base_url, timeout=int(timeout), retry_handlers=[], logger=_quiet
    )
    try:
        client.auth_test()
    except SlackApiError as exc:
        if exc.response.status_code != 200:  # Slack answers 200 even to a bad token
            status = exc.response.status_code
            raise SlackStartError(f"can't reach Slack at {base_url}: HTTP {status}") from exc
        raise SlackStartError(f"Slack refused the bot token ({exc.response.get('error')})") from exc
    except Exception as exc:  # urllib's errors, timeouts: Slack is unreachable
        reason = str(getattr(exc, "reason", None) or exc) or type(exc).__name__
        raise SlackStartError(f"can't reach Slack at {base_url}: {reason}") from exc
