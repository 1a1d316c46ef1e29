"""The one place where errors become what a person sees in Slack.

Domain errors carry messages written for people; anything else is logged with its context and
shown as a short apology with a reference, never as a stack trace. May import Bolt/slack_sdk,
``bot.domain``.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping

from slack_sdk.errors import SlackApiError

from bot.domain.errors import (
    BackendUnavailable,
    Conflict,
    DomainError,
    InvalidInput,
    NotFound,
    NotPermitted,
)
from bot.domain.naming import plain
from bot.slack.markup import escape, render_text

log = logging.getLogger(__name__)

_PREFIX = {
    NotFound: ":mag: ",
    NotPermitted: ":no_entry: ",
    Conflict: ":arrows_counterclockwise: ",
    InvalidInput: ":warning: ",
    BackendUnavailable: ":satellite_antenna: ",
}


def person_message(error: BaseException, *, context: Mapping[str, object] | None = None) -> str:
    """A message for the person who acted; unexpected errors are logged with a reference."""
    if isinstance(error, DomainError):
        prefix = next((p for kind, p in _PREFIX.items() if isinstance(error, kind)), "")
        text = domain_text(error)
        if isinstance(error, BackendUnavailable):
            return f"{prefix}{text} Nothing was changed; please try again in a moment."
        return prefix + text
    if isinstance(error, SlackApiError):
        reference = _log_unexpected(error, context, slack_error=error.response.get("error"))
        return (
            ":warning: Slack refused one of my calls "
            f"(`{escape(str(error.response.get('error')))}`). Reference `{reference}`."
        )
    reference = _log_unexpected(error, context)
    return (
        ":warning: Something went wrong on my side and I couldn't finish that. "
        f"If it keeps happening, tell your admin the reference `{reference}`."
    )


def domain_text(error: DomainError) -> str:
    """The error's message as mrkdwn: its text escaped, the people it names as mentions."""
    return render_text(error.template, error.refs)


def _log_unexpected(
    error: BaseException, context: Mapping[str, object] | None, **extra: object
) -> str:
    reference = uuid.uuid4().hex[:8]
    details = {**(context or {}), **extra}
    log.error("unexpected error ref=%s %s", reference, details, exc_info=error)
    return reference


def field_errors(error: InvalidInput, block_ids: Mapping[str, str]) -> dict[str, str]:
    """InvalidInput per field → ``{block_id: message}`` for ``response_action: errors``.

    Fields with no block in the modal are reported on ``fallback`` (the first block).
    """
    fallback = next(iter(block_ids.values()))
    errors: dict[str, str] = {}
    for field, template in error.errors.items():
        message = plain(template, error.refs)  # plain_text: shown as written, no markup
        block = block_ids.get(field, fallback)
        errors[block] = f"{errors[block]} {message}" if block in errors else message
    return errors
