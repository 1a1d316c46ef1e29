"""Settings from the environment (and ``.env``), validated once at start.

Every problem becomes one line naming the variable, so a new user knows what to set; secrets are
``SecretStr`` and never printed; a secret set to a blank value is refused, not taken as unset.
Imports pydantic and ``bot.keys`` (what a strong ``TASKBOT_SECRET_KEY`` is).
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Literal

from pydantic import (
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from bot.keys import key_problem

BackendName = Literal["local", "struct_pim", "lineworks", "maxsight", "paymo"]
AVAILABLE_BACKENDS = ("local", "struct_pim", "lineworks", "maxsight", "paymo")
_DURATION = re.compile(r"^\s*(-?)(\d+)\s*([smhdw]?)\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "": 1}


def parse_offsets(text: str) -> tuple[timedelta, ...]:
    """``24h,1h,0,-1d`` → durations; positive = before due, negative = after (repeating)."""
    offsets: list[timedelta] = []
    for item in text.split(","):
        if not item.strip():
            continue
        match = _DURATION.match(item)
        if match is None or (match.group(3) == "" and match.group(2) != "0"):
            raise ValueError(
                f"{item.strip()!r} is not a duration; use a number with s, m, h, d or w "
                "(e.g. 24h,1h,0,-1d)"
            )
        sign = -1 if match.group(1) else 1
        offsets.append(timedelta(seconds=sign * int(match.group(2)) * _UNITS[match.group(3)]))
    return tuple(offsets)


def secret_problem(name: str, value: object) -> str | None:
    """Why a secret setting can't be used: blank (any of them), or a weak secret key."""
    if not isinstance(value, SecretStr):
        return None
    text = value.get_secret_value()
    if name == "TASKBOT_SECRET_KEY":
        return key_problem(text)
    if not text.strip():
        return "is set but blank; give it a value, or remove it to leave it unset"
    return None


class CheckedSettings(BaseSettings):
    """Base of the settings classes: a blank secret or a weak key is refused, by name."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", case_sensitive=True)

    @field_validator("*", mode="after")
    @classmethod
    def _secrets(cls, value: object, info: ValidationInfo) -> object:
        problem = secret_problem(info.field_name or "", value)
        if problem:
            raise ValueError(problem)
        return value


class Settings(CheckedSettings):
    SLACK_BOT_TOKEN: SecretStr | None = None
    SLACK_SIGNING_SECRET: SecretStr | None = None
    SLACK_APP_TOKEN: SecretStr | None = None
    SLACK_CLIENT_ID: str | None = None
    SLACK_CLIENT_SECRET: SecretStr | None = None
    SLACK_API_URL: str = "https://slack.com/api/"
    DATABASE_URL: str = "sqlite:///taskbot.db"
    TASK_BACKEND: BackendName = "local"
    REMINDER_OFFSETS: Annotated[tuple[timedelta, ...], NoDecode] = Field(
        default_factory=lambda: parse_offsets("24h,1h,0")
    )
    REMINDER_SWEEP_SECONDS: float = Field(default=30, gt=0)
    REMINDER_ESCALATE_AFTER: Annotated[timedelta | None, NoDecode] = timedelta(hours=24)
    REMINDER_LEASE_SECONDS: float = Field(default=120, gt=0)
    BACKEND_SYNC_SECONDS: float = Field(default=60, gt=0)
    CARD_SWEEP_SECONDS: float = Field(default=10, gt=0)
    MIGRATE_ON_START: bool = True
    HEARTBEAT_SECONDS: float = Field(default=10, gt=0)
    READY_ROLES: Annotated[frozenset[str], NoDecode] = frozenset({"worker", "scheduler"})
    READY_MAX_JOB_AGE_SECONDS: float = Field(default=300, gt=0)
    TASKBOT_ADMINS: Annotated[frozenset[str], NoDecode] = frozenset()
    TASKBOT_SECRET_KEY: SecretStr | None = None
    TASKBOT_SECRET_KEY_OLD: SecretStr | None = None
    LOG_LEVEL: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    LOG_FORMAT: Literal["text", "json"] = "text"
    STRUCT_PIM_API_URL: str | None = None
    STRUCT_PIM_API_KEY: SecretStr | None = None
    LINEWORKS_API_URL: str = "https://www.worksapis.com/v1.0/"
    LINEWORKS_AUTH_URL: str = "https://auth.worksmobile.com/oauth2/v2.0/"
    LINEWORKS_CLIENT_ID: str | None = None
    LINEWORKS_CLIENT_SECRET: SecretStr | None = None
    LINEWORKS_REFRESH_TOKEN: SecretStr | None = None
    TASKBOT_PUBLIC_URL: str | None = None
    MAXSIGHT_API_URL: str | None = None
    MAXSIGHT_API_KEY: SecretStr | None = None
    MAXSIGHT_ACTOR_ID: str | None = None
    PAYMO_API_URL: str = "https://app.paymoapp.com/api/"
    PAYMO_API_KEY: SecretStr | None = None
    PAYMO_PROJECT_ID: int | None = None
    PAYMO_TASKLIST_ID: int | None = None
    PAYMO_WEBHOOK_SECRET: SecretStr | None = None
    WORK_PROCESS: bool = True
    TASK_API_MAX_WAIT_SECONDS: float = Field(default=90, gt=0)
    LINEWORKS_RATE_LIMIT: int = Field(default=60, ge=1)
    LINEWORKS_RATE_WINDOW_SECONDS: float = Field(default=60, gt=0)
    PAYMO_RATE_LIMIT: int = Field(default=5, ge=1)
    PAYMO_RATE_WINDOW_SECONDS: float = Field(default=5, gt=0)
    MAXSIGHT_RATE_LIMIT: int = Field(default=60, ge=1)  # undocumented: see bot.backends.maxsight
    MAXSIGHT_RATE_WINDOW_SECONDS: float = Field(default=60, gt=0)
    STRUCT_PIM_RATE_LIMIT: int = Field(default=10, ge=1)
    STRUCT_PIM_RATE_WINDOW_SECONDS: float = Field(default=1, gt=0)
    JOB_LEASE_SECONDS: float = Field(default=20, gt=0)
    JOB_POLL_SECONDS: float = Field(default=0.25, gt=0)
    JOB_MAX_ATTEMPTS: int = Field(default=5, ge=1)
    # Unset: 4 with the embedded store on SQLite, else 16 (see ``job_worker_threads``).
    JOB_WORKER_THREADS: int | None = Field(default=None, ge=1)

    @field_validator("REMINDER_OFFSETS", mode="before")
    @classmethod
    def _offsets(cls, value: object) -> object:
        return parse_offsets(value) if isinstance(value, str) else value

    @field_validator("REMINDER_ESCALATE_AFTER", mode="before")
    @classmethod
    def _escalate(cls, value: object) -> object:
        """``24h``, ``2d``…; ``off`` (or empty) turns escalation off."""
        if not isinstance(value, str):
            return value
        if value.strip().lower() in ("", "off", "none", "never"):
            return None
        (after,) = parse_offsets(value) or (None,)
        if after is None or after < timedelta(0):
            raise ValueError("use a positive duration such as 24h or 2d, or off")
        return after

    @field_validator("READY_ROLES", mode="after")
    @classmethod
    def _ready_roles(cls, value: frozenset[str]) -> frozenset[str]:
        unknown = sorted(value - {"worker", "scheduler"})
        if unknown:
            raise ValueError(f"unknown role(s) {', '.join(unknown)}; use worker and/or scheduler")
        return value

    @field_validator("TASKBOT_ADMINS", "READY_ROLES", mode="before")
    @classmethod
    def _admins(cls, value: object) -> object:
        if isinstance(value, str):
            return frozenset(v.strip() for v in value.split(",") if v.strip())
        return value

    @field_validator("SLACK_API_URL")
    @classmethod
    def _api_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http(s) URL such as https://slack.com/api/")
        return value if value.endswith("/") else value + "/"

    @field_validator("LOG_LEVEL", mode="before")
    @classmethod
    def _level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("LOG_FORMAT", mode="before")
    @classmethod
    def _format(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    @property
    def socket_mode(self) -> bool:
        return self.SLACK_APP_TOKEN is not None

    @property
    def work_process(self) -> bool:
        """After-ack work in its own process, unless the store lives in this one's memory."""
        url = self.DATABASE_URL
        in_memory = url in ("sqlite://", "sqlite:///:memory:") or "mode=memory" in url
        return self.WORK_PROCESS and not in_memory

    @property
    def job_worker_threads(self) -> int:
        """Jobs one worker runs at once: ``JOB_WORKER_THREADS``, else 4 with the embedded store
        on SQLite and 16 otherwise.

        There a job is Python and SQL, and every ack waits for SQLite's one write turn. Job
        threads running Python at the same time stretch each other's turns through the GIL: at
        8 keep-alive clients the worker's turns lasted p90 6.6 ms with 8 threads and 1.6 ms with
        1, and the ack p99 went from 1.7x the bare Bolt app's (16 threads) to 1.25-1.46x (2-4).
        The same 10,000 requests drained in the same time with 2 to 16, and each thread's heap
        stays with the process (bench.rss: 152 MB with 16, 147 MB with 4). On PostgreSQL writers
        don't take turns, and 16 threads drained the soak's 45,000 jobs in 718 s against 1,134 s
        with 4. A task API's job mostly waits (network, its rate budget for up to
        ``TASK_API_MAX_WAIT_SECONDS``): 4 such waits would hold up every job behind them."""
        if self.JOB_WORKER_THREADS is not None:
            return self.JOB_WORKER_THREADS
        embedded_on_sqlite = self.TASK_BACKEND == "local" and self.DATABASE_URL.startswith("sqlite")
        return 4 if embedded_on_sqlite else 16

    @property
    def oauth(self) -> bool:
        return bool(self.SLACK_CLIENT_ID and self.SLACK_CLIENT_SECRET)

    @model_validator(mode="after")
    def _modes(self) -> Settings:
        problems: list[str] = []
        if self.SLACK_BOT_TOKEN is None and not self.oauth:
            problems.append(
                "SLACK_BOT_TOKEN is required (the Bot User OAuth Token, xoxb-…, from your app's "
                "OAuth & Permissions page)"
            )
        if self.oauth and self.SLACK_BOT_TOKEN is None:
            problems.append(
                "SLACK_CLIENT_ID/SLACK_CLIENT_SECRET: multi-workspace OAuth install is not "
                "supported yet; set SLACK_BOT_TOKEN for a single workspace"
            )
        if not self.socket_mode and self.SLACK_SIGNING_SECRET is None:
            problems.append(
                "SLACK_SIGNING_SECRET is required in HTTP mode (Basic Information → Signing "
                "Secret), or set SLACK_APP_TOKEN to use Socket Mode"
            )
        if self.TASKBOT_SECRET_KEY_OLD is not None and self.TASKBOT_SECRET_KEY is None:
            problems.append(
                "TASKBOT_SECRET_KEY_OLD needs TASKBOT_SECRET_KEY, the key that replaces it"
            )
        if self.TASK_BACKEND not in AVAILABLE_BACKENDS:
            problems.append(
                f"TASK_BACKEND={self.TASK_BACKEND} is not available yet; "
                f"use one of: {', '.join(AVAILABLE_BACKENDS)}"
            )
        if self.TASK_BACKEND == "struct_pim":
            if not self.STRUCT_PIM_API_URL:
                problems.append(
                    "STRUCT_PIM_API_URL is required for TASK_BACKEND=struct_pim (the API URL "
                    "shown with the key in Settings → API configuration)"
                )
            if self.STRUCT_PIM_API_KEY is None:
                problems.append("STRUCT_PIM_API_KEY is required for TASK_BACKEND=struct_pim")
        if self.TASK_BACKEND == "lineworks":
            for name in ("LINEWORKS_CLIENT_ID", "LINEWORKS_CLIENT_SECRET", "TASKBOT_SECRET_KEY"):
                if getattr(self, name) is None:
                    problems.append(f"{name} is required for TASK_BACKEND=lineworks")
        if self.TASK_BACKEND == "maxsight":
            if not self.MAXSIGHT_API_URL:
                problems.append(
                    "MAXSIGHT_API_URL is required for TASK_BACKEND=maxsight (your region's base, "
                    "e.g. https://api.eu.maxsight.com/)"
                )
            if self.MAXSIGHT_API_KEY is None:
                problems.append("MAXSIGHT_API_KEY is required for TASK_BACKEND=maxsight")
        if self.TASK_BACKEND == "paymo":
            if self.PAYMO_API_KEY is None:
                problems.append("PAYMO_API_KEY is required for TASK_BACKEND=paymo (My Account)")
            if self.PAYMO_PROJECT_ID is None and self.PAYMO_TASKLIST_ID is None:
                problems.append(
                    "PAYMO_PROJECT_ID or PAYMO_TASKLIST_ID is required for TASK_BACKEND=paymo "
                    "(where new tasks go)"
                )
        if problems:
            raise ValueError("\n".join(problems))
        return self


class KeySettings(CheckedSettings):
    """What ``taskbot secrets rotate`` needs: the store and the keys, nothing of Slack."""

    DATABASE_URL: str = "sqlite:///taskbot.db"
    TASKBOT_SECRET_KEY: SecretStr | None = None
    TASKBOT_SECRET_KEY_OLD: SecretStr | None = None

    @model_validator(mode="after")
    def _key_set(self) -> KeySettings:
        if self.TASKBOT_SECRET_KEY is None:
            raise ValueError(
                "TASKBOT_SECRET_KEY is required: the new key, which seals everything again "
                "(TASKBOT_SECRET_KEY_OLD is the one it replaces)"
            )
        return self

    @property
    def keys(self) -> tuple[str, str | None]:
        """(current, old) as text."""
        assert self.TASKBOT_SECRET_KEY is not None
        old = self.TASKBOT_SECRET_KEY_OLD
        return self.TASKBOT_SECRET_KEY.get_secret_value(), old.get_secret_value() if old else None


class StoreSettings(CheckedSettings):
    """What the offline commands need (``users``, ``db upgrade``, ``status``): the store, and
    Slack's token only for ``users import`` of a file with emails."""

    DATABASE_URL: str = "sqlite:///taskbot.db"
    SLACK_BOT_TOKEN: SecretStr | None = None
    SLACK_API_URL: str = "https://slack.com/api/"
    MIGRATE_ON_START: bool = True
    HEARTBEAT_SECONDS: float = Field(default=10, gt=0)

    @field_validator("SLACK_API_URL")
    @classmethod
    def _api_url(cls, value: str) -> str:
        return Settings._api_url(value)


def load_store_settings() -> StoreSettings:
    """The store settings from the environment; problems as lines, like ``load_settings``."""
    try:
        return StoreSettings()
    except ValidationError as exc:
        raise SettingsError(describe(exc)) from None


class SettingsError(Exception):
    """Settings that can't start the bot; ``lines`` are written for the person running it."""

    def __init__(self, lines: list[str]) -> None:
        super().__init__("\n".join(lines))
        self.lines = lines


def load_settings(**overrides: object) -> Settings:
    """Settings from the environment; every problem becomes one line (no values echoed)."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        raise SettingsError(describe(exc)) from None


def load_key_settings(**overrides: object) -> KeySettings:
    """The key settings from the environment; problems as lines, like ``load_settings``."""
    try:
        return KeySettings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        raise SettingsError(describe(exc)) from None


def describe(error: ValidationError) -> list[str]:
    lines: list[str] = []
    for item in error.errors(include_input=False, include_url=False):
        where = ".".join(str(p) for p in item["loc"])
        message = str(item["msg"]).removeprefix("Value error, ")
        if where:
            lines.append(f"{where}: {message}")
        else:
            lines.extend(message.splitlines())
    return lines
