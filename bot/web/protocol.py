"""uvicorn's HTTP/1.1 protocol with bounds on the request head (``bot.web.server`` serves with it).

Apart from ``bot.web.server`` so that importing the server's helpers (routes, JSON answers, the
WSGI types), as the worker process does, never loads uvicorn.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from bot.web.server import MAX_HEAD, READ_TIMEOUT, SHUTDOWN_POLL

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


class PromptServer(uvicorn.Server):
    """uvicorn's server, stopped as soon as ``wake()`` is called: uvicorn notices ``should_exit``
    on a 0.1 s tick, then sleeps a fixed 0.1 s and polls its connections every 0.1 s, which made
    every stop take 0.2 s or more even with nothing in flight. Here the main loop waits on an
    event (and still refreshes the Date header once a second), and shutdown waits for the
    connections and request tasks themselves to finish, bounded by the graceful timeout."""

    _loop: asyncio.AbstractEventLoop | None = None
    _wake: asyncio.Event | None = None

    async def main_loop(self) -> None:
        self._wake = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        counter = 0
        while not await self.on_tick(counter):
            counter += 10  # on_tick refreshes the Date header when counter % 10 == 0
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), 1.0)

    def wake(self) -> None:
        """From any thread: look at ``should_exit`` now."""
        loop, event = self._loop, self._wake
        if loop is not None and event is not None:
            with contextlib.suppress(RuntimeError):  # the loop has already finished
                loop.call_soon_threadsafe(event.set)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        for server in self.servers:
            server.close()
        for sock in sockets or []:
            sock.close()
        state = self.server_state
        told: set[object] = set()
        try:
            async with asyncio.timeout(self.config.timeout_graceful_shutdown):
                for _ in range(2):  # once more after a poll: a late-registered connection
                    while _tell_to_close(state.connections, told) or state.tasks:
                        await asyncio.sleep(SHUTDOWN_POLL)
                    await asyncio.sleep(SHUTDOWN_POLL)
        except TimeoutError:
            log.error("cancelled %d request(s) still running at shutdown", len(state.tasks))
            for task in state.tasks:
                task.cancel()
        for connection in list(state.connections):  # cut short: its socket closed, not leaked
            connection.transport.close()
        for server in self.servers:
            await server.wait_closed()
        await self.lifespan.shutdown()


def _tell_to_close(connections: set[Any], told: set[object]) -> bool:
    """Ask each open connection not asked yet to close (an idle one closes at once, a busy one
    after its response); whether any is still open. A connection the loop accepted just before
    the listening socket closed registers only a few loop turns later, after the first pass:
    unasked, an idle one stayed open until the loop ended, and its socket was never closed."""
    for connection in list(connections):
        if connection not in told:
            told.add(connection)
            connection.shutdown()
    return bool(connections)
