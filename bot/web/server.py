"""A production WSGI server (cheroot) with a routing table and a graceful stop.

cheroot's ``stop()`` stops accepting, lets worker threads finish the requests in flight and
joins them within ``shutdown_timeout``, which gives ``taskbot run`` its clean SIGTERM.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from cheroot import wsgi

log = logging.getLogger(__name__)

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


def json_response(
    start_response: StartResponse, status: str, body: Mapping[str, object]
) -> list[bytes]:
    data = json.dumps(body).encode()
    start_response(
        status, [("Content-Type", "application/json"), ("Content-Length", str(len(data)))]
    )
    return [data]


MAX_BODY = 1_000_000  # 1 MB: Slack's payloads and Paymo's hooks are far smaller
MAX_HEADERS = 64_000


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


class HttpServer:
    def __init__(
        self,
        routes: Mapping[tuple[str, str], WSGIApp],
        *,
        host: str = "0.0.0.0",
        port: int = 3000,
        threads: int = 32,
        shutdown_timeout: int = 8,
    ) -> None:
        self._server = wsgi.Server(
            (host, port),
            Router(routes),
            numthreads=threads,
            shutdown_timeout=shutdown_timeout,
            server_name="taskbot",
        )
        # Refused with 413 before a byte of the body is read, on every route.
        self._server.max_request_body_size = MAX_BODY
        self._server.max_request_header_size = MAX_HEADERS
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._server.bind_addr[1])

    def start(self) -> None:
        """Bind (so ``port`` is known) and serve in a background thread."""
        self._server.prepare()
        self._thread = threading.Thread(target=self._server.serve, name="http", daemon=True)
        self._thread.start()
        log.info("serving HTTP on port %s", self.port)

    def stop(self) -> None:
        """Stop accepting; requests in flight finish first."""
        self._server.stop()
        if self._thread is not None:
            self._thread.join(timeout=10)
