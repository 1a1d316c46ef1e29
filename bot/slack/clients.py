"""WebClients for Slack's Web API: base URL from settings, 429 and connection retries on.

May import slack_sdk only.
"""

from __future__ import annotations

from collections.abc import Callable

from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
)

ClientProvider = Callable[[str], WebClient]
"""Team id → a WebClient holding that workspace's bot token."""


def make_client(token: str | None, base_url: str, *, rate_limit_retries: int = 3) -> WebClient:
    """A client that waits Retry-After on 429 and retries dropped connections."""
    return WebClient(
        token=token,
        base_url=base_url,
        timeout=10,
        retry_handlers=[
            ConnectionErrorRetryHandler(max_retry_count=2),
            RateLimitErrorRetryHandler(max_retry_count=rate_limit_retries),
        ],
    )
