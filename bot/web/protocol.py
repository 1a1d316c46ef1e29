"""uvicorn's HTTP/1.1 protocol with bounds on the request head (``bot.web.server`` serves with it).

Apart from ``bot.web.server`` so that importing the server's helpers (routes, JSON answers, the
WSGI types), as the worker process does, never loads uvicorn.
"""

from __future__ import annotations

import asyncio
import logging

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from bot.web.server import MAX_HEAD, READ_TIMEOUT

log = logging.getLogger("bot.web.server")


class HeadTooLarge(Exception):
    pass


class HeadDeadlineProtocol(HttpToolsProtocol):
    """uvicorn's HTTP/1.1 protocol, plus bounds on the request head: a connection that has not
    sent a whole head within ``READ_TIMEOUT`` of connecting (or of starting its next request) is
    closed, so slow-loris clients give their sockets back; a head over ``MAX_HEAD`` bytes is
    refused with 400 (the parser itself has no limit: headers would pile up in memory)."""

    read_timeout = READ_TIMEOUT
    _head_timer: asyncio.TimerHandle | None = None
    _head_size = 0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_head_timer()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._head_size = 0
        if self._head_timer is None:
            self._arm_head_timer()

    def on_url(self, url: bytes) -> None:
        self._count_head(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count_head(len(name) + len(value))
        super().on_header(name, value)

    def _count_head(self, size: int) -> None:
        self._head_size += size
        if self._head_size > MAX_HEAD:  # the parser answers 400 and closes
            raise HeadTooLarge

    def on_headers_complete(self) -> None:
        self._disarm_head_timer()
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_head_timer()
        super().connection_lost(exc)

    def _arm_head_timer(self) -> None:
        self._disarm_head_timer()
        self._head_timer = self.loop.call_later(self.read_timeout, self._head_too_slow)

    def _disarm_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_too_slow(self) -> None:
        self._head_timer = None
        if not self.transport.is_closing():
            log.info("closed a connection whose request head took over %gs", self.read_timeout)
            self.transport.close()
