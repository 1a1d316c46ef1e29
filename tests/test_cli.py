"""The real ``taskbot`` command in a subprocess, as a new user runs it."""

from __future__ import annotations

import os
import re
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


@pytest.fixture
def db_env(clean_env: dict[str, str]) -> dict[str, str]:
    """What the offline commands get: DATABASE_URL and nothing of Slack."""
    return {**clean_env, "DATABASE_URL": "sqlite:///links.db"}


@pytest.fixture
def users_env(db_env: dict[str, str], stub: SlackApiStub) -> dict[str, str]:
    stub.add_user("T1", "U2", email="ben@example.com")
    stub.add_group("T1", "S1", "ops", ["U1", "U2"])
    return {**db_env, "SLACK_BOT_TOKEN": "xoxb-cli-test", "SLACK_API_URL": stub.url}


DESIGN_HEADER = "team_id,slack_user,backend,assignee_id"


def test_users_import_writes_nothing_from_a_bad_file_unless_partial(
    tmp_path: Path, users_env: dict[str, str]
) -> None:
    (tmp_path / "links.csv").write_text(
        f"{DESIGN_HEADER}\n"
        "T1,U1,paymo,101\n"
        "T1,ben@example.com,paymo,102\n"
        "T1,S1,paymo,9\n"
        "T1,nobody@example.com,paymo,103\n"
        "T1,U1,nosuch,104\n"
        "T1,x9,paymo,105\n"
        "T1,U2,paymo,101\n"
    )
    refused = run(["users", "import", "links.csv"], tmp_path, users_env)
    assert refused.returncode == 2, refused.stderr
    assert "line 5: no Slack user with the email nobody@example.com" in refused.stderr
    assert "line 6: unknown backend 'nosuch'" in refused.stderr
    assert "line 7: 'x9' is not a Slack user id, group id or email" in refused.stderr
    assert "line 8: 101 is also on line 2" in refused.stderr
    assert "nothing written" in refused.stderr
    exported = run(["users", "export"], tmp_path, users_env)
    assert exported.returncode == 0 and exported.stdout.strip().count("\n") == 0  # header only

    partial = run(["users", "import", "links.csv", "--partial"], tmp_path, users_env)
    assert partial.returncode == 1 and "linked 3 row(s)" in partial.stdout
    lines = run(["users", "export"], tmp_path, users_env).stdout.splitlines()
    assert lines[0] == f"{DESIGN_HEADER},kind,how,set_by,set_at"
    assert {tuple(line.split(",")[:5]) for line in lines[1:]} == {
        ("T1", "U1", "paymo", "101", "user"),
        ("T1", "U2", "paymo", "102", "user"),
        ("T1", "S1", "paymo", "9", "group"),
    }


def test_users_export_imports_into_an_empty_database_with_only_database_url(
    tmp_path: Path, db_env: dict[str, str]
) -> None:
    """Ids need no Slack: the short header is read as an alias, and the export round-trips."""
    (tmp_path / "links.csv").write_text(
        "team,slack,backend,assignee_id\nT1,U1,paymo,101\nT1,S1,local,ops\nT2,W7,paymo,7\n\n"
    )
    first = run(["users", "import", "links.csv"], tmp_path, db_env)
    assert first.returncode == 0 and "linked 3 row(s)" in first.stdout, first.stderr
    exported = run(["users", "export"], tmp_path, db_env).stdout
    assert exported.startswith(f"{DESIGN_HEADER},")
    (tmp_path / "export.csv").write_text(exported)
    empty = {**db_env, "DATABASE_URL": "sqlite:///empty.db"}
    again = run(["users", "import", "export.csv"], tmp_path, empty)
    assert again.returncode == 0, again.stderr
    rows = [
        sorted(line.split(",")[:5] for line in out.splitlines()[1:])
        for out in (exported, run(["users", "export"], tmp_path, empty).stdout)
    ]
    assert rows[0] == rows[1] and len(rows[0]) == 3


def test_users_import_reports_every_row_when_slack_is_unreachable_or_unset(
    tmp_path: Path, db_env: dict[str, str]
) -> None:
    (tmp_path / "links.csv").write_text(
        f"{DESIGN_HEADER}\nT1,ana@example.com,paymo,1\nT1,U1,paymo,\nT1,ben@example.com,paymo,2\n"
    )
    down = {
        **db_env,
        "SLACK_BOT_TOKEN": "xoxb-cli-test",
        "SLACK_API_URL": f"http://127.0.0.1:{free_port()}/",
    }
    result = run(["users", "import", "links.csv"], tmp_path, down)
    assert result.returncode == 2, result.stderr
    assert "line 2: can't look up ana@example.com: " in result.stderr
    assert "line 3: empty assignee_id" in result.stderr
    assert "line 4: can't look up ben@example.com: " in result.stderr
    assert "Traceback" not in result.stderr and "xoxb" not in result.stderr
    unset = run(["users", "import", "links.csv"], tmp_path, db_env)
    assert unset.returncode == 2
    assert unset.stderr.strip() == (
        "line 2 holds an email: set SLACK_BOT_TOKEN so taskbot can look emails up in Slack, "
        "or write Slack user ids instead"
    )


def test_users_import_explains_files_it_cannot_read(tmp_path: Path, db_env: dict[str, str]) -> None:
    (tmp_path / "latin1.csv").write_bytes(
        "team,slack,backend,assignee_id\nT1,José,paymo,1\n".encode("latin-1")
    )
    (tmp_path / "columns.csv").write_text("team,slack\nT1,U1\n")
    for name, expected in (
        ("latin1.csv", "not UTF-8"),
        ("columns.csv", "Missing column(s): backend, assignee_id"),
        ("absent.csv", "can't read absent.csv"),
    ):
        result = run(["users", "import", name], tmp_path, db_env)
        assert result.returncode == 2 and expected in result.stderr, result.stderr
        assert "Traceback" not in result.stderr


def test_db_upgrade_says_one_line_then_nothing_and_more_with_verbose(
    tmp_path: Path, db_env: dict[str, str]
) -> None:
    first = run(["db", "upgrade"], tmp_path, db_env)
    assert first.returncode == 0, first.stderr
    assert "database migrated from empty to" in first.stderr
    assert len(first.stderr.splitlines()) == 1  # no alembic line per step
    again = run(["db", "upgrade"], tmp_path, db_env)
    assert (again.returncode, again.stdout, again.stderr) == (0, "", "")
    verbose = run(["-v", "db", "upgrade"], tmp_path, {**db_env, "DATABASE_URL": "sqlite:///v.db"})
    assert "Running upgrade" in verbose.stderr
    import sqlite3

    tables = {
        r[0]
        for r in sqlite3.connect(tmp_path / "links.db").execute("select name from sqlite_master")
    }
    assert {"tasks", "task_parts", "task_cards", "user_map", "reminders", "heartbeats"} <= tables
    from bot.cli import parser

    helped = parser().format_help()  # what `taskbot --help` prints
    assert "exit codes:" in helped and "2  nothing done" in helped


def test_status_reads_queue_reminder_lag_and_live_processes_from_the_database(
    tmp_path: Path, db_env: dict[str, str]
) -> None:
    from datetime import UTC, datetime, timedelta

    from storage.engine import make_engine, make_sessionmaker
    from storage.heartbeats import SqlAlchemyHeartbeats
    from storage.job_ledger import NewJob, SqlAlchemyJobLedger
    from storage.migrate import upgrade_engine
    from storage.sync_runs import SqlAlchemySyncRuns
    from storage.tables import ReminderRow

    empty = run(["status"], tmp_path, db_env)
    assert empty.returncode == 2 and "run `taskbot db upgrade`" in empty.stderr
    engine = make_engine(f"sqlite:///{tmp_path / 'links.db'}")
    upgrade_engine(engine)
    sessions = make_sessionmaker(engine)
    now = datetime.now(UTC)
    SqlAlchemyHeartbeats(sessions).beat("worker:box:42", "worker", now, now)
    SqlAlchemyHeartbeats(sessions).beat(
        "scheduler:box:7", "scheduler", now, now - timedelta(hours=1)
    )
    SqlAlchemyJobLedger(sessions).enqueue(
        NewJob("command", "k1", "{}"), now - timedelta(seconds=90)
    )
    with sessions.begin() as session:
        for lag in (2, 4):
            due = now - timedelta(minutes=10)
            session.add(
                ReminderRow(
                    team_id="T1",
                    task_id="1",
                    handle="T-1",
                    assignee_id="U1",
                    offset_seconds=0,
                    due_at=due,
                    state="sent",
                    sent_at=due + timedelta(seconds=lag),
                    attempts=1,
                    kind="remind",
                )
            )
    before = run(["status"], tmp_path, db_env)
    assert "backend sync: no pass recorded" in before.stdout
    SqlAlchemySyncRuns(sessions).record("paymo", now - timedelta(seconds=30), 3, None)
    SqlAlchemySyncRuns(sessions).record("struct_pim", now, None, "BackendUnavailable:\n down")
    engine.dispose()
    result = run(["status"], tmp_path, db_env)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    # ages are counted from when this test wrote the rows: the status process itself may take
    # seconds to start on a loaded machine, so only a lower bound and a generous upper one
    assert 30 <= seconds_in(out, r"backend sync paymo: last pass (\d+) s ago") < 300
    assert "3 task(s) changed" in out
    assert "backend sync struct_pim: last pass " in out
    assert "s ago, failed: BackendUnavailable: down" in out  # the error as one line
    assert "jobs: 1 pending, 0 claimed, 0 done, 0 failed" in out
    assert 90 <= seconds_in(out, r"oldest due job: waiting (\d+) s") < 360
    assert "reminders, last hour: 2 sent, lag avg 3.0 s, max 4.0 s" in out
    assert "live worker: worker:box:42" in out and "scheduler:box:7" not in out  # stale


def seconds_in(text: str, pattern: str) -> int:
    found = re.search(pattern, text)
    assert found, (pattern, text)
    return int(found.group(1))
