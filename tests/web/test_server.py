"""The HTTP server: routing, health, and a graceful stop that finishes requests in flight."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from typing import Any

import httpx

from bot.web.server import HttpServer, StartResponse, health_app


def slow_app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
    time.sleep(1.0)
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"finished"]


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


def test_stop_lets_a_request_in_flight_finish() -> None:
    server = HttpServer({("GET", "/slow"): slow_app}, host="127.0.0.1", port=0)
    server.start()
    answers: list[httpx.Response] = []
    request = threading.Thread(
        target=lambda: answers.append(httpx.get(f"http://127.0.0.1:{server.port}/slow", timeout=5))
    )
    request.start()
    time.sleep(0.3)  # the request is being served
    started = time.monotonic()
    server.stop()
    request.join()
    assert answers and answers[0].text == "finished"
    assert time.monotonic() - started < 10
