"""The HTTP front: uvicorn's asyncio loop holds the connections, a thread pool runs the WSGI
apps (Bolt's adapter, health, hooks) behind a small routing table. Knows nothing of Slack.

Why this shape (README, "HTTP server"): connections, slow clients and request bodies cost the
event loop a few kilobytes each, never a thread, so 120 half-sent requests can't hold up an ack;
a thread is taken only once a whole request (head and body, at most ``max_body`` bytes) is in
memory, and it never waits on a socket. The listen backlog is sized for bursts of fresh
connections. Bodies over ``max_body`` are refused with 413 before they are read (by their
Content-Length, or once a chunked body passes the limit); a request head or body that trickles
in for longer than ``read_timeout`` is dropped (408).

``stop()`` stops accepting, lets the requests in flight finish (up to ``shutdown_timeout``) and
then joins the thread pool, which gives ``taskbot run`` its clean SIGTERM.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import socket
import sys
import threading
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

log = logging.getLogger(__name__)

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]
ASGIReceive = Callable[[], Any]
ASGISend = Callable[[dict[str, Any]], Any]

MAX_BODY = 1_000_000
"""1 MB: Slack's payloads and Paymo's hooks are far smaller."""
BACKLOG = 2048
"""Pending connections the kernel holds for us (capped by ``net.core.somaxconn``): a burst of
fresh connections from Slack's many hosts must not see dropped SYNs (each costs a 1 s retry)."""
READ_TIMEOUT = 10.0
MAX_HEAD = 64 * 1024
SHUTDOWN_POLL = 0.005
"""How often a stopping server looks whether its last connection has closed."""


def json_response(
    start_response: StartResponse, status: str, body: Mapping[str, object]
) -> list[bytes]:
    data = json.dumps(body).encode()
    start_response(
        status, [("Content-Type", "application/json"), ("Content-Length", str(len(data)))]
    )
    return [data]


class Router:
    """Dispatches (method, path) to a WSGI app; JSON 404 and 405 otherwise."""

    def __init__(self, routes: Mapping[tuple[str, str], WSGIApp]) -> None:
        self._routes = dict(routes)

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "GET")
        path = environ.get("PATH_INFO", "/")
        app = self._routes.get((method, path))
        if app is not None:
            return app(environ, start_response)
        if any(p == path for _, p in self._routes):
            return json_response(start_response, "405 Method Not Allowed", {"error": "method"})
        return json_response(start_response, "404 Not Found", {"error": "not found"})


def health_app(check: Callable[[], dict[str, object]]) -> WSGIApp:
    """``GET /healthz``: 200 when every boolean check is true, 503 otherwise; other values
    (the backend's name, …) are information."""

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        result = check()
        ok = all(value for value in result.values() if isinstance(value, bool))
        status = "200 OK" if ok else "503 Service Unavailable"
        return json_response(
            start_response, status, {"status": "ok" if ok else "degraded", **result}
        )

    return app


def live_app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
    """``GET /livez``: the process is alive and serving; it reads nothing else."""
    return json_response(start_response, "200 OK", {"status": "alive"})


def metrics_app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
    """``GET /metrics``: this process's counters in Prometheus' text format."""
    from bot.metrics import exposition

    data, content_type = exposition()
    start_response("200 OK", [("Content-Type", content_type), ("Content-Length", str(len(data)))])
    return [data]


class RequestTooLarge(Exception):
    pass


class WsgiBridge:
    """ASGI in front, WSGI behind: reads the whole (bounded) body on the event loop, then runs
    the WSGI app once on the thread pool and sends its answer."""

    def __init__(
        self, app: WSGIApp, executor: ThreadPoolExecutor, *, max_body: int, read_timeout: float
    ) -> None:
        self._app, self._executor = app, executor
        self._max_body, self._read_timeout = max_body, read_timeout

    async def __call__(self, scope: dict[str, Any], receive: ASGIReceive, send: ASGISend) -> None:
        if scope["type"] != "http":
            return
        headers = _headers(scope)
        try:
            declared = int(headers.get("content-length", "0") or 0)
        except ValueError:
            await _plain(send, 400, "bad Content-Length")
            return
        if declared > self._max_body:
            log.warning("refused a %d-byte body (limit %d)", declared, self._max_body)
            await _plain(send, 413, "request body too large")
            return
        try:
            body = await asyncio.wait_for(self._body(receive), self._read_timeout)
        except RequestTooLarge:
            log.warning("refused a chunked body over %d bytes", self._max_body)
            await _plain(send, 413, "request body too large")
            return
        except TimeoutError:
            log.info("dropped a request whose body took over %gs", self._read_timeout)
            await _plain(send, 408, "request body too slow")
            return
        environ = _environ(scope, headers, body)
        loop = asyncio.get_running_loop()
        status, response_headers, chunks = await loop.run_in_executor(
            self._executor, _call_wsgi, self._app, environ
        )
        body = b"".join(chunks)
        if not any(name == b"content-length" for name, _ in response_headers):
            response_headers.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": response_headers})
        await send({"type": "http.response.body", "body": body})

    async def _body(self, receive: ASGIReceive) -> bytes:
        parts: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self._max_body:
                raise RequestTooLarge
            parts.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(parts)


def _headers(scope: dict[str, Any]) -> dict[str, str]:
    merged: dict[str, str] = {}
    for raw_name, raw_value in scope["headers"]:
        name, value = raw_name.decode("latin-1"), raw_value.decode("latin-1")
        merged[name] = f"{merged[name]},{value}" if name in merged else value
    return merged


async def _plain(send: ASGISend, status: int, text: str) -> None:
    body = text.encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _environ(scope: dict[str, Any], headers: dict[str, str], body: bytes) -> dict[str, Any]:
    server = scope.get("server") or ("127.0.0.1", 0)
    client = scope.get("client") or ("", 0)
    environ: dict[str, Any] = {
        "REQUEST_METHOD": scope["method"],
        "SCRIPT_NAME": scope.get("root_path", "").encode().decode("latin-1"),
        "PATH_INFO": scope["path"].encode().decode("latin-1"),
        "QUERY_STRING": scope.get("query_string", b"").decode("latin-1"),
        "SERVER_NAME": str(server[0]),
        "SERVER_PORT": str(server[1]),
        "SERVER_PROTOCOL": f"HTTP/{scope.get('http_version', '1.1')}",
        "REMOTE_ADDR": str(client[0]),
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": scope.get("scheme", "http"),
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    for name, value in headers.items():
        key = name.upper().replace("-", "_")
        if key == "CONTENT_TYPE":
            environ["CONTENT_TYPE"] = value
        elif key != "CONTENT_LENGTH":
            environ[f"HTTP_{key}"] = value
    return environ


def _call_wsgi(
    app: WSGIApp, environ: dict[str, Any]
) -> tuple[int, list[tuple[bytes, bytes]], list[bytes]]:
    """Runs on the thread pool: the app's whole answer, or a bare 500 if it raised."""
    answer: dict[str, Any] = {}
    chunks: list[bytes] = []

    def start_response(
        status: str, headers: list[tuple[str, str]], exc_info: Any = None
    ) -> Callable[[bytes], None]:
        answer["status"], answer["headers"] = status, headers
        return chunks.append

    try:
        result = app(environ, start_response)
        try:
            chunks.extend(result)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
    except Exception:
        log.exception("request %s %s failed", environ["REQUEST_METHOD"], environ["PATH_INFO"])
        answer = {"status": "500 Internal Server Error", "headers": []}
        chunks = [b"internal error"]
    status = int(str(answer["status"]).split(" ", 1)[0])
    headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in answer["headers"]]
    return status, headers, chunks


class HttpServer:
    """Serves ``routes`` on ``host:port`` (0: any free port, see ``port``) from a thread of its
    own; ``threads`` WSGI calls run at once, any number of connections wait on the loop."""

    def __init__(
        self,
        routes: Mapping[tuple[str, str], WSGIApp],
        *,
        host: str = "0.0.0.0",
        port: int = 3000,
        threads: int = 32,
        shutdown_timeout: int = 8,
        backlog: int = BACKLOG,
        max_body: int = MAX_BODY,
        read_timeout: float = READ_TIMEOUT,
    ) -> None:
        import uvicorn  # here: a process that only imports this module's helpers never needs it

        from bot.web.protocol import HeadDeadlineProtocol, PromptServer

        self._executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="http")
        bridge = WsgiBridge(
            Router(routes), self._executor, max_body=max_body, read_timeout=read_timeout
        )
        protocol = type("Protocol", (HeadDeadlineProtocol,), {"read_timeout": read_timeout})
        self._config = uvicorn.Config(
            bridge,
            http=protocol,
            lifespan="off",
            log_config=None,
            access_log=False,
            server_header=False,
            proxy_headers=False,  # nothing reads a client's address: no X-Forwarded-* per request
            backlog=backlog,
            timeout_keep_alive=int(read_timeout),
            timeout_graceful_shutdown=shutdown_timeout,
        )
        self._server: PromptServer = PromptServer(self._config)
        self._host, self._port, self._backlog = host, port, backlog
        self._socket: socket.socket | None = None
        self._thread: threading.Thread | None = None

    @property
    def open_connections(self) -> int:
        """Connections the loop holds now (idle, reading or answering)."""
        return len(self._server.server_state.connections)

    @property
    def port(self) -> int:
        assert self._socket is not None, "start() first"
        return int(self._socket.getsockname()[1])

    def start(self) -> None:
        """Bind and listen now (so ``port`` is known and connections queue up), serve in a
        background thread."""
        family = socket.AF_INET6 if ":" in self._host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self._host, self._port))
        sock.listen(self._backlog)
        sock.set_inheritable(False)
        self._socket = sock
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, name="http", daemon=True
        )
        self._thread.start()
        log.info("serving HTTP on port %s", self.port)

    def stop(self) -> None:
        """Stop accepting; requests in flight finish first."""
        self._server.should_exit = True
        self._server.wake()
        if self._thread is not None:
            self._thread.join(timeout=(self._config.timeout_graceful_shutdown or 10) + 2)
        self._executor.shutdown(wait=True)
        if self._socket is not None:
            self._socket.close()
