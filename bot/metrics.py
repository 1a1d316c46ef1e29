"""Prometheus metrics of every taskbot process (``GET /metrics``, ``--metrics-port``).

Labels are bounded sets chosen by code: a request kind, a job kind, a backend's name, an
operation or HTTP method, a status code, a Slack method and error code. Never user text, user or
team ids, paths with ids in them, or tokens. Imports prometheus_client only.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import datetime

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest

ACK_KINDS = frozenset(
    {
        "command",
        "block_actions",
        "block_suggestion",
        "view_submission",
        "view_closed",
        "shortcut",
        "message_action",
        "event_callback",
        "url_verification",
    }
)

ACK_SECONDS = Histogram(
    "taskbot_ack_seconds",
    "Time from a Slack request's arrival to its acknowledgement, by request kind.",
    ["kind"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0),
)
JOBS_QUEUED = Counter("taskbot_jobs_queued", "Jobs written to the ledger.", ["kind"])
JOBS_CLAIMED = Counter("taskbot_jobs_claimed", "Jobs a worker claimed.", ["kind"])
JOBS_FAILED = Counter("taskbot_jobs_failed", "Jobs given up after their last attempt.", ["kind"])
JOBS_RETRIED = Counter(
    "taskbot_jobs_retried", "Jobs that failed an attempt and wait to retry.", ["kind"]
)
OLDEST_JOB_AGE = Gauge(
    "taskbot_oldest_job_age_seconds", "How long the longest-waiting due job has waited (database)."
)
REMINDERS_DUE = Counter("taskbot_reminders_due", "Reminders a scheduler claimed to send.", ["kind"])
REMINDERS_SENT = Counter("taskbot_reminders_sent", "Reminders sent.", ["kind"])
REMINDERS_LATE = Counter(
    "taskbot_reminders_late", "Reminders sent more than a minute after they were due.", ["kind"]
)
REMINDER_LAG = Histogram(
    "taskbot_reminder_lag_seconds",
    "Sent minus due, for each reminder sent.",
    ["kind"],
    buckets=(1, 5, 15, 30, 60, 120, 300, 900, 3600),
)
TASK_API_CALLS = Counter(
    "taskbot_task_api_calls",
    "Calls to a task system's API by backend, operation and HTTP status (or 'error').",
    ["backend", "operation", "status"],
)
RATE_LIMIT_WAITS = Counter(
    "taskbot_rate_limit_waits", "Times a call waited for its rate-limit turn.", ["backend"]
)
RATE_LIMIT_WAIT_SECONDS = Counter(
    "taskbot_rate_limit_wait_seconds", "Seconds spent waiting for rate-limit turns.", ["backend"]
)
SLACK_API_ERRORS = Counter(
    "taskbot_slack_api_errors",
    "Slack Web API calls that failed, by method and error code.",
    ["method", "error"],
)
LATE_AFTER_SECONDS = 60.0


def ack_kind(kind: str | None) -> str:
    """A request kind as a label: one of ``ACK_KINDS``, else ``other``."""
    return kind if kind in ACK_KINDS else "other"


def observe_reminder(kind: str, due_at: datetime, sent_at: datetime) -> None:
    lag = max(0.0, (sent_at - due_at).total_seconds())
    REMINDERS_SENT.labels(kind).inc()
    REMINDER_LAG.labels(kind).observe(lag)
    if lag > LATE_AFTER_SECONDS:
        REMINDERS_LATE.labels(kind).inc()


def track_oldest_job(age: Callable[[], float | None]) -> None:
    """The oldest-job gauge reads ``age()`` (seconds, None when none waits) at each scrape;
    NaN when the database can't be read."""

    def read() -> float:
        try:
            value = age()
        except Exception:  # a scrape never fails because the database is away
            return math.nan
        return 0.0 if value is None else value

    OLDEST_JOB_AGE.set_function(read)


def exposition() -> tuple[bytes, str]:
    """The registry in Prometheus' text format, and its content type."""
    return generate_latest(), CONTENT_TYPE_LATEST
