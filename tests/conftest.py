"""Shared fixtures: a clean environment, SQLite and a real PostgreSQL.

PostgreSQL: ``TASKBOT_TEST_POSTGRES_URL`` when set (``.ci/run`` sets it), else a throwaway cluster
started once per session; without PostgreSQL binaries the postgres tests are skipped.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.orm import Session, sessionmaker

from storage.engine import make_engine, make_sessionmaker, normalise_url
from storage.migrate import upgrade_engine
from tests.postgres import Cluster

STRIPPED = ("DATABASE_URL", "TASK_BACKEND", "TASKBOT_ADMINS", "TASKBOT_SECRET_KEY", "LOG_LEVEL")


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No real Slack token or database leaks into a test, and no stray .env is read."""
    for name in list(os.environ):
        if (
            name.startswith(("SLACK_", "TASKBOT_SECRET"))
            or name.endswith("_API_URL")
            or name in STRIPPED
        ):
            monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    url = os.environ.get("TASKBOT_TEST_POSTGRES_URL")
    if url:
        yield normalise_url(url)
        return
    try:
        cluster = Cluster().start()
    except FileNotFoundError as exc:
        pytest.skip(f"no PostgreSQL for the postgres tests: {exc}")
    try:
        yield cluster.url
    finally:
        cluster.stop()


@pytest.fixture(scope="session")
def postgres_template(postgres_server: str) -> str:
    """A migrated database that each test's database is copied from (fast)."""
    admin = create_engine(postgres_server, isolation_level="AUTOCOMMIT")
    name = f"taskbot_template_{uuid.uuid4().hex[:8]}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    engine = make_engine(_with_database(postgres_server, name))
    upgrade_engine(engine)
    engine.dispose()
    return name


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file that each test's SQLite database is copied from: copying takes
    microseconds, running every migration again took a tenth of a second per test."""
    path = tmp_path_factory.mktemp("sqlite-template") / "taskbot.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade_engine(engine)
    engine.dispose()  # the last connection checkpoints the WAL into the file
    assert not path.with_name(path.name + "-wal").exists(), "the template is not one file"
    return path


def migrated_sqlite(template: Path, path: Path) -> str:
    """A fresh migrated SQLite database at ``path`` (a copy of the template); its URL."""
    shutil.copyfile(template, path)
    return f"sqlite:///{path}"


def _with_database(url: str, name: str) -> str:
    return url.rsplit("/", 1)[0] + "/" + name


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, migrated database per test, on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        yield migrated_sqlite(request.getfixturevalue("sqlite_template"), tmp_path / "taskbot.db")
        return
    server = request.getfixturevalue("postgres_server")
    template = request.getfixturevalue("postgres_template")
    name = f"taskbot_{uuid.uuid4().hex[:12]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
    try:
        yield _with_database(server, name)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def sessions(engine: Engine) -> sessionmaker[Session]:
    return make_sessionmaker(engine)
