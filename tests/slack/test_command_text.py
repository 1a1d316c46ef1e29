"""The /task text parser: subcommands, mentions as Slack escapes them, quick-add options."""

from __future__ import annotations

from datetime import UTC, date, datetime, time

import pytest

from bot.domain.models import Assignee, BackendCapabilities, CompletionCondition
from bot.slack.command_text import (
    SUBCOMMANDS,
    UsageError,
    help_text,
    mentions,
    parse,
    parse_quick_add,
    parse_when,
)

MONDAY_NOON = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)  # a Monday


def test_empty_text_is_help() -> None:
    assert parse("  ").name == "help"


def test_unknown_subcommand_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="don't know `/task frobnicate`"):
        parse("frobnicate T-1")


@pytest.mark.parametrize("name", ["done", "undo", "show", "reopen", "delete"])
def test_handle_commands_need_a_handle(name: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse(name)
    assert caught.value.usage == SUBCOMMANDS[name]


def test_assign_reads_escaped_mentions() -> None:
    cmd = parse("assign T-4 <@U123|ana> <!subteam^S9|@ops> <@W77>")
    assert cmd.handle == "T-4"
    assert cmd.mentions == (Assignee.user("U123"), Assignee.group("S9"), Assignee.user("W77"))


def test_assign_without_mentions_is_refused() -> None:
    with pytest.raises(UsageError, match="@person or @group"):
        parse("assign T-4 ana")


def test_comment_keeps_its_text() -> None:
    cmd = parse("comment t-4   looks good to me ")
    assert (cmd.handle, cmd.rest) == ("t-4", "looks good to me")


def test_aliases() -> None:
    assert parse("ls").name == "list"
    assert parse("complete T-1").name == "done"


def test_mentions_are_unique_and_ordered() -> None:
    assert mentions("<@U1> <@U2|b> <@U1|a>") == (Assignee.user("U1"), Assignee.user("U2"))


def test_quick_add_title_may_contain_any_and_all() -> None:
    quick = parse_quick_add(
        "Email all customers <@U1|ana> <!subteam^S9|@ops> due:tomorrow 15:00 all",
        MONDAY_NOON,
        "Europe/Paris",
    )
    assert quick.title == "Email all customers"
    assert quick.assignees == (Assignee.user("U1"), Assignee.group("S9"))
    assert quick.condition is CompletionCondition.MUST_ALL
    assert quick.due is not None
    assert (quick.due.date, quick.due.time, quick.due.tz) == (
        date(2026, 11, 24),
        time(15, 0),
        "Europe/Paris",
    )
    assert quick.problems == {}


def test_quick_add_reports_unreadable_parts_per_field() -> None:
    quick = parse_quick_add("Fix <@U1> due:someday banana", MONDAY_NOON, None)
    assert set(quick.problems) == {"due", "title"}
    assert "someday" in quick.problems["due"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-12-01", (date(2026, 12, 1), None)),
        ("2026-12-01T09:30", (date(2026, 12, 1), time(9, 30))),
        ("today", (date(2026, 11, 23), None)),
        ("tomorrow@8.30", (date(2026, 11, 24), time(8, 30))),
        ("fri", (date(2026, 11, 27), None)),
        ("friday@9:00", (date(2026, 11, 27), time(9, 0))),
        ("tue", (date(2026, 11, 24), None)),
        ("thu", (date(2026, 11, 26), None)),
        ("mon", (date(2026, 11, 30), None)),  # next Monday, not today
        ("17:00", (date(2026, 11, 23), time(17, 0))),
    ],
)
def test_parse_when(text: str, expected: tuple[date, time | None]) -> None:
    assert parse_when(text, MONDAY_NOON, "UTC") == expected


def test_today_is_the_readers_today() -> None:
    late_evening_utc = datetime(2026, 11, 23, 23, 30, tzinfo=UTC)
    assert parse_when("today", late_evening_utc, "Asia/Tokyo")[0] == date(2026, 11, 24)


def test_help_lists_every_subcommand() -> None:
    text = help_text()
    assert all(usage in text for usage in SUBCOMMANDS.values())


def test_unassign_without_mentions_parses_and_help_tells_one_assignee_semantics() -> None:
    assert parse("unassign T-4") == parse("unassign T-4 ")
    assert parse("unassign T-4").mentions == ()
    one = BackendCapabilities(multi_assignee=False, label="Maxsight")
    text = help_text(one)
    assert "One assignee per task in Maxsight: assigning replaces" in text
    assert "`/task unassign T-n` — leave it with nobody" in text
    assert "One assignee" not in help_text(BackendCapabilities())
