"""Settings: each rule, the offsets syntax, and secrets never shown."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.config import SettingsError, load_settings, parse_offsets

BASE = {
    "_env_file": None,
    "SLACK_BOT_TOKEN": "xoxb-secret-token",
    "SLACK_SIGNING_SECRET": "sig-secret",
}


def problems(**values: object) -> list[str]:
    with pytest.raises(SettingsError) as caught:
        load_settings(**values)
    return caught.value.lines


def test_nothing_set_names_what_to_set() -> None:
    lines = problems(_env_file=None)
    assert any(line.startswith("SLACK_BOT_TOKEN is required") for line in lines)
    assert any(line.startswith("SLACK_SIGNING_SECRET is required in HTTP mode") for line in lines)


def test_socket_mode_needs_no_signing_secret() -> None:
    settings = load_settings(_env_file=None, SLACK_BOT_TOKEN="xoxb-1", SLACK_APP_TOKEN="xapp-1")
    assert settings.socket_mode


def test_unavailable_backend_and_bad_values_are_one_line_each() -> None:
    assert [line.split(" ")[0] for line in problems(**BASE, TASK_BACKEND="lineworks")] == [
        "LINEWORKS_CLIENT_ID",
        "LINEWORKS_CLIENT_SECRET",
        "TASKBOT_SECRET_KEY",
    ]
    lines = problems(**BASE, TASK_BACKEND="jira")
    assert any(line.startswith("TASK_BACKEND") for line in lines)
    assert [line.split(" ")[0] for line in problems(**BASE, TASK_BACKEND="maxsight")] == [
        "MAXSIGHT_API_URL",
        "MAXSIGHT_API_KEY",
    ]
    assert [line.split(" ")[0] for line in problems(**BASE, TASK_BACKEND="struct_pim")] == [
        "STRUCT_PIM_API_URL",
        "STRUCT_PIM_API_KEY",
    ]
    lines = problems(**BASE, TASK_BACKEND="paymo")
    assert lines == [
        "PAYMO_API_KEY is required for TASK_BACKEND=paymo (My Account)",
        "PAYMO_PROJECT_ID or PAYMO_TASKLIST_ID is required for TASK_BACKEND=paymo "
        "(where new tasks go)",
    ]
    settings = load_settings(**BASE, TASK_BACKEND="paymo", PAYMO_API_KEY="k", PAYMO_TASKLIST_ID="9")
    assert settings.PAYMO_TASKLIST_ID == 9
    lines = problems(**BASE, REMINDER_SWEEP_SECONDS="0", REMINDER_OFFSETS="1x")
    assert [line.split(":")[0] for line in lines] == ["REMINDER_OFFSETS", "REMINDER_SWEEP_SECONDS"]
    lines = problems(**BASE, TASK_BACKEND="jira")
    assert any(line.startswith("TASK_BACKEND") for line in lines)


def test_defaults_and_parsing() -> None:
    settings = load_settings(
        **BASE, TASKBOT_ADMINS="U1, U2,", SLACK_API_URL="http://127.0.0.1:9/api"
    )
    assert settings.DATABASE_URL == "sqlite:///taskbot.db" and settings.TASK_BACKEND == "local"
    assert settings.REMINDER_OFFSETS == (timedelta(hours=24), timedelta(hours=1), timedelta(0))
    assert settings.TASKBOT_ADMINS == frozenset({"U1", "U2"})
    assert settings.SLACK_API_URL == "http://127.0.0.1:9/api/"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "24h,1h,0,-1d",
            (timedelta(hours=24), timedelta(hours=1), timedelta(0), timedelta(days=-1)),
        ),
        ("30m, 2w ,90s", (timedelta(minutes=30), timedelta(weeks=2), timedelta(seconds=90))),
        ("0", (timedelta(0),)),
    ],
)
def test_offsets(text: str, expected: tuple[timedelta, ...]) -> None:
    assert parse_offsets(text) == expected


@pytest.mark.parametrize("text", ["1x", "h", "12", "-"])
def test_bad_offsets(text: str) -> None:
    with pytest.raises(ValueError, match="not a duration"):
        parse_offsets(text)


def test_secrets_are_never_printed() -> None:
    settings = load_settings(**BASE)
    shown = repr(settings) + str(settings)
    assert "xoxb-secret-token" not in shown and "sig-secret" not in shown
    lines = problems(SLACK_BOT_TOKEN="xoxb-secret-token", _env_file=None)
    assert "xoxb-secret-token" not in "\n".join(lines)


def test_job_threads_are_few_only_with_the_embedded_store_on_sqlite() -> None:
    """There more threads only stretch SQLite's write turns; a task API's jobs wait (network,
    rate budget) in their threads, and PostgreSQL's writers don't take turns."""
    settings = load_settings(**BASE)
    assert settings.job_worker_threads == 4
    assert settings.model_copy(update={"TASK_BACKEND": "paymo"}).job_worker_threads == 16
    postgres = settings.model_copy(update={"DATABASE_URL": "postgresql://db/taskbot"})
    assert postgres.job_worker_threads == 16
    assert load_settings(**BASE, JOB_WORKER_THREADS=2).job_worker_threads == 2
