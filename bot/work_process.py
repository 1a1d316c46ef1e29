"""After-ack jobs in a separate worker process, so their CPU time never delays an ack.

A Python process serves acks and post-ack work on one GIL: under load, building cards and
talking to Slack and the task backend stretches every ack. ``WorkerProcess`` sends each job (a
name and a plain-data payload, see ``bot.slack.background``) over a queue to a child process
that runs its own taskbot (same settings, same store) with a thread pool, at a lower CPU
priority than the process that acks.

The child is started with ``spawn`` (never ``fork`` from a threaded process), ignores SIGINT and
SIGTERM (the parent tells it when to stop, after the HTTP server has finished its requests), and
is started again if it dies.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import multiprocessing
import os
import queue
import signal
import threading
from collections.abc import Callable
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

from sqlalchemy import Engine

from bot.config import Settings
from bot.logs import configure_logging
from bot.service.ports import TaskBackend
from bot.slack.background import Payload, stamped

log = logging.getLogger(__name__)

BackendFactory = Callable[[Engine], TaskBackend]
"""Builds the worker's task backend on its own engine; must be picklable (module-level)."""

_STOP = None


class WorkerProcess:
    """A ``Background`` whose jobs run in a child process.

    Jobs go through an in-process queue to a feeder thread, which writes them to a pipe the child
    reads; ``submit`` never blocks a listener. A write to a dead child fails, so the feeder starts
    a new one (on a new pipe) and sends the job there. Jobs the dead child had read but not
    finished are lost with it, and logged.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        backend_factory: BackendFactory | None = None,
        niceness: int = 19,
        threads: int = 32,
    ) -> None:
        self._context = multiprocessing.get_context("spawn")
        self._ready = self._context.Event()
        self._args = (settings, backend_factory, niceness, threads, self._ready)
        self._outbox: queue.SimpleQueue[tuple[str, Payload] | None] = queue.SimpleQueue()
        self._process, self._pipe = self._start()
        self._feeder = threading.Thread(target=self._feed, name="taskbot-feeder", daemon=True)
        self._feeder.start()

    def _start(self) -> tuple[BaseProcess, Connection]:
        reader, writer = self._context.Pipe(duplex=False)
        process = self._context.Process(
            target=_serve, args=(reader, *self._args), name="taskbot-worker", daemon=True
        )
        process.start()
        reader.close()  # the child has its copy; writes fail once it is gone
        return process, writer

    @property
    def pid(self) -> int | None:
        return self._process.pid

    def wait_ready(self, timeout: float) -> bool:
        """Wait until the worker has built its taskbot and reads jobs (benchmarks, tests)."""
        return self._ready.wait(timeout)

    @property
    def alive(self) -> bool:
        return self._process.is_alive()

    def submit(self, job: str, payload: Payload) -> None:
        self._outbox.put((job, stamped(payload)))

    def _feed(self) -> None:
        while True:
            item = self._outbox.get()
            for _ in range(3):
                try:
                    self._pipe.send(item)
                    break
                except OSError:
                    self._restart()
            else:
                log.error(  # the job's name only: its payload holds a body and a response_url
                    "after-ack job %s dropped: the worker keeps failing",
                    item[0] if item is not None else "stop",
                )
            if item is _STOP:
                return

    def _restart(self) -> None:
        self._process.join(1)
        log.error(
            "after-ack worker exited (code %s), losing the jobs it was running; starting another",
            self._process.exitcode,
        )
        self._pipe.close()
        self._process, self._pipe = self._start()

    def shutdown(self, timeout: float = 8.0) -> None:
        """Let the worker finish acknowledged jobs for up to ``timeout`` seconds, then stop it."""
        self._outbox.put(_STOP)
        self._feeder.join(timeout)
        self._process.join(timeout + 5)  # its own start-up and close take a moment too
        if self._process.is_alive():
            log.error("after-ack worker did not stop in time; killing it")
            self._process.kill()
            self._process.join(2)
        self._pipe.close()


def _serve(
    pipe: Connection,
    settings: Settings,
    backend_factory: BackendFactory | None,
    niceness: int,
    threads: int,
    ready: Any,
) -> None:
    """The worker's main loop: a taskbot without HTTP or scheduler, fed from ``queue``."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    with contextlib.suppress(OSError):  # not permitted: run at normal priority
        os.nice(niceness)
    configure_logging(settings.LOG_LEVEL, settings.LOG_FORMAT)
    from bot.bootstrap import build_app  # here: the parent imports this module from bootstrap
    from storage.engine import make_engine

    engine = make_engine(settings.DATABASE_URL)
    backend = backend_factory(engine) if backend_factory else None
    app = build_app(
        settings,
        engine=engine,
        backend=backend,
        migrate=False,
        token_verification=False,
        background_workers=threads,
        work_process=False,
    )
    gc.freeze()  # see bot.cli: start-up objects stay out of the collector
    ready.set()
    try:
        while (item := pipe.recv()) is not _STOP:
            job, payload = item
            app.deps.background.submit(job, payload)
    except EOFError:  # the parent is gone without saying stop
        log.error("after-ack worker lost its parent; finishing what it has")
    app.close()
