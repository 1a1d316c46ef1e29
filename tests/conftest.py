"""Shared fixtures: a clean environment, SQLite and a real PostgreSQL.

PostgreSQL: ``TASKBOT_TEST_POSTGRES_URL`` when set (``.ci/run`` sets it), else a throwaway cluster
started once per session; without PostgreSQL binaries the postgres tests are skipped.
"""

from __future__ import annotations

import os
import shutil
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import NullPool

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


TABLES = "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() ORDER BY 1"


class SharedPostgres:
    """One migrated PostgreSQL database the tests take turns on, emptied before each test with
    ``TRUNCATE … RESTART IDENTITY`` (empty tables, ids from 1: what a new copy of the template
    holds); dropping it and copying the template again took a fifth of a second or more per test.

    It is still dropped (``WITH (FORCE)``) and copied again whenever a client is connected to it
    when the next test starts (a process or an engine a test left behind: cut off as before, and
    never writing into the next test's rows) or its schema is no longer the template's."""

    def __init__(self, server: str, template: str) -> None:
        self._admin = create_engine(server, isolation_level="AUTOCOMMIT")
        self._template = template
        self.name = f"taskbot_{uuid.uuid4().hex[:12]}"
        self.url = _with_database(server, self.name)
        self._engine = create_engine(self.url, poolclass=NullPool)  # holds no connection
        self._create()
        with self._engine.connect() as connection:
            self._schema = self._schema_of(connection)

    @staticmethod
    def _schema_of(connection: Connection) -> tuple[object, ...]:
        version = connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
        return (version, *connection.execute(text(TABLES)).scalars())

    def fresh(self) -> str:
        """The database's URL, holding no rows."""
        if not self._unused() or not self._emptied():
            self._drop()
            self._create()
        return self.url

    def _unused(self, timeout: float = 2.0) -> bool:
        """No client connected; the previous test's closed connections take a few milliseconds
        to leave ``pg_stat_activity``, so wait a little for them (anything still there then
        has been left behind)."""
        query = text(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = :name AND backend_type = 'client backend'"
        )
        deadline = time.monotonic() + timeout
        with self._admin.connect() as connection:
            while connection.execute(query, {"name": self.name}).scalar_one():
                if time.monotonic() > deadline:
                    return False
                time.sleep(0.005)
        return True

    def _emptied(self) -> bool:
        with self._engine.begin() as connection:
            if self._schema_of(connection) != self._schema:
                return False
            tables = ", ".join(
                f'"{name}"' for name in self._schema[1:] if name != "alembic_version"
            )
            connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        return True

    def _create(self) -> None:
        with self._admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{self.name}" TEMPLATE "{self._template}"'))

    def _drop(self) -> None:
        with self._admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))

    def close(self) -> None:
        self._drop()
        self._engine.dispose()
        self._admin.dispose()


@pytest.fixture(scope="session")
def shared_postgres(postgres_server: str, postgres_template: str) -> Iterator[SharedPostgres]:
    shared = SharedPostgres(postgres_server, postgres_template)
    try:
        yield shared
    finally:
        shared.close()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, migrated database per test, on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        return migrated_sqlite(request.getfixturevalue("sqlite_template"), tmp_path / "taskbot.db")
    shared: SharedPostgres = request.getfixturevalue("shared_postgres")
    return shared.fresh()


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def sessions(engine: Engine) -> sessionmaker[Session]:
    return make_sessionmaker(engine)
