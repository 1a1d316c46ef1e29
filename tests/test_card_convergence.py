"""Cards converge after a SIGKILL: a real ``taskbot run`` saves a Done click and is killed before
it touches any card; a ``taskbot scheduler`` started afterwards finds the cards behind (the save
marked them so in the same transaction) and rewrites them through its card sweep.

The kill lands at a known point: the assignor's progress DM, which the notifier sends before it
updates cards, is held by the Slack stub, and the process is killed once that call has arrived.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.slack import ids
from tests.postgres import free_port
from tests.slack_requests import SlackClient, block_action, slash_command
from tests.stubs.slack_api import SlackApiStub, slack_stub

TEAM, TOKEN, SECRET = "T0CONV", "xoxb-converge", "converge-secret"
BOSS, ANA, CHANNEL = "UBOSS", "UANA", "C0CONV"
ROOT = Path(__file__).parent.parent


@pytest.fixture
def stub() -> Iterator[SlackApiStub]:
    with slack_stub() as slack:
        slack.add_team(TEAM, TOKEN)
        slack.add_user(TEAM, BOSS, tz="UTC")
        slack.add_user(TEAM, ANA, tz="UTC")
        yield slack


def taskbot(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "bot", *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_healthy(port: int, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/livez", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "taskbot did not come up"
        time.sleep(0.05)


def cards(stub: SlackApiStub) -> list[dict[str, Any]]:
    """The channel card and Ana's DM card, as Slack shows them now."""
    found = []
    for channel in (CHANNEL, stub.dm_channel(ANA)):
        found += [m for m in stub.messages(channel) if "T-1" in json.dumps(m.get("blocks"))]
    return found


def test_cards_left_behind_by_a_killed_process_are_rewritten_by_the_scheduler(
    stub: SlackApiStub, tmp_path: Path
) -> None:
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")}
    env |= {
        "PYTHONPATH": str(ROOT),
        "SLACK_BOT_TOKEN": TOKEN,
        "SLACK_SIGNING_SECRET": SECRET,
        "SLACK_API_URL": stub.url,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'converge.db'}",
        "WORK_PROCESS": "false",  # one process to kill: after-ack work on its threads
        "CARD_SWEEP_SECONDS": "0.5",
    }
    port = free_port()
    web = taskbot(
        ["run", "--port", str(port), "--host", "127.0.0.1", "--no-scheduler"], env, tmp_path
    )
    client = SlackClient(f"http://127.0.0.1:{port}", SECRET)
    try:
        wait_healthy(port, web)
        create = slash_command(
            f"add Ship it <@{ANA}|ana>",
            user_id=BOSS,
            team_id=TEAM,
            channel_id=CHANNEL,
            response_url=stub.response_url_for("create"),
        )
        assert client.send(create).status_code == 200
        stub.wait_for("chat.postMessage", 2, timeout=20)  # the channel card and Ana's DM
        assert len(cards(stub)) == 2
        stub.set_delay("chat.postMessage", 30)  # the progress DM to the assignor hangs
        done = block_action(
            ids.ACTION_DONE,
            ids.encode_ref("T-1", 1),
            user_id=ANA,
            team_id=TEAM,
            channel_id=CHANNEL,
        )
        assert client.send(done).status_code == 200
        stub.wait_for("chat.postMessage", 3, timeout=20)  # saved; cards not yet touched
    finally:
        client.close()
        web.kill()  # SIGKILL
        web.communicate(timeout=10)
    assert not stub.calls("chat.update")
    assert all("Completed" not in m["text"] for m in cards(stub))

    stub.set_delay("chat.postMessage", 0)
    started = time.monotonic()
    scheduler = taskbot(["scheduler"], env, tmp_path)
    try:
        deadline = started + 30  # the promise: cards come true within 30 s
        while not all("Completed" in m["text"] for m in cards(stub)):
            assert scheduler.poll() is None, scheduler.communicate()
            assert time.monotonic() < deadline, cards(stub)
            time.sleep(0.05)
    finally:
        scheduler.send_signal(signal.SIGTERM)
        _, err = scheduler.communicate(timeout=20)
    assert scheduler.returncode == 0, err
    assert "card sweep wrote 2 card(s)" in err
