"""The real ``taskbot`` command in a subprocess, as a new user runs it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.postgres import free_port
from tests.slack_requests import SlackClient, slash_command
from tests.stubs.slack_api import SlackApiStub, slack_stub


def run(
    args: list[str], cwd: Path, env: dict[str, str], timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture
def clean_env() -> dict[str, str]:
    keep = ("PATH", "HOME", "LANG", "SYSTEMROOT", "PYTHONPATH")
    env = {k: v for k, v in os.environ.items() if k in keep}
    env["PYTHONPATH"] = str(Path(__file__).parent.parent)
    return env


@pytest.fixture(scope="module")
def stub() -> Iterator[SlackApiStub]:
    with slack_stub() as slack:
        slack.add_team("T1", "xoxb-cli-test")
        slack.add_user("T1", "U1")
        yield slack


def test_run_with_nothing_set_explains_what_to_set(
    tmp_path: Path, clean_env: dict[str, str]
) -> None:
    result = run(["run"], tmp_path, clean_env)
    assert result.returncode == 2
    assert "SLACK_BOT_TOKEN is required" in result.stderr
    assert "SLACK_SIGNING_SECRET is required in HTTP mode" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_db_upgrade_creates_the_tables(tmp_path: Path, clean_env: dict[str, str]) -> None:
    result = run(["db", "upgrade"], tmp_path, {**clean_env, "DATABASE_URL": "sqlite:///data.db"})
    assert result.returncode == 0, result.stderr
    import sqlite3

    tables = {
        r[0]
        for r in sqlite3.connect(tmp_path / "data.db").execute("select name from sqlite_master")
    }
    assert {"tasks", "task_parts", "task_cards", "user_map", "reminders"} <= tables


def test_run_serves_health_and_stops_cleanly_on_sigterm(
    tmp_path: Path, clean_env: dict[str, str], stub: SlackApiStub
) -> None:
    (tmp_path / ".env").write_text(
        "SLACK_BOT_TOKEN=xoxb-cli-test\nSLACK_SIGNING_SECRET=cli-secret\n"
        f"SLACK_API_URL={stub.url}\n"
    )
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", "run", "--port", str(port), "--host", "127.0.0.1"],
        cwd=tmp_path,
        env=clean_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
                break
            except httpx.TransportError:
                assert process.poll() is None, process.communicate()
                assert time.monotonic() < deadline
                time.sleep(0.1)
        assert health.status_code == 200 and health.json()["database"] is True
        unsigned = httpx.post(f"http://127.0.0.1:{port}/slack/events", content=b"command=/task")
        assert unsigned.status_code == 401
        # A command is answered by the after-ack worker process ``taskbot run`` starts.
        command = slash_command(
            "add Water the plants",
            user_id="U1",
            team_id="T1",
            channel_id="C1",
            response_url=stub.response_url_for("cli"),
        )
        client = SlackClient(f"http://127.0.0.1:{port}", "cli-secret")
        assert client.send(command).status_code == 200
        client.close()
        (reply,) = stub.wait_for_response("cli", timeout=20)
        assert "Created *T-1* Water the plants" in reply["text"]
        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=15)
        assert process.returncode == 0, err
        assert time.monotonic() - started < 10
        assert "xoxb-cli-test" not in out + err  # the token never reaches the log
        assert "stopped" in err
    finally:
        if process.poll() is None:
            process.kill()
