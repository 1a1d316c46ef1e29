"""One HTTP client policy for every task API (httpx only here and in the API modules).

Timeouts (connect 3 s, read 10 s by default); bounded retries with exponential backoff only for
idempotent calls (GET, PUT, DELETE) on connection errors and 5xx; rate limits held across every
taskbot process through a shared ``RateBudget`` (``bot.backends.ratelimit``): each call takes a
turn in its budget first (the client's, or its operation's), and a pause the API asks for is
recorded there, so every process honours it (429 with ``Retry-After`` or ``rateLimit-reset``:
the call was not processed and is tried again; none remaining, ``X-Ratelimit-Remaining`` or
``rateLimit-remaining`` 0: wait out ``X-Ratelimit-Decay-Period`` or ``rateLimit-reset``), as is
the limit it states (``X-Ratelimit-Limit`` per ``X-Ratelimit-Decay-Period``);
waiting for a turn is bounded (``wait``); and every failure is turned into a domain error whose
message a person can read: the rate limit (no turn within the bound), 401/403 (bad key), 404
(gone), 4xx (refused, with the server's detail), 5xx and malformed JSON (the system is
unavailable). Nothing here knows Slack.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx

from bot.backends.ratelimit import InMemoryRateBudget, RateBudget, Throttle
from bot.domain.errors import BackendUnavailable, InvalidInput, NotFound
from bot.domain.rates import Rate
from bot.metrics import TASK_API_CALLS

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
        max_wait: float = 60.0,
        transport: httpx.BaseTransport | None = None,
        budget: RateBudget | None = None,
        rate: Rate | None = None,
        key: str | None = None,
        wait: float = 90.0,
    ) -> None:
        """``budget`` is shared by every process (in memory when not given); ``rate`` limits
        every call of this client under ``key`` (default: ``name``), unless a call names its own
        operation and rate; ``wait`` bounds the time one call spends waiting for its turn;
        ``max_wait`` caps a pause the API asks for (LINE WORKS' window is a minute)."""
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
        self._rate = rate
        self._key = key or name
        self._wait = wait
        self._throttle = Throttle(
            budget or InMemoryRateBudget(),
            name,
            max_wait=wait,
            hold=connect_timeout + 2 * read_timeout,
            sleep=self._sleep,
        )

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
        operation: str | None = None,
        rate: Rate | None = None,
        wait: float | None = None,
    ) -> httpx.Response:
        """The answer to a call that succeeded (2xx); a domain error otherwise. ``timeout``,
        ``retries`` and ``wait`` tighten this one call (e.g. one made while Slack waits);
        ``operation`` and ``rate`` give it its own budget (LINE WORKS limits each operation)."""
        idempotent = method.upper() in IDEMPOTENT
        allowed = self._retries if retries is None else retries
        key = f"{self._key}:{operation}" if operation else self._key
        rate = rate or self._rate
        waited_until = time.monotonic() + (self._wait if wait is None else wait)
        attempt = 0
        while True:
            attempt += 1
            try:
                left = max(0.0, waited_until - time.monotonic())
                with self._throttle.turn(key, rate, max_wait=left):
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
                TASK_API_CALLS.labels(self.name, operation or method.upper(), "error").inc()
                if idempotent and attempt <= allowed:
                    self._sleep(self._backoff * 2 ** (attempt - 1))
                    continue
                raise BackendUnavailable(
                    f"{self.name} didn't answer ({type(exc).__name__}); try again in a moment."
                ) from exc
            self._remember_limits(key, response)
            status = response.status_code
            TASK_API_CALLS.labels(self.name, operation or method.upper(), str(status)).inc()
            if status == 429:
                self._throttle.pause(key, self._retry_after(response))
                if attempt <= allowed:
                    continue  # the next turn waits for the pause
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

    def _remember_limits(self, key: str, response: httpx.Response) -> None:
        """What the API says of its limit, for every process: Paymo's ``X-Ratelimit-Limit`` per
        ``X-Ratelimit-Decay-Period`` becomes the budget's rate; with no calls left (Paymo's
        ``X-Ratelimit-Remaining``, LINE WORKS' ``rateLimit-remaining``), every process waits out
        the window (Paymo's decay period, LINE WORKS' seconds until the reset)."""
        headers = response.headers
        remaining = headers.get("X-Ratelimit-Remaining") or headers.get("rateLimit-remaining")
        period = headers.get("X-Ratelimit-Decay-Period") or headers.get("rateLimit-reset")
        try:
            limit, decay = headers.get("X-Ratelimit-Limit"), headers.get("X-Ratelimit-Decay-Period")
            if limit and decay and int(limit) > 0 and float(decay) > 0:
                self._throttle.tell(key, Rate(calls=int(limit), seconds=float(decay)))
            if remaining is not None and period is not None and int(remaining) <= 0:
                self._throttle.pause(key, min(float(period), self._max_wait))
        except ValueError:
            return

    def _sleep(self, seconds: float) -> None:
        time.sleep(seconds)
