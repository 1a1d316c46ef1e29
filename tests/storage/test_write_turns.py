"""SQLite write turns: every way a writing transaction ends gives its turn back, and reads never
take one (a turn kept would make every later writer wait ``TURN_PATIENCE``)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from storage.engine import make_engine, write_turns


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
