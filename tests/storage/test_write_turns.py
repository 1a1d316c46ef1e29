"""SQLite write turns: every way a writing transaction ends gives its turn back, and reads never
take one (a turn kept would make every later writer wait ``TURN_PATIENCE``)."""

from __future__ import annotations

import fcntl
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from storage import engine as engine_module
from storage.engine import WriteTurns, make_engine, write_turns


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    built = make_engine(f"sqlite:///{tmp_path / 'turns.db'}")
    with built.begin() as connection:
        connection.execute(text("CREATE TABLE t (n INTEGER)"))
    yield built
    built.dispose()


def taken(engine: Engine) -> bool:
    turns = write_turns(engine)
    assert turns is not None
    return turns.taken


def test_commit_rollback_and_a_connection_returned_mid_write_each_give_the_turn_back(
    engine: Engine,
) -> None:
    with engine.begin() as connection:
        connection.execute(text("INSERT INTO t VALUES (1)"))
        assert taken(engine)
    assert not taken(engine)
    with pytest.raises(RuntimeError), engine.begin() as connection:
        connection.execute(text("INSERT INTO t VALUES (2)"))
        raise RuntimeError("rolled back")
    assert not taken(engine)
    connection = engine.connect()  # written, then handed back without commit: the pool resets it
    connection.execute(text("INSERT INTO t VALUES (3)"))
    assert taken(engine)
    connection.close()
    assert not taken(engine)
    with engine.connect() as reading:
        assert reading.execute(text("SELECT count(*) FROM t")).scalar() == 1
        assert not taken(engine)


def test_many_threads_writing_at_once_all_land(engine: Engine) -> None:
    def write(n: int) -> None:
        for i in range(20):
            with engine.begin() as connection:
                connection.execute(text("INSERT INTO t VALUES (:n)"), {"n": n * 100 + i})

    threads = [threading.Thread(target=write, args=(n,)) for n in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM t")).scalar() == 240
    assert not taken(engine)


def test_memory_and_postgres_engines_have_no_turns() -> None:
    assert write_turns(make_engine("sqlite://")) is None


def test_a_yielding_writer_waits_while_an_acks_writer_waits_for_the_turn(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Three processes' turns on one file (each its own file descriptions, as processes have):
    the web's ack writer holds the turn, a second ack writer waits for it, and a worker's
    (yielding) writer comes in meanwhile: the turn goes to the waiting ack first, even though
    the worker, asking every poll, may well find it free before the ack's next ask."""
    monkeypatch.setattr(engine_module, "TURN_PATIENCE", 0.5)
    path = str(tmp_path / "db.write.lock")
    first, waiting, worker = WriteTurns(path), WriteTurns(path), WriteTurns(path, yielding=True)
    assert first.take()
    got: list[str] = []
    waiter = threading.Thread(target=lambda: got.append("ack" if waiting.take() else "none"))
    waiter.start()
    want = os.open(f"{path}.want", os.O_RDWR | os.O_CREAT)
    try:
        while not file_locked(want):  # the waiting ack says so on the want file
            time.sleep(0.001)
        first.give()  # free now, but an ack still says it waits (until it has taken the turn)
        waiter.join()
        assert got == ["ack"]
        assert not file_locked(want)  # said no more once it had the turn
        fcntl.flock(want, fcntl.LOCK_SH)  # another ack waits (while the turn is held)
        waiting.give()  # the turn is free, but an ack is waiting:
        assert not worker.take()  # the worker yields, for its patience
        fcntl.flock(want, fcntl.LOCK_UN)
        assert worker.take()  # and takes the turn once no ack waits
        worker.give()
    finally:
        os.close(want)


def file_locked(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    fcntl.flock(fd, fcntl.LOCK_UN)
    return False


def test_a_want_file_that_cannot_be_opened_leaves_sqlites_lock_alone_and_no_turn_held(
    tmp_path: Path,
) -> None:
    """Going on without turns (as in a read-only folder), every time, with nothing left held
    (the lock file alone used to be kept open, and the next take failed on the missing one)."""
    path = str(tmp_path / "db.write.lock")
    os.mkdir(f"{path}.want")  # can't be opened for writing
    for turns in (WriteTurns(path, yielding=True), WriteTurns(path)):
        for _ in range(2):
            assert not turns.take()
            assert not turns.taken
