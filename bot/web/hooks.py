"""Task-system webhooks: ``POST /hooks/paymo`` triggers the backend sync at once.

The request is verified first (Paymo signs with HMAC-SHA1 of the raw body when the hook was
created with a ``secret``: ``X-Paymo-Signature: sha1=<hex>``); a bad or missing signature gets
401 and changes nothing. A valid one is answered 200 straight away and the sync runs on its own
thread, bursts of hooks coalesced into one pass.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import threading
from collections.abc import Callable, Iterable
from typing import Any

from bot.web.server import MAX_BODY, StartResponse, WSGIApp, json_response

log = logging.getLogger(__name__)


def paymo_signature_ok(secret: str, body: bytes, header: str | None) -> bool:
    if not header or not header.startswith("sha1="):
        return False
    expected = hmac.new(secret.encode(), body, hashlib.sha1).hexdigest()
    return hmac.compare_digest(expected, header.removeprefix("sha1=").strip().lower())


class SyncTrigger:
    """Runs ``sync`` soon after ``pull()``; calls during a run cause one more run, not many."""

    def __init__(self, sync: Callable[[], object]) -> None:
        self._sync = sync
        self._wake = threading.Event()
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="hook-sync", daemon=True)
        self._thread.start()

    def pull(self) -> None:
        self._wake.set()

    def _run(self) -> None:
        while not self._stopped.is_set():
            self._wake.wait()
            self._wake.clear()
            if self._stopped.is_set():
                return
            try:
                self._sync()
            except Exception:  # the scheduled sync tries again
                log.exception("sync after a webhook failed")

    def close(self) -> None:
        self._stopped.set()
        self._wake.set()
        self._thread.join(timeout=5)


def paymo_hook_app(secret: str, trigger: Callable[[], None]) -> WSGIApp:
    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = -1
        if not 0 <= length <= MAX_BODY:
            return json_response(start_response, "400 Bad Request", {"ok": False})
        body = environ["wsgi.input"].read(length) if length else b""
        if not paymo_signature_ok(secret, body, environ.get("HTTP_X_PAYMO_SIGNATURE")):
            log.warning("refused a Paymo webhook with a bad or missing signature")
            return json_response(start_response, "401 Unauthorized", {"ok": False})
        log.info("Paymo webhook %s", environ.get("HTTP_X_PAYMO_EVENT", "?"))
        trigger()
        return json_response(start_response, "200 OK", {"ok": True})

    return app
