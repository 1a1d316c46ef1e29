"""``taskbot run``'s worker in a child process, so job CPU time never delays an ack.

A Python process serves acks and after-ack work on one GIL: under load, building cards and
talking to Slack and the task backend stretches every ack. Jobs are rows in the ledger, so the
child needs nothing from the parent but a nudge: it runs a worker built by ``serve`` (a
module-level, picklable function handed in by the composition root), claims jobs from the
database like any ``taskbot worker``, and reads its standard input only for "wake up" and "stop".

The child is a plain ``python`` subprocess, not a ``multiprocessing`` one: that would bring a
resource-tracker process (13 MB) and the parent's whole import state along. It receives the
parent's ``sys.path``, then ``(settings, serve, niceness)`` pickled on its standard input, and
says it claims jobs with one byte on a readiness pipe (whose end-of-file, if it dies first, is
as explicit). glibc gets ``MALLOC_ARENA_MAX=2`` (unless set): with one arena per worker thread,
freed memory would otherwise stay spread over up to 16 arenas. The child runs at a lower CPU
priority, ignores SIGINT and SIGTERM (the parent tells it when to stop, after the HTTP server has
finished its requests; end-of-file on its input, should the parent die, stops it too), and is
started again if it dies; the jobs it had claimed are taken over when their leases expire.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib
import io
import logging
import os
import pickle
import select
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, cast

from bot.collector import settle_after_start
from bot.config import Settings
from bot.logs import configure_logging

log = logging.getLogger(__name__)

_WAKE, _STOP = b"w", b"s"
MALLOC_ARENAS = "2"
_ENTRY = (
    "import sys; sys.path[:] = sys.argv[3:]; "
    "from bot.work_process import child_main; child_main(int(sys.argv[1]), sys.argv[2])"
)
"""The child's whole command line: stdlib only until the parent's ``sys.path`` is in place."""


class RunningWorker(Protocol):
    def wake(self) -> None: ...

    def close(self) -> None: ...


WorkerFactory = Callable[[Settings], RunningWorker]
"""Builds and starts a worker on its own engine; module-level, so it pickles."""


@dataclass
class _Child:
    process: subprocess.Popen[bytes]
    commands: int  # the write end of the child's standard input (non-blocking)
    ready: int  # the read end of the readiness pipe


class WorkerProcess:
    """The worker role in a child process, restarted if it dies."""

    def __init__(self, settings: Settings, serve: WorkerFactory, *, niceness: int = 19) -> None:
        self._job = pickle.dumps((settings, serve, niceness))
        self._main = _main_module() if b"__main__" in self._job else ""
        self._lock = threading.Lock()
        self._stopping = False
        self._is_ready = False
        self._child = self._start()
        self._watch = threading.Thread(target=self._restart_on_exit, daemon=True)
        self._watch.start()
        # Whatever way this process ends, the child is told to stop.
        atexit.register(self.shutdown, 0.0)

    def _start(self) -> _Child:
        ready, ready_writer = os.pipe()  # neither end is inherited but by pass_fds
        env = {**os.environ}
        env.setdefault("MALLOC_ARENA_MAX", MALLOC_ARENAS)
        try:
            process = subprocess.Popen(
                [sys.executable, "-c", _ENTRY, str(ready_writer), self._main, *sys.path],
                stdin=subprocess.PIPE,
                pass_fds=(ready_writer,),
                env=env,
            )
        except BaseException:
            os.close(ready)
            raise
        finally:
            os.close(ready_writer)  # the child holds the only write end: EOF once it is gone
        assert process.stdin is not None
        commands = os.dup(process.stdin.fileno())
        process.stdin.close()
        with contextlib.suppress(OSError):  # died at once: the watcher starts another
            _write_all(commands, self._job)
        os.set_blocking(commands, False)
        return _Child(process, commands, ready)

    @property
    def pid(self) -> int | None:
        return self._child.process.pid

    @property
    def alive(self) -> bool:
        return self._child.process.poll() is None

    def wait_ready(self, timeout: float) -> bool:
        """Wait until the child's worker claims jobs (its byte on the readiness pipe); False at
        once if it died first (end-of-file), or after ``timeout`` seconds."""
        ready = self._child.ready
        if not self._is_ready and ready >= 0:
            readable, _, _ = select.select([ready], [], [], timeout)
            if readable:
                with contextlib.suppress(OSError):
                    self._is_ready = os.read(ready, 1) == b"1"
        return self._is_ready

    @property
    def state(self) -> str:
        code = self._child.process.poll()
        return "still starting" if code is None else f"exit code {code}"

    def wake(self) -> None:
        """A job was just written: claim it now rather than at the next poll. Never blocks: a
        full pipe holds wakes enough, and a dead child's restart polls anyway."""
        with self._lock, contextlib.suppress(OSError):
            os.write(self._child.commands, _WAKE)

    def _restart_on_exit(self) -> None:
        while True:
            code = self._child.process.wait()
            with self._lock:
                if self._stopping:
                    return
                log.error(
                    "worker process exited (code %s); starting another, which takes over its jobs",
                    code,
                )
                self._close_pipes()
                self._is_ready = False
                self._child = self._start()

    def _close_pipes(self) -> None:
        """Close both ends, and forget their numbers: the system hands them out again."""
        child = self._child
        for fd in (child.commands, child.ready):
            with contextlib.suppress(OSError):
                os.close(fd)
        child.commands = child.ready = -1

    def kill(self) -> None:
        """Stop at once, without a restart; what it was running is taken over later (benches)."""
        with self._lock:
            self._stopping = True
        self._child.process.kill()
        self._child.process.wait(5)
        self._close_pipes()

    def shutdown(self, timeout: float = 8.0) -> None:
        """Let the worker finish running jobs for up to ``timeout`` seconds, then stop it."""
        with self._lock:
            if self._stopping:
                return
            self._stopping = True
            with contextlib.suppress(OSError):  # a full pipe: the end-of-file says it as well
                os.write(self._child.commands, _STOP)
            self._close_pipes()
        process = self._child.process
        try:
            process.wait(timeout + 5)  # its own start-up and close take a moment too
        except subprocess.TimeoutExpired:
            log.error("worker process did not stop in time; killing it")
            process.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(2)


M_ARENA_MAX = -8
"""glibc's ``mallopt`` parameter (malloc.h)."""


def limit_malloc_arenas() -> None:
    """``MALLOC_ARENA_MAX=2`` for a process already running (``taskbot``'s long-running roles
    call it before they start a thread): glibc gives each thread that allocates an arena of its
    own, up to 8 per core, and memory freed in one stays there; with 48 HTTP and listener threads
    that kept ~7 MB more of a ``taskbot run`` after 10,000 requests. An operator's own
    ``MALLOC_ARENA_MAX`` wins; not glibc: nothing to do."""
    if os.environ.get("MALLOC_ARENA_MAX"):
        return
    import ctypes

    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).mallopt(M_ARENA_MAX, int(MALLOC_ARENAS))


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _main_module() -> str:
    """The module the parent runs as ``__main__`` (``python -m bench.serve``), for a factory
    defined there; "" for a script run by path (its factory can't be found, as with spawn)."""
    spec = getattr(sys.modules["__main__"], "__spec__", None)
    return spec.name if spec is not None else ""


def child_main(ready: int, main: str = "") -> None:
    """The child's entry (see ``_ENTRY``): build the worker, say ready, then serve wakes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if main:  # what was pickled as ``__main__.serve`` is found there, as multiprocessing does
        sys.modules["__main__"] = importlib.import_module(main)
    commands = cast(io.BufferedReader, sys.stdin.buffer)  # read1: what has come, at most 4 KB
    settings, serve, niceness = pickle.load(commands)
    with contextlib.suppress(OSError):  # not permitted: run at normal priority
        os.nice(niceness)
    configure_logging(settings.LOG_LEVEL, settings.LOG_FORMAT)
    worker = serve(settings)
    settle_after_start()  # see bot.collector: start-up objects stay out of the collector
    with contextlib.suppress(OSError):  # the parent gave up waiting: it says stop next
        os.write(ready, b"1")
    os.close(ready)
    while True:
        chunk = commands.read1(4096)
        if _STOP in chunk:
            break
        if not chunk:  # the parent is gone without saying stop
            log.error("worker process lost its parent; finishing what it has")
            break
        worker.wake()
    worker.close()
