"""Start several ``taskbot`` commands at the same instant: ``python -m tests.launcher``.

Importing taskbot takes most of a second of CPU, which would spread out starts meant to race
(and cost a test half a minute on two cores), so this process imports ``bot.cli``, the
composition root and alembic once, then for each round forks one child per command, all at
once; each child runs ``bot.cli.main(argv)`` with its own environment, as the console script
would. A round is one JSON line on stdin:
``[{"argv": [...], "env": {...}, "ready": "line" | null}, ...]``. A command with ``ready`` is a
long-running role: once that text appears in its output it gets SIGTERM. The answer is one JSON
line: ``[{"code": int, "output": str, "ready": bool}, ...]``.
"""

from __future__ import annotations

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

ROUND_TIMEOUT = 60.0


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


def run_round(commands: list[dict[str, Any]]) -> list[dict[str, Any]]:
    children = [spawn(c["argv"], c.get("env", {})) for c in commands]
    outputs = [b""] * len(children)
    ready = [False] * len(children)
    open_fds = {fd: i for i, (_, fd) in enumerate(children)}
    deadline = time.monotonic() + ROUND_TIMEOUT
    while open_fds and time.monotonic() < deadline:
        readable, _, _ = select.select(list(open_fds), [], [], 0.5)
        for fd in readable:
            i = open_fds[fd]
            chunk = os.read(fd, 65536)
            if not chunk:
                del open_fds[fd]
                os.close(fd)
                continue
            outputs[i] += chunk
            want = commands[i].get("ready")
            if want and not ready[i] and want.encode() in outputs[i]:
                ready[i] = True
                os.kill(children[i][0], signal.SIGTERM)
    results = []
    for i, (pid, _) in enumerate(children):
        if open_fds and i in open_fds.values():  # stuck past the deadline
            os.kill(pid, signal.SIGKILL)
        _, status = os.waitpid(pid, 0)
        results.append(
            {
                "code": os.waitstatus_to_exitcode(status),
                "output": outputs[i].decode(errors="replace"),
                "ready": ready[i],
            }
        )
    for fd in open_fds:
        os.close(fd)
    return results


def main() -> None:
    print("launcher ready", flush=True)
    for line in sys.stdin:
        print(json.dumps(run_round(json.loads(line))), flush=True)


if __name__ == "__main__":
    main()
