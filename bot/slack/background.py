"""Work that runs after Slack has been answered, on its own thread pool.

Bolt's listener threads only parse and ``ack()``; anything that waits on a task backend is
handed to this pool, so a slow backend fills this queue, never the one acks wait in.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait

log = logging.getLogger(__name__)


class Background:
    def __init__(self, workers: int = 32) -> None:
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="taskbot-work")
        self._futures: set[Future[None]] = set()
        self._lock = threading.Lock()

    def submit(self, work: Callable[[], object], **context: object) -> Future[None]:
        def run() -> None:
            try:
                work()
            except Exception:  # listeners report to people themselves; this is the last net
                log.exception("background work failed %s", context)

        future = self._executor.submit(run)
        with self._lock:
            self._futures.add(future)
        future.add_done_callback(self._forget)
        return future

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
