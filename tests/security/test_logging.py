"""Logs: no bodies, payloads, response_urls or tokens at any level; one line per event, whatever
people type; ``LOG_FORMAT=json`` carries a request id from a request's ack to its job."""

from __future__ import annotations

import io
import json
import logging
import queue
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from bot.config import Settings
from bot.logs import configure_logging, current_request_id, request_id_bound
from bot.slack.background import REQUEST_ID, ThreadBackground
from bot.work_process import WorkerProcess
from tests.e2e.conftest import ANA, TOKEN, Taskbot
from tests.e2e.test_user_map import answer

FORGED = "2026-12-03 04:00:00,000 ERROR bot.service.user_links: admin UADMIN linked"
TYPED = f"Quarterly report\n{FORGED}"


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
    taskbot.app.slack.close(wait=True)  # every job has finished (and logged)
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


class DeadPipe:
    def send(self, item: Any) -> None:
        raise OSError("the worker is gone")


def test_a_dropped_job_is_logged_without_its_payload(caplog: pytest.LogCaptureFixture) -> None:
    """The worker process keeps dying: the job is dropped and logged by name only."""
    worker = WorkerProcess.__new__(WorkerProcess)  # its feeder alone, on a pipe that fails
    worker._outbox = queue.SimpleQueue()
    worker._pipe = DeadPipe()  # type: ignore[assignment]
    worker._restart = lambda: None  # type: ignore[method-assign]
    body = {"token": "verification-token", "response_url": "https://hooks.slack.com/x/1/s3cret"}
    worker.submit("command", {"command": {**body, "text": TYPED}})
    worker._outbox.put(None)
    with caplog.at_level(logging.ERROR):
        worker._feed()
    (dropped, _) = [r.getMessage() for r in caplog.records]
    assert "command" in dropped
    for secret in ("s3cret", "verification-token", "Quarterly", "hooks.slack.com"):
        assert secret not in dropped


def test_log_format_is_a_setting() -> None:
    base: dict[str, Any] = {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "s"}
    assert Settings(_env_file=None, **base).LOG_FORMAT == "text"  # type: ignore[call-arg]
    assert Settings(_env_file=None, LOG_FORMAT="JSON", **base).LOG_FORMAT == "json"  # type: ignore[call-arg]


def test_the_request_id_travels_with_a_job_to_the_worker_process() -> None:
    """A job handed to the worker process carries its request id; the worker's thread pool runs
    the job with that id bound, so the job's lines there carry it too."""
    worker = WorkerProcess.__new__(WorkerProcess)  # its outbox alone: what goes down the pipe
    worker._outbox = queue.SimpleQueue()
    with request_id_bound("rid-from-the-ack"):
        worker.submit("command", {"command": {"text": "x"}})
    job, payload = worker._outbox.get()
    assert payload[REQUEST_ID] == "rid-from-the-ack"
    seen: list[str | None] = []
    done = threading.Event()
    pool = ThreadBackground(workers=1)  # as in the worker process, which gets the payload as is

    def runner(name: str, data: dict[str, Any]) -> None:
        seen.append(current_request_id())
        done.set()

    pool.start(runner)
    pool.submit(job, payload)
    assert done.wait(5)
    pool.shutdown()
    assert seen == ["rid-from-the-ack"]
