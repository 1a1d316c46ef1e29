"""Due instants across zones and DST, handles, and the task's derived facts."""

from __future__ import annotations

from datetime import UTC, date, datetime, time

import pytest
from pydantic import ValidationError

from bot.domain.models import Due, Status, format_handle, parse_handle


def test_due_with_a_time_is_read_in_its_authors_zone() -> None:
    due = Due(date=date(2026, 12, 1), time=time(9, 0), tz="Asia/Tokyo")
    assert due.instant() == datetime(2026, 12, 1, 0, 0, tzinfo=UTC)
    assert due.instant("America/New_York") == due.instant()  # a time doesn't move per reader


def test_date_only_is_the_end_of_the_readers_working_day() -> None:
    due = Due(date=date(2026, 12, 1), tz="Europe/Paris")
    assert due.instant("Asia/Tokyo") == datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    assert due.instant() == datetime(2026, 12, 1, 17, 0, tzinfo=UTC)  # Paris, winter time
    assert due.instant("Nowhere/Unknown") == datetime(2026, 12, 1, 18, 0, tzinfo=UTC)


def test_dst_change_is_respected() -> None:
    before = Due(date=date(2026, 3, 28), time=time(9, 0), tz="Europe/Berlin").instant()
    after = Due(date=date(2026, 3, 30), time=time(9, 0), tz="Europe/Berlin").instant()
    assert (before.hour, after.hour) == (8, 7)


def test_unknown_zone_is_refused() -> None:
    with pytest.raises(ValidationError, match="unknown time zone"):
        Due(date=date(2026, 1, 1), tz="Mars/Olympus")


@pytest.mark.parametrize(
    ("text", "number"),
    [("T-42", 42), ("t42", 42), ("#T-7", 7), ("42", 42), (" T-3 ", 3), ("X-1", None), ("", None)],
)
def test_handles(text: str, number: int | None) -> None:
    assert parse_handle(text) == number


def test_format_handle() -> None:
    assert format_handle(12) == "T-12"


def test_status_codes_follow_the_usertasks_api() -> None:
    assert [s.code for s in Status] == [0, 1, 2, 3, 4]
    assert Status.from_code(1) is Status.REOPENED
