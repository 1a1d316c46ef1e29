"""A browser's cookie jar in front of real HTTP: what taskbot tells it to keep, it sends back.

Paths are honoured and ``Max-Age=0`` deletes; ``Secure`` is recorded (tests assert it) but not
enforced, because tests reach taskbot over plain HTTP as a TLS-terminating proxy would.
URLs on ``TASKBOT_PUBLIC_URL`` are sent to the local server (only path and query are used).
"""

from __future__ import annotations

from http.cookies import Morsel, SimpleCookie
from urllib.parse import urlsplit

import httpx


class Browser:
    def __init__(self, base: str) -> None:
        self.base = base.rstrip("/")
        self.cookies: dict[str, Morsel[str]] = {}

    def get(self, url: str) -> httpx.Response:
        parts = urlsplit(url)
        path = parts.path or "/"
        sent = [
            f"{name}={m.value}"
            for name, m in self.cookies.items()
            if path.startswith(m["path"] or "/")
        ]
        response = httpx.get(
            f"{self.base}{path}{'?' + parts.query if parts.query else ''}",
            headers={"Cookie": "; ".join(sent)} if sent else {},
            follow_redirects=False,
        )
        for header in response.headers.get_list("set-cookie"):
            jar: SimpleCookie = SimpleCookie()
            jar.load(header)
            for name, morsel in jar.items():
                if morsel["max-age"] == "0":
                    self.cookies.pop(name, None)
                else:
                    self.cookies[name] = morsel
        return response
