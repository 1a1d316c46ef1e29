"""A browser's cookie jar in front of real HTTP: what taskbot tells it to keep, it sends back.

Paths are honoured, ``Max-Age=0`` deletes, and ``SameSite`` is applied as browsers do: a request
made from another site (``from_other_site``) carries Lax cookies only on a top-level GET, Strict
ones never. ``Secure`` is recorded (tests assert it) but not enforced, because tests reach taskbot
over plain HTTP as a TLS-terminating proxy would. URLs on ``TASKBOT_PUBLIC_URL`` go to the local
server (only path and query are used).
"""

from __future__ import annotations

from http.cookies import Morsel, SimpleCookie
from urllib.parse import urlsplit

import httpx


class Browser:
    def __init__(self, base: str) -> None:
        self.base = base.rstrip("/")
        self.cookies: dict[str, Morsel[str]] = {}

    def get(self, url: str, *, from_other_site: bool = False) -> httpx.Response:
        return self.request("GET", url, from_other_site=from_other_site)

    def post(
        self, url: str, form: dict[str, str], *, from_other_site: bool = False
    ) -> httpx.Response:
        return self.request("POST", url, form=form, from_other_site=from_other_site)

    def request(
        self,
        method: str,
        url: str,
        *,
        form: dict[str, str] | None = None,
        from_other_site: bool = False,
    ) -> httpx.Response:
        parts = urlsplit(url)
        path = parts.path or "/"
        sent = [
            f"{name}={m.value}"
            for name, m in self.cookies.items()
            if path.startswith(m["path"] or "/") and self._sends(m, method, from_other_site)
        ]
        response = httpx.request(
            method,
            f"{self.base}{path}{'?' + parts.query if parts.query else ''}",
            headers={"Cookie": "; ".join(sent)} if sent else {},
            data=form,
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

    @staticmethod
    def _sends(cookie: Morsel[str], method: str, from_other_site: bool) -> bool:
        if not from_other_site:
            return True
        same_site = (cookie["samesite"] or "Lax").lower()
        return same_site == "none" or (same_site == "lax" and method == "GET")
