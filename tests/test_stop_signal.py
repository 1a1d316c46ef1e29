"""``StopSignal``, how every long-running role waits for SIGTERM or Ctrl-C: the main thread sleeps
in ``read`` on a pipe, and the kernel may run a process-directed signal's handler on any thread.

Linux only (the tests watch the main thread's system call in ``/proc``); run in pytest's main
thread, with its signal handlers and wakeup fd restored after.
"""

from __future__ import annotations

import array
import fcntl
import signal
import termios
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from bot.cli import StopSignal

MAIN = threading.get_native_id()
SYSCALL = Path(f"/proc/self/task/{MAIN}/syscall")

pytestmark = pytest.mark.skipif(not SYSCALL.exists(), reason="needs Linux's /proc")


def sleeping_on_an_empty_pipe() -> bool:
    """Whether the main thread sleeps in a system call on a pipe that holds nothing to read
    (``/proc/self/task/<tid>/syscall``: the call's number, then its arguments, the fd first)."""
    fields = SYSCALL.read_text().split()
    if len(fields) < 2 or fields[0] == "running":
        return False
    fd = int(fields[1], 16)
    try:
        if not Path(f"/proc/self/fd/{fd}").readlink().name.startswith("pipe:"):
            return False
        waiting = array.array("i", [0])
        fcntl.ioctl(fd, termios.FIONREAD, waiting)
    except OSError:  # not an fd of ours: a futex address, say
        return False
    return waiting[0] == 0


def until(condition: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        threading.Event().wait(0.001)
    return True


@pytest.fixture
def restored_signals() -> Iterator[None]:
    signals = (signal.SIGTERM, signal.SIGINT, signal.SIGUSR2)
    handlers = {signum: signal.getsignal(signum) for signum in signals}
    wakeup = signal.set_wakeup_fd(-1)
    signal.set_wakeup_fd(wakeup)
    yield
    signal.set_wakeup_fd(wakeup)
    for signum, handler in handlers.items():
        signal.signal(signum, handler)


def wait_in_main(stop: StopSignal, helper: Callable[[threading.Event], None]) -> None:
    """``stop.wait()`` here while ``helper`` runs on its own thread; a helper that finds the
    main thread still asleep when it should not be wakes it with a SIGTERM of its own."""
    woke = threading.Event()
    thread = threading.Thread(target=helper, args=(woke,))
    thread.start()
    try:
        stop.wait()
    finally:
        woke.set()
        thread.join()


def test_a_sigterm_handled_on_another_thread_wakes_the_waiting_main_thread(
    restored_signals: None,
) -> None:
    stop = StopSignal()
    missed = []

    def take_the_signal_here(woke: threading.Event) -> None:
        assert until(sleeping_on_an_empty_pipe), "the main thread never waited"
        signal.pthread_kill(threading.get_ident(), signal.SIGTERM)  # its handler runs here
        if not woke.wait(10):  # never, before the wakeup pipe: only another signal woke it
            missed.append(True)
            signal.pthread_kill(threading.main_thread().ident or 0, signal.SIGTERM)

    wait_in_main(stop, take_the_signal_here)
    assert not missed, "a SIGTERM run on another thread left the main thread asleep"


def test_another_signal_with_a_handler_does_not_stop_it(restored_signals: None) -> None:
    stop = StopSignal()
    signal.signal(signal.SIGUSR2, lambda signum, frame: None)  # also writes the wakeup pipe
    stopped_early = []

    def other_signal_then_stop(woke: threading.Event) -> None:
        assert until(sleeping_on_an_empty_pipe), "the main thread never waited"
        signal.pthread_kill(threading.get_ident(), signal.SIGUSR2)
        # the main thread reads SIGUSR2's byte, then either waits again or returns
        assert until(lambda: woke.is_set() or sleeping_on_an_empty_pipe())
        stopped_early.append(woke.is_set())
        signal.pthread_kill(threading.main_thread().ident or 0, signal.SIGTERM)

    wait_in_main(stop, other_signal_then_stop)
    assert stopped_early == [False]
