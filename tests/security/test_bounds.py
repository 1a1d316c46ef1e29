"""Bounds: a due more than 50 years ahead is refused with a clear message (not an overflow), every
text the store keeps has one bound, and a sync pass isolates each task's failure."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy.orm import Session, sessionmaker

from bot.backends import paymo
from bot.domain import models, rules
from bot.domain.models import Attachment, AttachmentKind, Due
from bot.slack import ids
from storage import tables
from tests.backends.test_paymo import NOW, draft, make_backend
from tests.backends.test_paymo import TEAM as PAYMO_TEAM
from tests.e2e.conftest import TEAM, Taskbot
from tests.e2e.test_surfaces import form, stored_tasks
from tests.e2e.test_user_map import answer
from tests.slack_requests import view_submission
from tests.stubs.paymo_api import PaymoSimulator, paymo_simulator

WEST = "UWESTCOAST"  # a person in UTC-8, where 18:00 on 9999-12-31 is past year 9999 in UTC


@pytest.fixture
def westerner(taskbot: Taskbot) -> str:
    taskbot.slack.add_user(TEAM, WEST, tz="America/Los_Angeles", name="west")
    return WEST


def test_a_due_fifty_years_ahead_is_refused_in_the_command(
    taskbot: Taskbot, westerner: str
) -> None:
    refused = answer(taskbot, f"add Far away <@{westerner}|w> due:9999-12-31", westerner, "c")
    assert "more than 50 years away" in refused and "Something went wrong" not in refused
    assert stored_tasks(taskbot) == []


def test_a_due_fifty_years_ahead_is_a_field_error_in_the_modal(
    taskbot: Taskbot, westerner: str
) -> None:
    answered = taskbot.send(
        view_submission(ids.VIEW_CREATE, form(date="9999-12-31"), user_id=westerner, team_id=TEAM)
    )
    assert answered.status_code == 200
    body = answered.json()
    assert body["response_action"] == "errors"
    assert "more than 50 years away" in body["errors"][ids.BLOCK_DUE_DATE]


def test_the_latest_due_accepted_is_exactly_fifty_years_ahead() -> None:
    now = datetime(2028, 2, 29, 12, 0, tzinfo=UTC)
    last = rules.latest_due_date(now)
    assert last.isoformat() == "2078-02-28"
    assert rules.due_error(Due(date=last, tz="America/Los_Angeles"), now) is None
    later = Due(date=last + timedelta(days=1), tz="UTC")
    assert "50 years" in (rules.due_error(later, now) or "")


def test_every_bounded_text_fits_its_column() -> None:
    """The bound is defined once, in the domain; the store's columns hold at least that much."""
    bounded = {
        tables.TaskRow.title: models.TITLE_MAX,
        tables.AttachmentRow.title: models.ATTACHMENT_TITLE_MAX,
        tables.AttachmentRow.entity_type: models.ENTITY_ID_MAX,
        tables.AttachmentRow.entity_id: models.ENTITY_ID_MAX,
    }
    for column, bound in bounded.items():
        length = column.property.columns[0].type.length
        assert length is None or length >= bound, column
    attachment = rules.bounded_attachment(
        Attachment(kind=AttachmentKind.ENTITY, title="x" * 500, entity_type="t" * 100)
    )
    assert len(attachment.title) == models.ATTACHMENT_TITLE_MAX
    assert len(attachment.entity_type or "") == models.ENTITY_ID_MAX


@pytest.fixture
def sim() -> PaymoSimulator:
    with paymo_simulator("paymo-key") as simulator:
        simulator.add_user(241185, "ana@example.com")
        simulator.add_user(241186, "ben@example.com")
        yield simulator  # type: ignore[misc]


def three_tasks(sim: PaymoSimulator, backend: paymo.PaymoBackend) -> list[int]:
    for _ in range(3):
        backend.create(draft(), NOW)
    return sorted(sim.tasks)


def test_a_long_remote_title_is_cut_to_the_bound_and_the_pass_goes_on(
    sim: PaymoSimulator, sessions: sessionmaker[Session]
) -> None:
    backend = make_backend(sim, sessions)
    first, second, third = three_tasks(sim, backend)
    sim.edit_task(first, name="A" * 300, description="d" * 5000)
    sim.edit_task(third, name="Renamed in Paymo")
    changed = backend.pull(NOW + timedelta(minutes=1))
    assert [change.after.handle for change in changed] == ["T-1", "T-3"]
    stored = backend.get(PAYMO_TEAM, "T-1")
    assert len(stored.title) == models.TITLE_MAX and stored.title.endswith("…")
    assert len(stored.description) == models.DESCRIPTION_MAX
    assert backend.get(PAYMO_TEAM, "T-3").title == "Renamed in Paymo"
    assert backend.pull(NOW + timedelta(minutes=2)) == []  # the cut title is not a new change
    assert second


def test_one_task_failing_in_a_sync_pass_does_not_stop_the_others(
    sim: PaymoSimulator, sessions: sessionmaker[Session], caplog: pytest.LogCaptureFixture
) -> None:
    backend = make_backend(sim, sessions)
    first, second, third = three_tasks(sim, backend)
    sim.edit_task(first, due_date="not a date")  # malformed: this task can't be read
    sim.edit_task(second, due_date="9999-12-31")  # past the bound: refused for this task
    sim.edit_task(third, name="Renamed in Paymo")
    with caplog.at_level(logging.WARNING):
        changed = backend.pull(NOW + timedelta(minutes=1))
    assert [change.after.handle for change in changed] == ["T-3"]
    assert backend.get(PAYMO_TEAM, "T-3").title == "Renamed in Paymo"
    assert backend.get(PAYMO_TEAM, "T-2").due == draft().due
    messages = [r.getMessage() for r in caplog.records]
    assert any("T-1" in m for m in messages) and any("T-2" in m and "far" in m for m in messages)


@pytest.mark.parametrize("path", ["/slack/events", "/healthz", "/nowhere"])
def test_a_body_over_one_megabyte_is_refused_before_it_is_read(taskbot: Taskbot, path: str) -> None:
    url = f"http://127.0.0.1:{taskbot.server.port}{path}"
    before = len(taskbot.slack.calls())
    answered = httpx.post(url, content=b"x" * 1_000_001, timeout=10)
    assert answered.status_code == 413
    assert len(taskbot.slack.calls()) == before
