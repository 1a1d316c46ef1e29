"""The sliding-window rules of a shared rate-limit budget."""

from __future__ import annotations

from bot.domain.rates import Budget, Rate, pause, release, take, tell

RATE = Rate(calls=2, seconds=10)
HOLD = 30.0


def test_calls_are_taken_until_the_window_is_full_and_then_wait_for_the_first_to_age_out() -> None:
    budget, wait = take(Budget(), RATE, 100.0, "a", HOLD)
    assert wait == 0.0
    budget = release(budget, "a", 101.0)
    budget, wait = take(budget, RATE, 102.0, "b", HOLD)
    budget = release(budget, "b", 103.0)
    assert wait == 0.0
    full, wait = take(budget, RATE, 104.0, "c", HOLD)
    assert full == budget and wait == 7.0  # "a" ended at 101 and counts until 111
    budget, wait = take(budget, RATE, 111.0, "c", HOLD)
    assert wait == 0.0 and [s.id for s in budget.slots] == ["b", "c"]


def test_a_call_counts_from_its_end_and_one_in_flight_may_end_any_moment() -> None:
    budget, _ = take(Budget(), RATE, 0.0, "a", HOLD)
    budget, _ = take(budget, RATE, 0.0, "b", HOLD)
    _, wait = take(budget, RATE, 5.0, "c", HOLD)
    assert wait == 10.0  # both still in flight: ask again one window from now
    budget = release(budget, "a", 8.0)  # the server may have seen it as late as 8
    _, wait = take(budget, RATE, 12.0, "c", HOLD)
    assert wait == 6.0
    _, wait = take(budget, RATE, 41.0, "c", HOLD)  # "b" never ended (its process died)
    assert wait == 0.0


def test_a_pause_the_api_asked_for_stops_every_call_even_without_a_rate() -> None:
    budget = pause(Budget(), 50.0, 30.0)
    assert pause(budget, 60.0, 5.0) == budget  # a longer pause stays
    assert take(budget, None, 70.0, "a", HOLD)[1] == 10.0
    assert take(budget, RATE, 79.0, "a", HOLD)[1] == 1.0
    assert take(budget, None, 80.0, "a", HOLD) == (budget, 0.0)  # no rate: nothing to count


def test_the_limit_the_server_states_replaces_the_configured_one() -> None:
    told = tell(Budget(), Rate(calls=1, seconds=5))
    budget, wait = take(told, RATE, 0.0, "a", HOLD)
    assert wait == 0.0
    assert take(release(budget, "a", 1.0), RATE, 2.0, "b", HOLD)[1] == 4.0  # 1 in 5 s, not 2
    assert take(told, None, 0.0, "a", HOLD) == (told, 0.0)  # an unlimited client stays so
