"""Task backends behind one protocol, chosen by ``TASK_BACKEND``.

Each module here talks to one task system (httpx for the remote ones) and maps its wire format to
domain models. Imports ``bot.domain``, ``bot.service.ports`` and, for ``local``, ``storage``;
never Slack. Every remote client takes its turns in one ``RateBudget``: the composition root
hands in the database's, shared by every process (built here from ``sessions`` otherwise).
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import import_module

from sqlalchemy.orm import Session, sessionmaker

from bot.backends.ratelimit import RateBudget
from bot.domain.models import BackendCapabilities
from bot.domain.rates import Rate
from bot.keys import Keys
from bot.service.ports import TaskBackend

Factory = Callable[[sessionmaker[Session], object | None, RateBudget], TaskBackend]


def _secret(settings: object | None, name: str) -> str:
    """A secret setting's value, or "" when unset (settings validation names what is missing)."""
    value = getattr(settings, name, None)
    return value.get_secret_value() if value is not None else ""


def secret_keys(settings: object | None) -> Keys:
    """The sealing and signing keys of ``TASKBOT_SECRET_KEY`` (and ``_OLD``, to read)."""
    secret = _secret(settings, "TASKBOT_SECRET_KEY")
    if not secret.strip():
        raise ValueError("TASKBOT_SECRET_KEY is required to keep tokens")
    return Keys(secret, _secret(settings, "TASKBOT_SECRET_KEY_OLD") or None)


def _wait(settings: object | None) -> float:
    """How long one call may wait for its turn in the rate budget."""
    return float(getattr(settings, "TASK_API_MAX_WAIT_SECONDS", 90))


def _rate(settings: object | None, prefix: str, calls: int, seconds: float) -> Rate:
    return Rate(
        calls=int(getattr(settings, f"{prefix}_RATE_LIMIT", calls)),
        seconds=float(getattr(settings, f"{prefix}_RATE_WINDOW_SECONDS", seconds)),
    )


def _local(
    sessions: sessionmaker[Session], settings: object | None, budget: RateBudget
) -> TaskBackend:
    from bot.backends.local import LocalBackend

    return LocalBackend(sessions)


def _paymo(
    sessions: sessionmaker[Session], settings: object | None, budget: RateBudget
) -> TaskBackend:
    from bot.backends import paymo
    from storage.local_tasks import SqlAlchemyTaskStore
    from storage.sync_marks import SqlAlchemySyncMarks
    from storage.user_map import SqlAlchemyUserMap

    return paymo.PaymoBackend(
        paymo.client(
            str(getattr(settings, "PAYMO_API_URL", paymo.DEFAULT_URL)),
            _secret(settings, "PAYMO_API_KEY"),
            rate=_rate(settings, "PAYMO", 5, 5.0),
            budget=budget,
            wait=_wait(settings),
        ),
        SqlAlchemyTaskStore(sessions),
        SqlAlchemyUserMap(sessions),
        project_id=getattr(settings, "PAYMO_PROJECT_ID", None),
        tasklist_id=getattr(settings, "PAYMO_TASKLIST_ID", None),
        marks=SqlAlchemySyncMarks(sessions),
    )


def _struct_pim(
    sessions: sessionmaker[Session], settings: object | None, budget: RateBudget
) -> TaskBackend:
    from bot.backends import struct_pim
    from storage.local_tasks import SqlAlchemyTaskStore
    from storage.sync_marks import SqlAlchemySyncMarks
    from storage.user_map import SqlAlchemyUserMap

    return struct_pim.StructPimBackend(
        struct_pim.client(
            str(getattr(settings, "STRUCT_PIM_API_URL", "") or ""),
            _secret(settings, "STRUCT_PIM_API_KEY"),
            rate=_rate(settings, "STRUCT_PIM", 10, 1.0),
            budget=budget,
            wait=_wait(settings),
        ),
        SqlAlchemyTaskStore(sessions),
        SqlAlchemyUserMap(sessions),
        SqlAlchemySyncMarks(sessions),
    )


def _maxsight(
    sessions: sessionmaker[Session], settings: object | None, budget: RateBudget
) -> TaskBackend:
    from bot.backends import maxsight
    from storage.external_versions import SqlAlchemyExternalVersions
    from storage.local_tasks import SqlAlchemyTaskStore
    from storage.user_map import SqlAlchemyUserMap

    return maxsight.MaxsightBackend(
        maxsight.client(
            str(getattr(settings, "MAXSIGHT_API_URL", "") or ""),
            _secret(settings, "MAXSIGHT_API_KEY"),
            rate=_rate(settings, "MAXSIGHT", 60, 60.0),
            budget=budget,
            wait=_wait(settings),
        ),
        SqlAlchemyTaskStore(sessions),
        SqlAlchemyUserMap(sessions),
        SqlAlchemyExternalVersions(sessions),
        actor_id=getattr(settings, "MAXSIGHT_ACTOR_ID", None),
    )


def _lineworks(
    sessions: sessionmaker[Session], settings: object | None, budget: RateBudget
) -> TaskBackend:
    from bot.backends import lineworks
    from bot.backends.http import ApiClient
    from storage.link_states import SqlAlchemyLinkStates
    from storage.local_tasks import SqlAlchemyTaskStore
    from storage.oauth_tokens import SqlAlchemyOAuthTokens
    from storage.user_map import SqlAlchemyUserMap

    auth_url = str(getattr(settings, "LINEWORKS_AUTH_URL", lineworks.DEFAULT_AUTH_URL))
    client_id = str(getattr(settings, "LINEWORKS_CLIENT_ID", "") or "")
    detail, hint = lineworks._detail, "the LINE WORKS client id, secret and tokens"
    api = ApiClient(
        "LINE WORKS",
        str(getattr(settings, "LINEWORKS_API_URL", lineworks.DEFAULT_API_URL)),
        detail=detail,
        key_hint=hint,
        budget=budget,
        wait=_wait(settings),
    )
    auth = ApiClient(
        "LINE WORKS sign-in",
        auth_url,
        detail=detail,
        key_hint=hint,
        budget=budget,
        wait=_wait(settings),
    )
    tokens = lineworks.Tokens(
        auth,
        SqlAlchemyOAuthTokens(sessions),
        secret_keys(settings),
        client_id=client_id,
        client_secret=_secret(settings, "LINEWORKS_CLIENT_SECRET"),
        operator_refresh=_secret(settings, "LINEWORKS_REFRESH_TOKEN") or None,
    )
    return lineworks.LineWorksBackend(
        api,
        tokens,
        SqlAlchemyLinkStates(sessions),
        SqlAlchemyTaskStore(sessions),
        SqlAlchemyUserMap(sessions),
        auth_url=auth_url,
        client_id=client_id,
        public_url=getattr(settings, "TASKBOT_PUBLIC_URL", None),
        rate=_rate(settings, "LINEWORKS", 60, 60.0),
    )


FACTORIES: dict[str, Factory] = {
    "lineworks": _lineworks,
    "local": _local,
    "struct_pim": _struct_pim,
    "paymo": _paymo,
    "maxsight": _maxsight,
}


_CLASSES = {
    "lineworks": ("bot.backends.lineworks", "LineWorksBackend"),
    "local": ("bot.backends.local", "LocalBackend"),
    "struct_pim": ("bot.backends.struct_pim", "StructPimBackend"),
    "paymo": ("bot.backends.paymo", "PaymoBackend"),
    "maxsight": ("bot.backends.maxsight", "MaxsightBackend"),
}


def capabilities_of(name: str) -> BackendCapabilities | None:
    """A backend's capabilities (its id shape) without building it, so offline commands need no
    API keys; None for a name taskbot doesn't know."""
    if name not in _CLASSES:
        return None
    module, cls = _CLASSES[name]
    capabilities: BackendCapabilities = getattr(import_module(module), cls).capabilities
    return capabilities


def build_backend(
    name: str,
    *,
    sessions: sessionmaker[Session],
    settings: object | None = None,
    budget: RateBudget | None = None,
) -> TaskBackend:
    """The backend named ``name``; ValueError names the ones that exist. ``budget`` defaults
    to the database's (``sessions``), which every taskbot process shares."""
    try:
        factory = FACTORIES[name]
    except KeyError:
        known = ", ".join(sorted(FACTORIES))
        raise ValueError(f"unknown TASK_BACKEND {name!r}; available: {known}") from None
    if budget is None:
        from storage.rate_budget import SqlAlchemyRateBudget

        budget = SqlAlchemyRateBudget(sessions)
    return factory(sessions, settings, budget)


__all__ = ["TaskBackend", "build_backend", "capabilities_of", "FACTORIES"]
