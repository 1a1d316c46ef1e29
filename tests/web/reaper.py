"""Run a command as a child subreaper and report what it left behind.

    python -m tests.web.reaper DEADLINE_SECONDS COMMAND...

Every process the command starts and abandons is re-parented to this one (Linux
``PR_SET_CHILD_SUBREAPER``), so after the command exits we wait for each of them, up to DEADLINE
seconds after the start, and then kill what is still there. Prints one JSON line: the command's
exit code (None if it outlived the deadline), seconds until it exited, its stderr, and the
orphans that outlived the deadline.
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType

PR_SET_CHILD_SUBREAPER = 36


def children() -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{os.getpid()}/task").iterdir():
        found += [int(pid) for pid in (task / "children").read_text().split()]
    return found


def on_alarm(signum: int, frame: FrameType | None) -> None:
    raise TimeoutError


def main() -> None:
    deadline, command = float(sys.argv[1]), sys.argv[2:]
    if ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER)")
    started = time.monotonic()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    code: int | None
    try:
        _, err = process.communicate(timeout=deadline)
        code = process.returncode
    except subprocess.TimeoutExpired:
        process.kill()
        _, err = process.communicate()
        code = None
    exited = time.monotonic() - started
    orphans: list[int] = []
    signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, max(0.1, deadline - exited))
    try:
        while True:
            os.wait()  # each abandoned descendant, as it ends
    except ChildProcessError:  # none left
        pass
    except TimeoutError:
        orphans = children()
        for pid in orphans:
            os.kill(pid, signal.SIGKILL)
    signal.setitimer(signal.ITIMER_REAL, 0)
    print(json.dumps({"code": code, "seconds": exited, "stderr": err, "orphans": orphans}))


if __name__ == "__main__":
    main()
