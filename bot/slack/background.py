"""Work that runs after Slack has been answered, on its own thread pool.

Bolt's listener threads only parse and ``ack()``; anything that waits on a task backend is
handed to this pool, so a slow backend fills this queue, never the one acks wait in.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

log = logging.getLogger(__name__)


class Background:
    def __init__(self, workers: int = 32) -> None:
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="taskbot-work")

    def submit(self, work: Callable[[], object], **context: object) -> Future[None]:
        def run() -> None:
            try:
                work()
            except Exception:  # listeners report to people themselves; this is the last net
                log.exception("background work failed %s", context)

        return self._executor.submit(run)

    def shutdown(self, wait: bool = True) -> None:
        """Finish work already acknowledged to Slack."""
        self._executor.shutdown(wait=wait)
