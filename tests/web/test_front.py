"""The HTTP front under abuse, on the real server and real sockets: a burst of fresh
connections, slow-loris clients, oversized bodies. Each answer is awaited on its socket; the
deadlines below are limits an ack must meet (Slack gives up after 3 s), not waits."""

from __future__ import annotations

import asyncio
import selectors
import socket
import time
from collections.abc import Iterable, Iterator
from typing import Any

import pytest

from bot.web.server import HttpServer, StartResponse, health_app

ACK_LIMIT = 1.0  # a dropped SYN costs 1 s; an ack must never wait that long here


def ack_app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
    body = environ["wsgi.input"].read()
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ack %d" % len(body)]


@pytest.fixture
def server() -> Iterator[HttpServer]:
    routes = {
        ("POST", "/ack"): ack_app,
        ("GET", "/healthz"): health_app(lambda: {"database": True}),
    }
    http = HttpServer(routes, host="127.0.0.1", port=0, shutdown_timeout=2)
    http.start()
    yield http
    http.stop()


def exchange(port: int, request: bytes, timeout: float) -> bytes:
    """One request on a fresh connection; the whole answer (the server closes)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(request)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
        return data


ACK = b"POST /ack HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi"
HEALTH = b"GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"


async def _timed_request(port: int) -> tuple[float, bytes]:
    started = time.perf_counter()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(ACK)
    answer = await reader.read()
    writer.close()
    return time.perf_counter() - started, answer


async def _burst(port: int, clients: int) -> list[tuple[float, bytes]]:
    return list(await asyncio.gather(*(_timed_request(port) for _ in range(clients))))


def test_a_burst_of_100_fresh_connections_is_answered_without_resets_or_1s_stalls(
    server: HttpServer,
) -> None:
    results = [r for _ in range(3) for r in asyncio.run(_burst(server.port, 100))]
    assert all(answer.startswith(b"HTTP/1.1 200") for _, answer in results)
    slowest = max(elapsed for elapsed, _ in results)
    assert slowest < ACK_LIMIT, f"slowest of 300 requests took {slowest:.2f} s"


def test_slow_loris_clients_do_not_starve_acks_or_health(server: HttpServer) -> None:
    loris = []
    try:
        for i in range(120):
            sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
            half = b"POST /ack HTTP/1.1\r\nHost: t\r\n" if i % 2 else b"POST /ack HTTP/1.1\r\n"
            sock.sendall(half + b"Content-Length: 10\r\n")
            loris.append(sock)
        for sock in loris[::2]:
            sock.sendall(b"X")  # one more byte each, as a slow client does
        for request in (ACK, HEALTH, ACK, HEALTH):
            started = time.perf_counter()
            answer = exchange(server.port, request, timeout=ACK_LIMIT * 3)
            assert answer.startswith(b"HTTP/1.1 200")
            assert time.perf_counter() - started < ACK_LIMIT
    finally:
        for sock in loris:
            sock.close()


def test_a_30_mb_declared_body_is_refused_with_413_before_it_is_sent(server: HttpServer) -> None:
    head = b"POST /ack HTTP/1.1\r\nHost: t\r\nContent-Length: 30000000\r\n\r\n"
    # Only the head and 16 bytes go out: a server that read the body would wait for the rest.
    answer = exchange(server.port, head + b"x" * 16, timeout=3)
    assert answer.startswith(b"HTTP/1.1 413")


def stream(port: int, outgoing: bytes) -> tuple[bytes, int]:
    """Send ``outgoing`` while reading: the answer and how much went out, once the server
    answers or hangs up (a reset counts as hanging up); fails if it does neither within 3 s."""
    answer, sent = b"", 0
    with socket.create_connection(("127.0.0.1", port), timeout=3) as sock:
        sock.setblocking(False)
        with selectors.DefaultSelector() as selector:
            selector.register(sock, selectors.EVENT_READ | selectors.EVENT_WRITE)
            while True:
                events = selector.select(timeout=3)
                assert events, f"no answer within 3 s, {sent} bytes sent"
                for _, mask in events:
                    try:
                        if mask & selectors.EVENT_READ:
                            data = sock.recv(65536)
                            if not data:
                                return answer, sent
                            answer += data
                        if mask & selectors.EVENT_WRITE and sent < len(outgoing):
                            sent += sock.send(outgoing[sent : sent + 65536])
                            if sent == len(outgoing):
                                selector.modify(sock, selectors.EVENT_READ)
                    except (BrokenPipeError, ConnectionResetError):
                        return answer, sent


def test_a_chunked_body_is_cut_off_at_the_limit_with_413(server: HttpServer) -> None:
    chunk = b"%x\r\n%s\r\n" % (64 * 1024, b"y" * 64 * 1024)
    head = b"POST /ack HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
    answer, _ = stream(server.port, head + chunk * 48)  # 3 MB, never finished
    assert answer.startswith(b"HTTP/1.1 413")


def test_a_body_within_the_limit_reaches_the_app(server: HttpServer) -> None:
    body = b"z" * 900_000
    head = b"POST /ack HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Length: %d\r\n\r\n"
    answer = exchange(server.port, head % len(body) + body, timeout=5)
    assert answer.startswith(b"HTTP/1.1 200") and b"ack 900000" in answer


def test_a_head_that_never_ends_is_cut_off_before_it_fills_memory(server: HttpServer) -> None:
    junk = b"".join(b"X-Junk-%d: %s\r\n" % (i, b"a" * 1000) for i in range(8000))  # 8 MB
    answer, sent = stream(server.port, b"GET /healthz HTTP/1.1\r\nHost: t\r\n" + junk)
    assert sent < len(junk)
    assert answer == b"" or answer.startswith(b"HTTP/1.1 400")
