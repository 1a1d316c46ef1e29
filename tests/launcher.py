"""Start several ``taskbot`` commands at the same instant: ``python -m tests.launcher``.

Importing taskbot takes most of a second of CPU, which would spread out starts meant to race
(and cost a test half a minute on two cores), so this process imports ``bot.cli``, the
composition root and alembic once, then for each round forks one child per command, all at
once; each child runs ``bot.cli.main(argv)`` with its own environment, as the console script
would. A round is one JSON line on stdin:
``[{"argv": [...], "env": {...}, "ready": "line" | null}, ...]``. A command with ``ready`` is a
long-running role: once that text appears in its output it gets SIGTERM. The answer is one JSON
line: ``[{"code": int, "output": str, "ready": bool}, ...]``. A child still running at the
round's deadline first dumps every thread's stack into its output (``faulthandler`` on SIGUSR1),
so a hang says where it hangs, then gets SIGKILL.
"""

from __future__ import annotations

import faulthandler
import json
import os
import select
import signal
import sys
import time
import traceback
from typing import Any

# Imported before forking, so children start at once: the composition root, and what each
# child's start imports lazily (alembic alone is a fifth of a second of CPU per child).
import bot.bootstrap  # noqa: F401
import bot.reminders.scheduler  # noqa: F401
import storage.migrate  # noqa: F401
from bot import cli

ROUND_TIMEOUT = 25.0  # a round takes 1-3 s; the test's own timeout is longer than this
DUMP_WAIT = 2.0


def spawn(argv: list[str], env: dict[str, str]) -> tuple[int, int]:
    """A child running the CLI with stdout and stderr on one pipe; (pid, read end)."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns
        code = 1
        try:
            os.close(read)
            os.dup2(write, 1)
            os.dup2(write, 2)
            faulthandler.register(signal.SIGUSR1, all_threads=True)
            os.environ.update(env)
            code = cli.main(argv)
        except BaseException:
            traceback.print_exc()
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
    os.close(write)
    return pid, read


class Round:
    """The children of one round, their output so far, and which have said they are ready."""

    def __init__(self, commands: list[dict[str, Any]]) -> None:
        self.commands = commands
        self.children = [spawn(c["argv"], c.get("env", {})) for c in commands]
        self.outputs = [b""] * len(commands)
        self.ready = [False] * len(commands)
        self.open_fds = {fd: i for i, (_, fd) in enumerate(self.children)}

    def read_until(self, deadline: float) -> None:
        """Collect output until every child has closed its pipe or the deadline passes; a long-
        running role gets SIGTERM once its ready line appears."""
        while self.open_fds and time.monotonic() < deadline:
            readable, _, _ = select.select(list(self.open_fds), [], [], 0.5)
            for fd in readable:
                self.read(fd)

    def read(self, fd: int) -> None:
        i = self.open_fds[fd]
        chunk = os.read(fd, 65536)
        if not chunk:
            del self.open_fds[fd]
            os.close(fd)
            return
        self.outputs[i] += chunk
        want = self.commands[i].get("ready")
        if want and not self.ready[i] and want.encode() in self.outputs[i]:
            self.ready[i] = True
            os.kill(self.children[i][0], signal.SIGTERM)

    def stop_the_stuck(self) -> None:
        """Children still running: their stacks into their output, then SIGKILL."""
        stuck = set(self.open_fds.values())
        for i in stuck:
            os.kill(self.children[i][0], signal.SIGUSR1)
        if stuck:
            self.read_until(time.monotonic() + DUMP_WAIT)
        for i in stuck:
            os.kill(self.children[i][0], signal.SIGKILL)
        for fd in self.open_fds:
            os.close(fd)

    def results(self) -> list[dict[str, Any]]:
        results = []
        for i, (pid, _) in enumerate(self.children):
            _, status = os.waitpid(pid, 0)
            output = self.outputs[i].decode(errors="replace")
            results.append(
                {
                    "code": os.waitstatus_to_exitcode(status),
                    "output": output,
                    "ready": self.ready[i],
                }
            )
        return results


def run_round(commands: list[dict[str, Any]]) -> list[dict[str, Any]]:
    round_ = Round(commands)
    round_.read_until(time.monotonic() + ROUND_TIMEOUT)
    round_.stop_the_stuck()
    return round_.results()


def main() -> None:
    print("launcher ready", flush=True)
    for line in sys.stdin:
        print(json.dumps(run_round(json.loads(line))), flush=True)


if __name__ == "__main__":
    main()
