"""After-ack work in its own process (what ``taskbot run`` does on a file or server database)."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable

from bot.domain.models import Status
from bot.slack import ids
from bot.work_process import WorkerProcess
from tests.e2e.conftest import ANA, BEN, CHANNEL, TEAM, Taskbot
from tests.e2e.test_flows import buttons, card_in, create, dm, text_of


def test_buttons_and_commands_are_served_by_the_worker_process(
    make_taskbot: Callable[..., Taskbot],
) -> None:
    taskbot = make_taskbot(work_process=True)
    worker = taskbot.app.worker
    assert isinstance(worker, WorkerProcess) and worker.pid != os.getpid()
    assert worker.wait_ready(0)  # build_app returned only once the worker said it was ready
    slack = taskbot.slack
    create(taskbot, f"Ship it <@{ANA}|ana> <@{BEN}|ben> all", user=ANA)
    card = card_in(slack, CHANNEL)
    assert "0 of 2 done" in text_of(card)

    taskbot.click(
        ids.ACTION_DONE, buttons(card)[ids.ACTION_DONE], ANA, channel=CHANNEL, ts=card["ts"]
    )
    slack.wait_for("chat.update", 2)  # the channel card and Ben's DM (Ana acted herself)
    assert "1 of 2 done" in text_of(slack.message(CHANNEL, card["ts"]))
    assert taskbot.app.backend.get(TEAM, "T-1").done_count == 1


def test_a_killed_worker_is_started_again_and_takes_the_next_job(
    make_taskbot: Callable[..., Taskbot],
) -> None:
    taskbot = make_taskbot(work_process=True, JOB_LEASE_SECONDS=2)
    worker = taskbot.app.worker
    assert isinstance(worker, WorkerProcess)
    slack = taskbot.slack
    create(taskbot, f"Water the plants <@{BEN}|ben>", user=ANA)
    first = worker.pid
    assert first is not None
    os.kill(first, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while worker.alive and time.monotonic() < deadline:
        time.sleep(0.01)

    ben_card = card_in(slack, dm(BEN), timeout=15)  # at worst, once the dead one's lease expires
    taskbot.click(
        ids.ACTION_DONE, buttons(ben_card)[ids.ACTION_DONE], BEN, channel=dm(BEN), ts=ben_card["ts"]
    )
    slack.wait_for("chat.update", 1, timeout=15)
    assert worker.pid not in (None, first)
    assert taskbot.app.backend.get(TEAM, "T-1").status is Status.COMPLETED
