"""``taskbot run``'s worker in a child process, so job CPU time never delays an ack.

A Python process serves acks and after-ack work on one GIL: under load, building cards and
talking to Slack and the task backend stretches every ack. Jobs are rows in the ledger, so the
child needs nothing from the parent but a nudge: it runs a worker built by ``serve`` (a
module-level, picklable function handed in by the composition root), claims jobs from the
database like any ``taskbot worker``, and reads the pipe only for "wake up" and "stop".

The child is started with ``spawn`` (never ``fork`` from a threaded process), at a lower CPU
priority, ignores SIGINT and SIGTERM (the parent tells it when to stop, after the HTTP server has
finished its requests), and is started again if it dies; the jobs it had claimed are taken over
when their leases expire.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import multiprocessing
import multiprocessing.connection
import os
import signal
import threading
from collections.abc import Callable
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Protocol

from bot.collector import settle_after_start
from bot.config import Settings
from bot.logs import configure_logging

log = logging.getLogger(__name__)

_WAKE, _STOP = "wake", "stop"


class RunningWorker(Protocol):
    def wake(self) -> None: ...

    def close(self) -> None: ...


WorkerFactory = Callable[[Settings], RunningWorker]
"""Builds and starts a worker on its own engine; module-level, so it pickles for ``spawn``."""


class WorkerProcess:
    """The worker role in a child process, restarted if it dies."""

    def __init__(self, settings: Settings, serve: WorkerFactory, *, niceness: int = 19) -> None:
        self._context = multiprocessing.get_context("spawn")
        self._args = (settings, serve, niceness)
        self._lock = threading.Lock()
        self._stopping = False
        self._is_ready = False
        self._process, self._pipe, self._ready = self._start()
        self._watch = threading.Thread(target=self._restart_on_exit, daemon=True)
        self._watch.start()
        # Runs before multiprocessing's own exit hook, which would wait forever for a child that
        # ignores SIGTERM: whatever way this process ends, the child is told to stop.
        atexit.register(self.shutdown, 0.0)

    def _start(self) -> tuple[BaseProcess, Connection, Connection]:
        reader, writer = self._context.Pipe(duplex=False)
        ready_reader, ready_writer = self._context.Pipe(duplex=False)
        process = self._context.Process(
            target=_serve,
            args=(reader, *self._args, ready_writer),
            name="taskbot-worker",
            daemon=True,
        )
        process.start()
        reader.close()  # the child has its copies; writes fail once it is gone
        ready_writer.close()
        return process, writer, ready_reader

    @property
    def pid(self) -> int | None:
        return self._process.pid

    @property
    def alive(self) -> bool:
        return self._process.is_alive()

    def wait_ready(self, timeout: float) -> bool:
        """Wait until the child's worker claims jobs (its message on the readiness pipe);
        False at once if it died first, or after ``timeout`` seconds."""
        if not self._is_ready:
            ready, process = self._ready, self._process
            waitable: list[Connection | int] = [ready, process.sentinel]
            if ready in multiprocessing.connection.wait(waitable, timeout):
                with contextlib.suppress(EOFError):
                    self._is_ready = bool(ready.recv())
        return self._is_ready

    @property
    def state(self) -> str:
        code = self._process.exitcode
        return "still starting" if code is None else f"exit code {code}"

    def wake(self) -> None:
        """A job was just written: claim it now rather than at the next poll."""
        with self._lock, contextlib.suppress(OSError):  # dead: the restart polls anyway
            self._pipe.send(_WAKE)

    def _restart_on_exit(self) -> None:
        while True:
            self._process.join()
            with self._lock:
                if self._stopping:
                    return
                log.error(
                    "worker process exited (code %s); starting another, which takes over its jobs",
                    self._process.exitcode,
                )
                self._pipe.close()
                self._ready.close()
                self._is_ready = False
                self._process, self._pipe, self._ready = self._start()

    def kill(self) -> None:
        """Stop at once, without a restart; what it was running is taken over later (benches)."""
        with self._lock:
            self._stopping = True
        self._process.kill()
        self._process.join(5)
        self._pipe.close()

    def shutdown(self, timeout: float = 8.0) -> None:
        """Let the worker finish running jobs for up to ``timeout`` seconds, then stop it."""
        with self._lock:
            if self._stopping:
                return
            self._stopping = True
            with contextlib.suppress(OSError):
                self._pipe.send(_STOP)
        self._process.join(timeout + 5)  # its own start-up and close take a moment too
        if self._process.is_alive():
            log.error("worker process did not stop in time; killing it")
            self._process.kill()
            self._process.join(2)
        self._pipe.close()


def _serve(
    pipe: Connection, settings: Settings, serve: WorkerFactory, niceness: int, ready: Connection
) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    with contextlib.suppress(OSError):  # not permitted: run at normal priority
        os.nice(niceness)
    configure_logging(settings.LOG_LEVEL, settings.LOG_FORMAT)
    worker = serve(settings)
    settle_after_start()  # see bot.collector: start-up objects stay out of the collector
    ready.send(True)
    try:
        while pipe.recv() != _STOP:
            worker.wake()
    except EOFError:  # the parent is gone without saying stop
        log.error("worker process lost its parent; finishing what it has")
    worker.close()
