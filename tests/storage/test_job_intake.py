"""Group commit of acks' jobs, on SQLite and PostgreSQL: each ``add`` returns once its own row
is committed; the jobs that arrive meanwhile share the next transaction; a row that can't be
written fails alone."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, event, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from storage.engine import make_engine, make_sessionmaker
from storage.job_intake import GroupCommit, IntakeClosed
from storage.job_ledger import PENDING, NewJob, SqlAlchemyJobLedger
from tests.conftest import SharedPostgres

WAIT = 30.0  # a bound for a hang, never a timing guess


@pytest.fixture
def intakes(engine: Engine) -> Iterator[Callable[..., GroupCommit]]:
    """``GroupCommit(engine, ...)``, closed after the test and before the engine is disposed: a
    writer keeps its connection until then (on the shared PostgreSQL database the next test
    would find it connected; returned to a disposed pool, it would never be closed)."""
    made: list[GroupCommit] = []

    def make(**kwargs: Any) -> GroupCommit:
        made.append(GroupCommit(engine, **kwargs))
        return made[-1]

    yield make
    for intake in made:
        intake.close()


@contextmanager
def inserts_held(engine: Engine) -> Iterator[tuple[threading.Event, list[int]]]:
    """The writer's first INSERT waits until the event is set; yields (first INSERT began,
    the row count of every INSERT), with the release on exit."""
    began, release, sizes = threading.Event(), threading.Event(), []

    def hold(_conn: Any, _cursor: Any, statement: str, params: Any, *_: Any) -> None:
        if statement.lstrip().upper().startswith("INSERT INTO JOBS"):
            sizes.append(statement.count("(?") + statement.count("(%s"))
            began.set()
            assert release.wait(WAIT)

    event.listen(engine, "before_cursor_execute", hold)  # stays: the writer may be inside it
    try:
        yield began, sizes
    finally:
        release.set()


def add_in_threads(
    intake: GroupCommit, keys: list[str], payload: Any = '{"n": 1}'
) -> tuple[list[threading.Thread], list[tuple[str, Any]]]:
    """Each key added from a thread of its own; (threads, (key, result or exception) each)."""
    results: list[tuple[str, Any]] = []

    def add(key: str) -> None:
        try:
            results.append((key, intake.add("test", key, payload if key == "bad" else "{}")))
        except Exception as exc:
            results.append((key, exc))

    threads = [threading.Thread(target=add, args=(key,)) for key in keys]
    for thread in threads:
        thread.start()
    return threads, results


def join(started: tuple[list[threading.Thread], list[tuple[str, Any]]]) -> list[tuple[str, Any]]:
    threads, results = started
    for thread in threads:
        thread.join(WAIT)
        assert not thread.is_alive()
    return sorted(results, key=lambda result: (result[0], repr(result[1])))


def wait_for_backlog(intake: GroupCommit, count: int) -> None:
    """Until ``count`` jobs are queued behind the held transaction (a counter, not a guess)."""
    deadline = time.monotonic() + WAIT
    while intake.waiting < count:
        assert time.monotonic() < deadline
        time.sleep(0.001)


def test_an_add_is_committed_when_it_returns_and_a_replay_is_not_new(
    intakes: Callable[..., GroupCommit], engine: Engine, sessions: sessionmaker[Session]
) -> None:
    nudges: list[int] = []
    intake = intakes(after_commit=lambda: nudges.append(1))
    assert intake.add("test", "a", "{}")
    assert SqlAlchemyJobLedger(sessions).states() == {"a": PENDING}
    assert not intake.add("test", "a", "{}")
    assert nudges == [1]  # a worker is woken for the new job, not for its replay


def test_jobs_that_arrive_during_a_commit_share_the_next_one(
    intakes: Callable[..., GroupCommit], engine: Engine, sessions: sessionmaker[Session]
) -> None:
    nudges: list[int] = []
    intake = intakes(after_commit=lambda: nudges.append(1))
    keys = [f"k{i}" for i in range(20)]
    with inserts_held(engine) as (began, sizes):
        first = add_in_threads(intake, ["first"])
        assert began.wait(WAIT)  # the writer is in its first transaction
        rest = add_in_threads(intake, [*keys, "k3"])  # k3 twice: a replay in the same group
        wait_for_backlog(intake, len(keys) + 1)
    assert join(first) == [("first", True)]
    results = join(rest)
    assert [key for key, _ in results] == sorted([*keys, "k3"])
    assert [key for key, added in results if added is True] == sorted(keys)  # k3 once
    assert sizes == [1, 20]  # two transactions: the first job, then all twenty at once
    assert len(nudges) == 2  # a worker is woken once per transaction
    assert set(SqlAlchemyJobLedger(sessions).states()) == {"first", *keys}


def test_a_group_of_new_jobs_and_replays_tells_each_which_it_is(
    intakes: Callable[..., GroupCommit], engine: Engine, sessions: sessionmaker[Session]
) -> None:
    """On SQLite the INSERT returns no rows (``DriverJobsInsert``): a group that mixes new keys
    and keys already there is sorted out by the rows it wrote."""
    ledger = SqlAlchemyJobLedger(sessions)
    for key in ("k1", "k4"):
        ledger.enqueue(NewJob("test", key, "{}"), datetime.now(UTC))
    intake = intakes()
    keys = [f"k{i}" for i in range(6)]
    with inserts_held(engine) as (began, sizes):
        first = add_in_threads(intake, ["first"])
        assert began.wait(WAIT)
        rest = add_in_threads(intake, keys)
        wait_for_backlog(intake, len(keys))
    join(first)
    assert dict(join(rest)) == {key: key not in ("k1", "k4") for key in keys}
    assert sizes == [1, 6]  # one group
    assert intake.add("test", "k9", "{}") and not intake.add("test", "k9", "{}")
    intake.close()


def test_a_row_that_cannot_be_written_fails_alone(
    intakes: Callable[..., GroupCommit], engine: Engine, sessions: sessionmaker[Session]
) -> None:
    intake = intakes()
    keys = [f"k{i}" for i in range(5)]
    with inserts_held(engine) as (began, _):
        first = add_in_threads(intake, ["first"])
        assert began.wait(WAIT)
        rest = add_in_threads(intake, [*keys, "bad"], payload=None)  # payload is NOT NULL
        wait_for_backlog(intake, len(keys) + 1)
    join(first)
    results = dict(join(rest))
    assert isinstance(results.pop("bad"), Exception)
    assert results == dict.fromkeys(keys, True)
    assert set(SqlAlchemyJobLedger(sessions).states()) == {"first", *keys}


def test_close_writes_what_is_queued_then_refuses(
    intakes: Callable[..., GroupCommit], engine: Engine, sessions: sessionmaker[Session]
) -> None:
    intake = intakes()
    with inserts_held(engine) as (began, _):
        first = add_in_threads(intake, ["first"])
        assert began.wait(WAIT)
        queued = add_in_threads(intake, ["queued"])
        wait_for_backlog(intake, 1)
        closing = threading.Thread(target=intake.close)
        closing.start()
    closing.join(WAIT)
    assert not closing.is_alive()  # the writer has stopped
    assert join(first) == [("first", True)]
    assert join(queued) == [("queued", True)]  # written before the writer stopped
    with pytest.raises(IntakeClosed):
        intake.add("test", "late", "{}")
    assert set(SqlAlchemyJobLedger(sessions).states()) == {"first", "queued"}


def test_a_database_error_fails_the_whole_group_at_once(
    intakes: Callable[..., GroupCommit], engine: Engine
) -> None:
    """Not row by row: with the database down or locked, each retry would wait out its own
    timeout, and the last ack of a group would be answered after one timeout per job."""
    intake = intakes()
    attempts: list[int] = []

    def down(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.lstrip().upper().startswith("INSERT INTO JOBS"):
            attempts.append(1)
            if len(attempts) > 1:  # the first goes through; then the database is gone
                raise OperationalError(statement, {}, Exception("database is locked"))

    with inserts_held(engine) as (began, _):
        event.listen(engine, "before_cursor_execute", down)
        first = add_in_threads(intake, ["first"])
        assert began.wait(WAIT)
        rest = add_in_threads(intake, [f"k{i}" for i in range(5)])
        wait_for_backlog(intake, 5)
    assert join(first) == [("first", True)]
    results = join(rest)
    assert all(isinstance(error, OperationalError) for _, error in results)
    assert len(attempts) == 2  # the first job, then the group once


class WriterKilled(BaseException):
    """Not an Exception: what kills a thread (as a KeyboardInterrupt would)."""


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_a_writer_that_dies_fails_its_jobs_and_those_queued_and_the_next_add_starts_another(
    intakes: Callable[..., GroupCommit], engine: Engine, sessions: sessionmaker[Session]
) -> None:
    intake = intakes()
    kill = threading.Event()

    def die(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if kill.is_set() and statement.lstrip().upper().startswith("INSERT INTO JOBS"):
            kill.clear()
            raise WriterKilled()

    with inserts_held(engine) as (began, _):
        event.listen(engine, "before_cursor_execute", die)
        kill.set()
        first = add_in_threads(intake, ["first"])
        assert began.wait(WAIT)
        queued = add_in_threads(intake, ["q1", "q2"])
        wait_for_backlog(intake, 2)
    for key, result in [*join(first), *join(queued)]:  # none waits for ever
        assert isinstance(result, IntakeClosed), key
    assert intake.add("test", "after", "{}")  # a new writer
    assert set(SqlAlchemyJobLedger(sessions).states()) == {"after"}
    intake.close()


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_an_ack_whose_job_was_written_is_told_so_even_if_the_wake_up_kills_the_writer(
    intakes: Callable[..., GroupCommit], engine: Engine, sessions: sessionmaker[Session]
) -> None:
    def wake() -> None:
        raise WriterKilled()

    intake = intakes(after_commit=wake)
    assert intake.add("test", "a", "{}") is True  # written: not "not written"
    assert intake.add("test", "b", "{}") is True  # by a new writer
    assert set(SqlAlchemyJobLedger(sessions).states()) == {"a", "b"}
    intake.close()


def test_a_row_the_intake_writes_reads_back_as_one_the_ledger_writes(
    intakes: Callable[..., GroupCommit], engine: Engine, sessions: sessionmaker[Session]
) -> None:
    """The intake writes the driver's own SQL; the values still go through the columns' types."""
    ledger = SqlAlchemyJobLedger(sessions)
    before = datetime.now(UTC)
    intake = intakes()
    assert intake.add("test", "by-intake", '{"n": 1}', version=3, request_id="r1")
    intake.close()
    ledger.enqueue(NewJob("test", "by-ledger", '{"n": 1}', 3, "r1"), datetime.now(UTC))
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT key, created_at FROM jobs")).all()
    stored = {key: at for key, at in rows}
    assert type(stored["by-intake"]) is type(stored["by-ledger"])
    assert len(str(stored["by-intake"])) == len(str(stored["by-ledger"]))  # one format
    claimed = ledger.claim(
        datetime.now(UTC) + timedelta(seconds=1), limit=5, claimer="t", lease=timedelta(60)
    )
    rows = {job.key: job for job in claimed}
    assert set(rows) == {"by-intake", "by-ledger"}
    for job in rows.values():
        assert (job.kind, job.payload, job.payload_version, job.request_id) == (
            "test",
            '{"n": 1}',
            3,
            "r1",
        )
        assert before <= job.created_at <= datetime.now(UTC)


def test_on_a_sqlite_file_the_acks_commits_never_checkpoint_the_wal_a_thread_does(
    intakes: Callable[..., GroupCommit], engine: Engine
) -> None:
    """SQLite's automatic checkpoint ran inside the commit that took the WAL past 1,000 pages,
    and every ack of that group waited for it."""
    if engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL has no WAL checkpoints of ours")
    wal = Path(str(engine.url.database) + "-wal")
    payload = '{"pad": "' + "x" * 16_000 + '"}'  # a few pages a job
    quiet = intakes(checkpoint_every=10**9)
    for i in range(400):
        quiet.add("test", f"q{i}", payload)
    assert wal.stat().st_size > 1_200 * 4096  # past 1,000 pages, never checkpointed
    quiet.close()
    checkpointing = intakes(checkpoint_every=5)
    for i in range(10):
        checkpointing.add("test", f"c{i}", "{}")
    deadline = time.monotonic() + WAIT
    while not checkpointing.checkpoints_done:  # a counter, not a guess
        assert time.monotonic() < deadline
        time.sleep(0.001)
    checkpointing.close()  # and its checkpoint thread, which may have been woken again


@pytest.mark.postgres
def test_a_connection_the_database_cut_is_replaced_and_the_group_written(
    shared_postgres: SharedPostgres,
) -> None:
    """The writer keeps its connection between groups; a restart or an idle cut kills it, and
    the next group is written on a new one, not failed."""
    engine = make_engine(shared_postgres.fresh())
    intake = GroupCommit(engine)
    try:
        assert intake.add("test", "before", "{}")
        with engine.connect() as connection:
            cut = connection.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            ).all()
        assert cut  # the intake's connection was among them
        assert intake.add("test", "after", "{}") is True
        assert set(SqlAlchemyJobLedger(make_sessionmaker(engine)).states()) == {
            "before",
            "after",
        }
    finally:
        intake.close()
        engine.dispose()
