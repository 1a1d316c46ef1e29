"""``taskbot run`` that can't start: Slack unreachable or refusing the token, the database
unreachable, the port taken. Each exits non-zero within 15 s with one line saying what failed,
and leaves no process behind (``tests/web/reaper.py`` adopts and counts whatever it abandons)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.stubs.slack_api import SlackApiStub, slack_stub

ROOT = Path(__file__).parent.parent.parent
DEADLINE = 15.0


@pytest.fixture
def black_hole() -> Iterator[int]:
    """A port that completes TCP handshakes and then never says a word."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield sock.getsockname()[1]


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)
        yield sock.getsockname()[1]


@pytest.fixture(scope="module")
def stub() -> Iterator[SlackApiStub]:
    with slack_stub() as slack:
        slack.add_team("T1", "xoxb-start-test")
        yield slack


def start(tmp: Path, port: int, **settings: str) -> subprocess.Popen[str]:
    tmp.mkdir()
    keep = ("PATH", "HOME", "LANG")
    env = {k: v for k, v in os.environ.items() if k in keep}
    env.update(PYTHONPATH=str(ROOT), SLACK_SIGNING_SECRET="s", DATABASE_URL="sqlite:///t.db")
    env.update(settings)
    command = [sys.executable, "-m", "bot", "run", "--host", "127.0.0.1", "--port", str(port)]
    return subprocess.Popen(
        [sys.executable, "-m", "tests.web.reaper", str(DEADLINE), *command],
        cwd=tmp,
        env={**env, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        text=True,
    )


def test_a_start_that_cannot_reach_its_dependencies_exits_in_15s_with_one_line_and_no_child(
    tmp_path: Path, stub: SlackApiStub, black_hole: int, taken_port: int
) -> None:
    good = {"SLACK_BOT_TOKEN": "xoxb-start-test", "SLACK_API_URL": stub.url}
    cases = {
        "can't reach Slack": start(
            tmp_path / "slack",
            0,
            SLACK_BOT_TOKEN="xoxb-start-test",
            SLACK_API_URL=f"http://127.0.0.1:{black_hole}/api/",
        ),
        "Slack refused the bot token (invalid_auth)": start(
            tmp_path / "token", 0, SLACK_BOT_TOKEN="xoxb-wrong", SLACK_API_URL=stub.url
        ),
        "can't reach the database": start(
            tmp_path / "db", 0, **good, DATABASE_URL=f"postgresql://u@127.0.0.1:{black_hole}/x"
        ),
        f"can't listen on 127.0.0.1:{taken_port}": start(tmp_path / "port", taken_port, **good),
    }
    for expected, reaper in cases.items():
        out, _ = reaper.communicate(timeout=DEADLINE + 10)
        report = json.loads(out)
        lines = [line for line in report["stderr"].splitlines() if "can't start" in line]
        assert report["code"] not in (0, None), (expected, report)
        assert report["seconds"] < DEADLINE, (expected, report)
        assert len(lines) == 1 and expected in lines[0], (expected, report["stderr"])
        assert "Traceback" not in report["stderr"], (expected, report["stderr"])
        if "Slack" in expected:  # checked before migrating: nothing else is said
            assert report["stderr"].strip() == lines[0], (expected, report["stderr"])
        assert report["orphans"] == [], (expected, report)
