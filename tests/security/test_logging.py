"""Logs: no bodies, payloads, response_urls or tokens at any level; one line per event, whatever
people type; ``LOG_FORMAT=json`` carries a request id from a request's ack to its job."""

from __future__ import annotations

import io
import json
import logging
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from bot.config import Settings
from bot.logs import configure_logging, request_id_bound
from bot.service.work import ClaimedWork, JobWorker
from bot.slack.background import DurableJobs
from bot.slack.listeners.commands import CommandJob
from storage.engine import make_engine
from storage.job_intake import GroupCommit
from storage.job_ledger import NewJob, SqlAlchemyJobLedger
from tests.e2e.conftest import ANA, TOKEN, Taskbot
from tests.e2e.test_user_map import answer

FORGED = "2026-12-03 04:00:00,000 ERROR bot.service.user_links: admin UADMIN linked"
TYPED = f"Quarterly report\n{FORGED}"
COMMAND = {
    "team_id": "T1",
    "user_id": "U1",
    "text": "list",
    "response_url": "https://hooks.slack.com/x/2/s3cret",
}


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    """Every log line the process writes, as configured for production (then put back)."""
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    levels = {n: logging.getLogger(n).level for n in ("slack_bolt", "slack_sdk", "taskbot.bolt")}
    stream = io.StringIO()
    yield stream
    root.handlers[:], level = saved
    root.setLevel(level)
    for name, old in levels.items():
        logging.getLogger(name).setLevel(old)


def lines(stream: io.StringIO) -> list[str]:
    return stream.getvalue().splitlines()


def test_json_logs_follow_a_request_from_its_ack_to_its_job(
    taskbot: Taskbot, captured: io.StringIO
) -> None:
    configure_logging("DEBUG", "json", captured)
    assert "Created *T-1*" in answer(taskbot, f"add {TYPED} <@{ANA}|ana>", ANA, "first")
    assert "Created *T-2*" in answer(taskbot, f"add Second <@{ANA}|ana>", ANA, "second")
    taskbot.app.slack.close(wait=True)
    taskbot.app.worker.stop()  # type: ignore[union-attr]  # every job has finished (and logged)
    events = [json.loads(line) for line in lines(captured)]  # one JSON object per line
    arrived = [e for e in events if e["message"].startswith("slack request type=command")]
    assert len(arrived) == 2 and arrived[0]["request_id"] != arrived[1]["request_id"]
    for request in arrived:
        job = [e["message"] for e in events if e["request_id"] == request["request_id"]]
        assert "job command started" in job and "job command done" in job, job


def test_no_body_token_or_response_url_is_logged_even_at_debug(
    taskbot: Taskbot, captured: io.StringIO
) -> None:
    configure_logging("DEBUG", "text", captured)
    answer(taskbot, f"add {TYPED} <@{ANA}|ana>", ANA, "first")
    taskbot.app.slack.close(wait=True)
    taskbot.app.worker.stop()  # type: ignore[union-attr]
    written = captured.getvalue()
    assert written, "nothing was logged"
    for secret in (TOKEN, "/respond/first", "Quarterly report", "response_url"):
        assert secret not in written, secret


def test_every_line_is_one_line_whatever_people_type(captured: io.StringIO) -> None:
    for log_format in ("text", "json"):
        configure_logging("INFO", log_format, captured)  # type: ignore[arg-type]
        log = logging.getLogger("bot.test")
        log.warning("comment from %s: %s", ANA, TYPED)
        try:
            raise ValueError(f"bad title {TYPED}")
        except ValueError:
            log.exception("could not save")
    written = lines(captured)
    assert len(written) == 4, written
    assert not any(line.startswith(FORGED) for line in written)
    assert "\\n" + FORGED in written[0]
    assert json.loads(written[3])["exception"].count("\n") > 1  # the traceback, kept whole


def test_a_failed_job_is_logged_without_its_payload(
    sessions: sessionmaker[Session], caplog: pytest.LogCaptureFixture
) -> None:
    """A job that keeps failing is logged by id and kind only, never its payload."""
    ledger = SqlAlchemyJobLedger(sessions)
    body = {"token": "verification-token", "response_url": "https://hooks.slack.com/x/1/s3cret"}
    payload = json.dumps({**body, "text": TYPED})
    ledger.enqueue(NewJob("command", "command:T1:1.1", payload), datetime.now(UTC))
    failed = threading.Event()

    def handle(job: ClaimedWork) -> None:
        raise RuntimeError("the task system is down")

    worker = JobWorker(
        ledger,
        handle,
        give_up=lambda job, error: failed.set(),
        poll=0.05,
        max_attempts=2,
        backoff=lambda attempts: 0.0,
    )
    with caplog.at_level(logging.INFO):
        worker.start()
        try:
            assert failed.wait(30)
        finally:
            worker.stop(timeout=5)
    written = "\n".join(r.getMessage() for r in caplog.records)
    assert "failed for good" in written
    for secret in ("s3cret", "verification-token", "Quarterly", "hooks.slack.com"):
        assert secret not in written


def test_log_format_is_a_setting() -> None:
    base: dict[str, Any] = {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "s"}
    assert Settings(_env_file=None, **base).LOG_FORMAT == "text"  # type: ignore[call-arg]
    assert Settings(_env_file=None, LOG_FORMAT="JSON", **base).LOG_FORMAT == "json"  # type: ignore[call-arg]


def test_the_request_id_travels_with_a_job_to_the_worker(
    sessions: sessionmaker[Session],
) -> None:
    """A job written by a listener carries its request id in its row, so whichever worker
    process claims it runs it with that id bound (``bot.slack.jobs.runner``)."""
    ledger, intake = SqlAlchemyJobLedger(sessions), GroupCommit(sessions.kw["bind"])
    with request_id_bound("rid-from-the-ack"):
        assert DurableJobs(intake).submit(CommandJob(**COMMAND), "command:T1:2.2")
    intake.close()
    (job,) = ledger.claim(datetime.now(UTC), limit=1, claimer="w", lease=timedelta(seconds=5))
    assert job.request_id == "rid-from-the-ack"


def test_a_job_that_cant_be_saved_is_logged_without_its_payload(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Before: the database error logged with it carried the insert's parameters, so the payload
    (what the person typed, their response_url) reached the log."""
    engine = make_engine(f"sqlite:///{tmp_path / 'no-tables.db'}")  # no jobs table: insert fails
    intake = GroupCommit(engine)
    try:
        jobs = DurableJobs(intake)  # what listeners write to
        with caplog.at_level(logging.INFO):
            saved = jobs.submit(CommandJob(**{**COMMAND, "text": "add Quarterly"}), "c:T1:3")
    finally:
        intake.close()
        engine.dispose()
    assert not saved
    written = "\n".join(caplog.text.splitlines())
    assert "could not save a command job" in written
    for secret in ("Quarterly", "s3cret", "hooks.slack.com"):
        assert secret not in written
