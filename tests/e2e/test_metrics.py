"""A Prometheus scrape after real flows: the counters an operator watches move, and no label
carries user text, ids or tokens."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from slack_sdk.errors import SlackApiError

from bot.backends import paymo
from bot.domain.errors import DomainError
from bot.domain.rates import Rate
from bot.slack.clients import make_client
from tests.e2e.conftest import EVE, TOKEN, Taskbot
from tests.fakes import FakeClock
from tests.stubs.paymo_api import PaymoSimulator

MONDAY_TEN = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(taskbot: Taskbot) -> tuple[Samples, str]:
    answer = httpx.get(f"http://127.0.0.1:{taskbot.server.port}/metrics")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/plain")
    samples: Samples = {}
    for family in text_string_to_metric_families(answer.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples, answer.text


def moved(before: Samples, after: Samples, name: str, **labels: str) -> float:
    key = (name, tuple(sorted(labels.items())))
    return after.get(key, 0.0) - before.get(key, 0.0)


def test_a_scrape_after_a_flow_shows_acks_jobs_reminders_api_calls_and_errors(
    make_taskbot: Callable[..., Taskbot],
) -> None:
    clock = FakeClock(MONDAY_TEN)
    taskbot = make_taskbot(clock=clock, REMINDER_OFFSETS="0")
    before, _ = scrape(taskbot)

    title = "Send the secret invoice"
    taskbot.command(f"add {title} <@{EVE}> due:2026-11-23T12:00", key="c")  # 11:00 UTC
    taskbot.slack.wait_for_response("c")
    clock.now = MONDAY_TEN + timedelta(hours=1, minutes=2)  # two minutes late
    assert taskbot.app.sweep.run_once() == 1
    with pytest.raises(SlackApiError):
        make_client(TOKEN, taskbot.slack.url).users_info(user="UNOPE")
    sim = PaymoSimulator("paymo-key", limit=1, decay=0.2).start()  # one call per 0.2 s
    try:
        api = paymo.client(sim.url, "paymo-key", rate=Rate(calls=1, seconds=0.2))
        api.request("GET", "users")
        api.request("GET", "users")  # waits its turn
        with pytest.raises(DomainError):
            api.request("GET", "nosuch")
        api.close()
    finally:
        sim.stop()

    after, text = scrape(taskbot)
    assert moved(before, after, "taskbot_ack_seconds_count", kind="command") == 1
    assert moved(before, after, "taskbot_jobs_queued_total", kind="command") == 1
    assert moved(before, after, "taskbot_jobs_claimed_total", kind="command") >= 1
    assert moved(before, after, "taskbot_reminders_due_total", kind="remind") == 1
    assert moved(before, after, "taskbot_reminders_sent_total", kind="remind") == 1
    assert moved(before, after, "taskbot_reminders_late_total", kind="remind") == 1
    assert moved(before, after, "taskbot_reminder_lag_seconds_sum", kind="remind") == 120
    slack_error = {"method": "users.info", "error": "user_not_found"}
    assert moved(before, after, "taskbot_slack_api_errors_total", **slack_error) == 1
    calls = {"backend": "Paymo", "operation": "GET"}
    assert moved(before, after, "taskbot_task_api_calls_total", status="200", **calls) == 2
    assert moved(before, after, "taskbot_task_api_calls_total", status="404", **calls) == 1
    assert moved(before, after, "taskbot_rate_limit_waits_total", backend="Paymo") >= 1
    assert ("taskbot_oldest_job_age_seconds", ()) in after
    for secret in (title, "secret", EVE, TOKEN, "T0TEAM1"):
        assert secret not in text
