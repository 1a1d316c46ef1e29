"""One HTTP client policy for every task API (httpx only here and in the API modules).

Timeouts (connect 3 s, read 10 s by default); bounded retries with exponential backoff only for
idempotent calls (GET, PUT, DELETE) on connection errors and 5xx; 429 waits ``Retry-After`` and
tries again (the call was not processed); a throttle that waits for the rate-limit window when
the API said no requests remain; and every failure turned into a domain error whose message a
person can read: 401/403 (bad key), 404 (gone), 4xx (refused, with the server's detail), 5xx and
malformed JSON (the system is unavailable). Nothing here knows Slack.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx

from bot.domain.errors import BackendUnavailable, InvalidInput, NotFound

log = logging.getLogger(__name__)

IDEMPOTENT = frozenset({"GET", "PUT", "DELETE", "HEAD"})


class ApiError(BackendUnavailable):
    """An answer the caller may want to handle itself (e.g. 409), with its status."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class Unauthorized(BackendUnavailable):
    """401/403: the key or token was refused."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class ApiClient:
    def __init__(
        self,
        name: str,
        base_url: str,
        *,
        auth: httpx.Auth | tuple[str, str] | None = None,
        headers: dict[str, str] | None = None,
        detail: Callable[[httpx.Response], str | None] = lambda r: None,
        key_hint: str = "the API key",
        connect_timeout: float = 3.0,
        read_timeout: float = 10.0,
        retries: int = 2,
        backoff: float = 0.5,
        max_wait: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.name = name
        self._client = httpx.Client(  # httpx adds the base URL's trailing slash itself
            base_url=base_url,
            auth=auth,
            headers=headers,
            timeout=httpx.Timeout(read_timeout, connect=connect_timeout),
            transport=transport,
        )
        self._detail = detail
        self._key_hint = key_hint
        self._retries = retries
        self._backoff = backoff
        self._max_wait = max_wait
        self._lock = threading.Lock()
        self._blocked_until = 0.0

    def close(self) -> None:
        self._client.close()

    def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        content: str | bytes | None = None,
        headers: dict[str, str] | None = None,
        timeout: float | None = None,
        retries: int | None = None,
    ) -> httpx.Response:
        """The answer to a call that succeeded (2xx); a domain error otherwise. ``timeout`` and
        ``retries`` tighten this one call (e.g. one made while Slack waits)."""
        idempotent = method.upper() in IDEMPOTENT
        allowed = self._retries if retries is None else retries
        attempt = 0
        while True:
            attempt += 1
            self._throttle()
            try:
                response = self._client.request(
                    method,
                    path,
                    params=params,
                    json=json,
                    content=content,
                    headers=headers,
                    timeout=timeout if timeout is not None else httpx.USE_CLIENT_DEFAULT,
                )
            except httpx.TransportError as exc:
                if idempotent and attempt <= allowed:
                    self._sleep(self._backoff * 2 ** (attempt - 1))
                    continue
                raise BackendUnavailable(
                    f"{self.name} didn't answer ({type(exc).__name__}); try again in a moment."
                ) from exc
            self._remember_limits(response)
            status = response.status_code
            if status == 429 and attempt <= allowed:
                self._sleep(self._retry_after(response))
                continue
            if status >= 500 and idempotent and attempt <= allowed:
                self._sleep(self._backoff * 2 ** (attempt - 1))
                continue
            if status < 300:
                return response
            raise self._error(response)

    def json(self, response: httpx.Response) -> Any:
        try:
            return response.json()
        except ValueError:
            raise BackendUnavailable(
                f"{self.name} answered with something that isn't JSON "
                f"(HTTP {response.status_code}); try again in a moment."
            ) from None

    def _error(self, response: httpx.Response) -> Exception:
        status = response.status_code
        detail = self._safe_detail(response)
        said = f": {detail}" if detail else ""
        if status in (401, 403):
            return Unauthorized(
                f"{self.name} refused taskbot's credentials (HTTP {status}{said}); "
                f"an admin should check {self._key_hint}.",
                status,
            )
        if status == 404:
            return NotFound(f"{self.name} doesn't have that any more{said}.")
        if status == 429:
            return BackendUnavailable(f"{self.name} is busy (rate limited); try again shortly.")
        if status in (400, 422):
            return InvalidInput({"task": f"{self.name} refused it{said}."})
        if status >= 500:
            return BackendUnavailable(
                f"{self.name} had a problem (HTTP {status}{said}); try again in a moment."
            )
        return ApiError(f"{self.name} answered HTTP {status}{said}.", status)

    def _safe_detail(self, response: httpx.Response) -> str | None:
        try:
            found = self._detail(response)
        except (ValueError, KeyError, TypeError):
            found = None
        if found:
            return found[:300]
        text = response.text.strip()
        return text[:200] if text and not text.startswith("<") else None

    def _retry_after(self, response: httpx.Response) -> float:
        """``Retry-After``, or LINE WORKS' ``rateLimit-reset`` (seconds until the window resets)."""
        header = response.headers.get("Retry-After") or response.headers.get("rateLimit-reset")
        try:
            wait = float(header or "1")
        except ValueError:
            wait = 1.0
        return min(max(wait, 0.0), self._max_wait)

    def _remember_limits(self, response: httpx.Response) -> None:
        """Paymo-style ``X-Ratelimit-*``: with none left, wait out the window before the next."""
        remaining = response.headers.get("X-Ratelimit-Remaining")
        period = response.headers.get("X-Ratelimit-Decay-Period")
        if remaining is None or period is None:
            return
        try:
            if int(remaining) <= 0:
                with self._lock:
                    wait = min(float(period), self._max_wait)
                    self._blocked_until = max(self._blocked_until, time.monotonic() + wait)
        except ValueError:
            return

    def _throttle(self) -> None:
        with self._lock:
            wait = self._blocked_until - time.monotonic()
        if wait > 0:
            log.info("%s: waiting %.1f s for its rate limit", self.name, wait)
            self._sleep(wait)

    def _sleep(self, seconds: float) -> None:
        time.sleep(seconds)
