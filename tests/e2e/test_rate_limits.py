"""A task API at its rate limit, seen from Slack: the ack comes at once, and the person is told
in words when the work after the ack can't get a turn within its bound."""

from __future__ import annotations

import time
from collections.abc import Callable

from tests.e2e.conftest import ANA, BOSS, Taskbot
from tests.e2e.test_paymo import PAYMO_IDS
from tests.e2e.test_user_map import answer
from tests.stubs.paymo_api import paymo_simulator


def test_a_rate_limited_api_fails_the_action_in_words_after_a_bounded_wait(
    make_taskbot: Callable[..., Taskbot],
) -> None:
    with paymo_simulator("paymo-key") as paymo:
        for user, number in PAYMO_IDS.items():
            paymo.add_user(number, f"{user.lower()}@example.com")
        taskbot = make_taskbot(
            TASK_BACKEND="paymo",
            PAYMO_API_URL=paymo.url,
            PAYMO_API_KEY="paymo-key",
            PAYMO_PROJECT_ID=7001,
            TASK_API_MAX_WAIT_SECONDS=2,
        )
        assert "Created *T-1*" in answer(taskbot, f"add Audit <@{ANA}|ana>", BOSS, "c1")
        paymo.rate_limit_next("POST", retry_after=120)  # Paymo: no more for two minutes
        started = time.monotonic()
        refused = answer(taskbot, f"add Budget <@{ANA}|ana>", BOSS, "c2")
        assert "Paymo is at its rate limit: its next free turn is about 60 s away" in refused
        assert "try again" in refused and len(paymo.tasks) == 1
        calls = len(paymo.calls())
        refused = answer(taskbot, f"add Budget <@{ANA}|ana>", BOSS, "c3")
        assert "Paymo is at its rate limit" in refused and len(paymo.calls()) == calls
        assert time.monotonic() - started < 5  # refused at once, not after the pause
