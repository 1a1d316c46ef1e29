"""The local HTTP server every stub and simulator runs on: a free port, a daemon thread."""

from __future__ import annotations

import os
import select
import selectors
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class _CountingServer(ThreadingHTTPServer):
    """Counts the connections being served, so a test can wait until every request a (killed)
    client sent has been answered: its connections close once the kernel hands the server their
    end."""

    def __init__(self, handler: type[BaseHTTPRequestHandler]) -> None:
        super().__init__(("127.0.0.1", 0), handler)
        self.open = 0
        self.changed = threading.Condition()

    def process_request(self, request: Any, client_address: Any) -> None:
        with self.changed:
            self.open += 1
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        try:
            super().shutdown_request(request)
        finally:
            with self.changed:
                self.open -= 1
                self.changed.notify_all()


class LocalServer:
    """``stop()`` returns at once: the accept loop waits on the listening socket and a wake-up
    pipe (``serve_forever`` looks at its shutdown flag only every 0.5 s, which cost each
    simulator's stop half a second)."""

    def __init__(self, handler: type[BaseHTTPRequestHandler]) -> None:
        self._server = _CountingServer(handler)
        self._server.daemon_threads = True
        self._stopping = threading.Event()
        self._wake_read, self._wake_write = os.pipe()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def base(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> None:
        self._thread.start()

    def wait_idle(self, timeout: float) -> bool:
        """Until no connection is open or waiting to be accepted (every request sent to it has
        been answered)."""
        deadline = time.monotonic() + timeout
        with self._server.changed:
            while time.monotonic() < deadline:
                if self._server.open == 0 and not self._pending():
                    return True
                self._server.changed.wait(0.01)  # a change wakes it; a pending accept does not
        return False

    def _pending(self) -> bool:
        """A connection in the listen backlog, not yet accepted by the serving thread."""
        return bool(select.select([self._server.socket], [], [], 0)[0])

    def _serve(self) -> None:
        with selectors.DefaultSelector() as selector:
            selector.register(self._server, selectors.EVENT_READ)
            selector.register(self._wake_read, selectors.EVENT_READ)
            while not self._stopping.is_set():
                for key, _ in selector.select():
                    if key.fileobj is self._server and not self._stopping.is_set():
                        self._server.handle_request()  # a connection is waiting: no block

    def stop(self) -> None:
        self._stopping.set()
        os.write(self._wake_write, b"!")
        self._thread.join()
        self._server.server_close()
        os.close(self._wake_read)
        os.close(self._wake_write)


def write_answer(
    handler: BaseHTTPRequestHandler,
    status: int,
    data: bytes,
    headers: dict[str, str],
    content_type: str = "application/json; charset=utf-8",
) -> None:
    """Status, headers and body; a caller that hung up (or died) is not an error."""
    handler.send_response(status)
    if data:
        handler.send_header("Content-Type", content_type)
    handler.send_header("Content-Length", str(len(data)))
    for name, value in headers.items():
        handler.send_header(name, value)
    try:
        handler.end_headers()
        handler.wfile.write(data)
    except (BrokenPipeError, ConnectionResetError):
        handler.close_connection = True
