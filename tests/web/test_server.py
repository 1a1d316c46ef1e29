"""The HTTP server: routing, health, and a graceful stop that finishes requests in flight."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterable
from typing import Any

import httpx

from bot.web.server import HttpServer, StartResponse, health_app


def test_routes_health_404_and_405() -> None:
    server = HttpServer(
        {("GET", "/healthz"): health_app(lambda: {"database": True, "backend": "local"})},
        host="127.0.0.1",
        port=0,
    )
    server.start()
    try:
        base = f"http://127.0.0.1:{server.port}"
        health = httpx.get(base + "/healthz")
        assert health.status_code == 200 and health.json() == {
            "status": "ok",
            "database": True,
            "backend": "local",
        }
        assert httpx.get(base + "/nope").status_code == 404
        assert httpx.post(base + "/healthz").status_code == 405
    finally:
        server.stop()


def test_unhealthy_database_is_503() -> None:
    server = HttpServer(
        {("GET", "/healthz"): health_app(lambda: {"database": False})}, host="127.0.0.1", port=0
    )
    server.start()
    try:
        assert httpx.get(f"http://127.0.0.1:{server.port}/healthz").status_code == 503
    finally:
        server.stop()


def wait_until_refused(port: int, timeout: float = 10) -> None:
    """Until the server has closed its listening socket (what ``stop()`` does first)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
        except (ConnectionRefusedError, ConnectionResetError):
            return  # reset: the listener closed with this connection still in its backlog
        assert time.monotonic() < deadline, "the server kept listening"
        time.sleep(0.005)


def test_stop_lets_a_request_in_flight_finish() -> None:
    """The request is held inside the app until ``stop()`` has begun, so it is in flight during
    the stop whatever the machine's speed, and must still get its whole answer."""
    entered, release = threading.Event(), threading.Event()

    def held_app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        entered.set()
        release.wait(10)
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"finished"]

    server = HttpServer({("GET", "/held"): held_app}, host="127.0.0.1", port=0)
    server.start()
    port = server.port
    answers: list[httpx.Response] = []
    request = threading.Thread(
        target=lambda: answers.append(httpx.get(f"http://127.0.0.1:{port}/held", timeout=10))
    )
    request.start()
    assert entered.wait(10), "the request never reached the app"
    stopping = threading.Thread(target=server.stop)
    started = time.monotonic()
    stopping.start()
    wait_until_refused(port)
    release.set()
    stopping.join(15)
    request.join(15)
    assert not stopping.is_alive() and answers and answers[0].text == "finished"
    assert time.monotonic() - started < 10
