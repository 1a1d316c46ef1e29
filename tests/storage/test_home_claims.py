"""App Home publishes are serialised per person across processes (``storage.home_claims``)."""

from __future__ import annotations

import threading

from sqlalchemy.orm import Session, sessionmaker

from storage.home_claims import SqlAlchemyHomeClaims


def test_one_publisher_at_a_time_per_person(sessions: sessionmaker[Session]) -> None:
    homes = SqlAlchemyHomeClaims(sessions)
    inside: list[str] = []
    overlaps: list[str] = []
    barrier = threading.Barrier(6)

    def publish(name: str) -> None:
        barrier.wait()
        with homes.held("T1", "UANA", wait=30) as held:
            assert held
            if inside:
                overlaps.append(name)
            inside.append(name)
            with homes.held("T1", "UBEN", wait=0) as other:  # another person: not blocked
                assert other
            inside.remove(name)

    threads = [threading.Thread(target=publish, args=(f"p{i}",)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert overlaps == []


def test_a_claim_is_not_taken_while_held_and_is_taken_over_when_its_lease_ran_out(
    sessions: sessionmaker[Session],
) -> None:
    homes = SqlAlchemyHomeClaims(sessions)
    with homes.held("T1", "UANA", wait=0) as first:
        assert first
        with homes.held("T1", "UANA", wait=0) as second:
            assert not second
    expired = SqlAlchemyHomeClaims(sessions, lease_seconds=0)
    with expired.held("T1", "UANA", wait=0) as dead:  # a publisher that "died" holding it
        assert dead
        with homes.held("T1", "UANA", wait=0) as taker:
            assert taker


def test_the_place_set_while_held_comes_with_the_next_claim(
    sessions: sessionmaker[Session],
) -> None:
    homes = SqlAlchemyHomeClaims(sessions)
    with homes.held("T1", "UANA", wait=0) as first:
        assert first is not None and first.place is None
        first.place = "a/7;;"
    with homes.held("T1", "UANA", wait=0) as second:
        assert second is not None and second.place == "a/7;;"
    with homes.held("T1", "UBEN", wait=0) as other:  # each person their own
        assert other is not None and other.place is None
