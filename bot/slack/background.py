"""Work that runs after Slack has been answered: named jobs with plain-data payloads.

Bolt's listener threads only parse and ``ack()``; everything that waits on a task backend or on
Slack's Web API is handed on as a job (a name from ``bot.slack.jobs`` and a JSON-like payload).
Because a job is data, not a closure, it can run on this process's thread pool
(``ThreadBackground``, the default and what tests use) or in a separate worker process
(``bot.work_process``), where its CPU time no longer competes with acks for the GIL.
The payload carries the request id of the Slack request it came from (``REQUEST_ID``), and the
job runs with that id bound, so its log lines and the ack's share it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import Any, Protocol

from bot.logs import current_request_id, new_request_id, request_id_bound

log = logging.getLogger(__name__)

Payload = dict[str, Any]
REQUEST_ID = "request_id"


def stamped(payload: Payload) -> Payload:
    """The payload with the current request id added (unless it has one already)."""
    if REQUEST_ID in payload:
        return payload
    request_id = current_request_id()
    return {**payload, REQUEST_ID: request_id} if request_id else payload


Runner = Callable[[str, Payload], None]
"""Runs one named job; ``bot.slack.jobs.runner(deps)`` makes one."""


class Background(Protocol):
    def submit(self, job: str, payload: Payload) -> None: ...

    def shutdown(self, timeout: float = 8.0) -> None: ...


class ThreadBackground:
    """Jobs on a thread pool in this process; ``start`` gives it the runner once deps exist."""

    def __init__(self, workers: int = 32) -> None:
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="taskbot-work")
        self._futures: set[Future[None]] = set()
        self._lock = threading.Lock()
        self._runner: Runner | None = None

    def start(self, runner: Runner) -> None:
        self._runner = runner

    def submit(self, job: str, payload: Payload) -> None:
        runner = self._runner
        if runner is None:
            raise RuntimeError("ThreadBackground.start() was not called")
        payload = stamped(payload)

        def run() -> None:
            with request_id_bound(payload.get(REQUEST_ID) or new_request_id()):
                log.debug("job %s started", job)
                try:
                    runner(job, payload)
                except Exception:  # jobs report to people themselves; this is the last net
                    log.exception("background job %s failed", job)
                    return
                log.debug("job %s done", job)

        future = self._executor.submit(run)
        with self._lock:
            self._futures.add(future)
        future.add_done_callback(self._forget)

    def _forget(self, future: Future[None]) -> None:
        with self._lock:
            self._futures.discard(future)

    def shutdown(self, timeout: float = 8.0) -> None:
        """Finish work already acknowledged to Slack, for up to ``timeout`` seconds.

        What has not started by then is dropped and counted in the log (only an overloaded
        instance being stopped gets there).
        """
        with self._lock:
            pending = set(self._futures)
        _, not_done = wait(pending, timeout=timeout)
        self._executor.shutdown(wait=False, cancel_futures=True)
        if not_done:
            log.error("stopping with %d acknowledged job(s) unfinished", len(not_done))
