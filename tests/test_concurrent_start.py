"""Several taskbot processes started at once on an empty PostgreSQL database all come up.

Each round starts five real processes at the same instant (forked by ``tests.launcher`` from one
pre-imported Python, so they race for real and the test stays short): the explicit deploy step
``taskbot db upgrade``, three ``taskbot scheduler`` processes that migrate at start, and one with
``MIGRATE_ON_START=false`` that waits for the others to do it. Readiness is the scheduler's
"scheduler running" log line; then each gets SIGTERM and must exit 0.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text

from storage.engine import make_engine
from storage.migrate import SchemaError, head_revision, upgrade_engine, wait_for_schema
from tests.stubs.slack_api import SlackApiStub, slack_stub

ROUNDS = 10
TEAM, TOKEN = "T0START", "xoxb-start-test"
ROOT = Path(__file__).parent.parent
READY = "scheduler running"

pytestmark = pytest.mark.postgres


@pytest.fixture(scope="module")
def stub() -> Iterator[SlackApiStub]:
    with slack_stub() as slack:
        slack.add_team(TEAM, TOKEN)
        yield slack


@pytest.fixture
def admin(postgres_server: str) -> Iterator[Engine]:
    engine = create_engine(postgres_server, isolation_level="AUTOCOMMIT")
    yield engine
    engine.dispose()


def empty_database(admin: Engine, server: str) -> tuple[str, str]:
    name = f"taskbot_start_{uuid.uuid4().hex[:10]}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    return name, server.rsplit("/", 1)[0] + "/" + name


def drop(admin: Engine, name: str) -> None:
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.mark.timeout(180)  # ten rounds of 1-3 s; a stuck round is cut at 25 s with its stacks
def test_five_processes_started_at_once_on_an_empty_database_all_come_up(
    postgres_server: str, admin: Engine, stub: SlackApiStub, tmp_path: Path
) -> None:
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")}
    launcher = subprocess.Popen(
        [sys.executable, "-m", "tests.launcher"],
        cwd=tmp_path,
        env={**env, "PYTHONPATH": str(ROOT)},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert launcher.stdin is not None and launcher.stdout is not None
    names: list[str] = []
    try:
        assert launcher.stdout.readline().strip() == "launcher ready"
        for _ in range(ROUNDS):
            name, url = empty_database(admin, postgres_server)
            names.append(name)
            common = {
                "SLACK_BOT_TOKEN": TOKEN,
                "SLACK_SIGNING_SECRET": "unused-by-the-scheduler",
                "SLACK_API_URL": stub.url,
                "DATABASE_URL": url,
            }
            scheduler = {"argv": ["scheduler"], "env": common, "ready": READY}
            commands = [
                {"argv": ["db", "upgrade"], "env": {"DATABASE_URL": url}, "ready": None},
                scheduler,
                scheduler,
                scheduler,
                {**scheduler, "env": {**common, "MIGRATE_ON_START": "false"}},
            ]
            launcher.stdin.write(json.dumps(commands) + "\n")
            launcher.stdin.flush()
            results = json.loads(launcher.stdout.readline())
            for command, result in zip(commands, results, strict=True):
                where = f"{command['argv']} {command['env'].get('MIGRATE_ON_START', '')}"
                assert result["code"] == 0, (where, result["output"])
                assert "Traceback" not in result["output"], (where, result["output"])
                if command["ready"]:
                    assert result["ready"], (where, result["output"])
                else:
                    # one line if this one migrated, nothing if another had already
                    assert result["output"].count("\n") <= 1, result["output"]
    finally:
        launcher.stdin.close()
        launcher.wait(timeout=30)
        launcher.stdout.close()
        for name in names:
            drop(admin, name)


def test_without_migrating_a_process_waits_for_the_schema_then_says_what_is_wrong(
    postgres_server: str, admin: Engine
) -> None:
    name, url = empty_database(admin, postgres_server)
    engine = make_engine(url)
    try:
        with pytest.raises(SchemaError, match="has no taskbot schema.*taskbot db upgrade"):
            wait_for_schema(engine, timeout=0.3)
        upgrade_engine(engine)
        wait_for_schema(engine, timeout=0)  # at head: returns at once
        with engine.begin() as connection:
            connection.execute(text("UPDATE alembic_version SET version_num = '9999'"))
        with pytest.raises(SchemaError, match="9999, newer than this taskbot") as raised:
            wait_for_schema(engine, timeout=30)  # refused at once, not after the wait
        assert "\n" not in str(raised.value) and head_revision() in str(raised.value)
    finally:
        engine.dispose()
        drop(admin, name)


def test_a_newer_schema_stops_a_start_with_one_line(
    postgres_server: str, admin: Engine, stub: SlackApiStub, tmp_path: Path
) -> None:
    name, url = empty_database(admin, postgres_server)
    engine = make_engine(url)
    upgrade_engine(engine)
    with engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    engine.dispose()
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")}
    try:
        result = subprocess.run(
            [sys.executable, "-m", "bot", "scheduler"],
            cwd=tmp_path,
            env={
                **env,
                "PYTHONPATH": str(ROOT),
                "SLACK_BOT_TOKEN": TOKEN,
                "SLACK_SIGNING_SECRET": "unused",
                "SLACK_API_URL": stub.url,
                "DATABASE_URL": url,
                "MIGRATE_ON_START": "false",
            },
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        drop(admin, name)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "newer than this taskbot" in lines[0], result.stderr
