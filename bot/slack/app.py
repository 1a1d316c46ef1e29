"""The Bolt app: built once by ``bot.bootstrap`` with its dependencies, never at import time.

Listeners run on the thread that received the request (the HTTP server's, or Socket Mode's)
and Bolt answers Slack when the listener returns
(``process_before_response=True``): a listener only checks, persists its job and acks, so the
answer never waits on a task backend. Work that needs no answer in the ack (opening a modal) runs
on a pool of its own (``Registrar.after_ack``). Bolt's other mode, which hands every listener to
a pool and polls every 10 ms for its ack, cost three times the CPU of the listener itself and
left events acknowledged before their job was written.
"""

from __future__ import annotations

import contextvars
import logging
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from slack_bolt import App, BoltRequest, BoltResponse
from slack_sdk import WebClient

from bot.logs import bind_request_id
from bot.slack.deps import SlackDeps
from bot.slack.http import request_kind, request_team, slack_events
from bot.slack.listeners import actions, commands, events, shortcuts, views
from bot.slack.registrar import Registered, Registrar
from bot.web.server import WSGIApp

log = logging.getLogger(__name__)

DEFAULT_WORKERS = 16  # threads for after-ack work: opening modals, telling of a failed save
T = TypeVar("T")


class ContextExecutor(ThreadPoolExecutor):
    """Runs each listener in a copy of the submitting thread's context, so the request id bound
    when the request arrived is the listener's too (and goes on with the job it hands on)."""

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        context = contextvars.copy_context()
        return super().submit(context.run, fn, *args, **kwargs)


@dataclass
class SlackApp:
    bolt: App
    registered: Registered
    executor: ThreadPoolExecutor
    signing_secret: str = ""

    def wsgi(self) -> WSGIApp:
        """The WSGI callable that serves ``POST /slack/events``: malformed or unsigned requests
        are refused with a 4xx (``bot.slack.http``) before Bolt sees them."""
        return slack_events(self.bolt, self.signing_secret)

    def close(self, wait: bool = True) -> None:
        """Finish listeners (their jobs are in the ledger by the time they ack)."""
        self.executor.shutdown(wait=wait, cancel_futures=False)


def build_slack_app(
    *,
    client: WebClient,
    signing_secret: str | None,
    deps: SlackDeps,
    socket_mode: bool = False,
    token_verification: bool = True,
    workers: int = DEFAULT_WORKERS,
) -> SlackApp:
    """Register every listener on a new Bolt app.

    ``token_verification`` calls ``auth.test`` now, so a bad token fails at start, not at the
    first request. Request signatures are verified in HTTP mode (Socket Mode has none).
    """
    executor = ContextExecutor(max_workers=workers, thread_name_prefix="after-ack")
    bolt = App(
        client=client,
        signing_secret=signing_secret or "",
        process_before_response=True,
        request_verification_enabled=False,  # ``bot.slack.http`` checked it before Bolt
        token_verification_enabled=token_verification,
        listener_executor=executor,
        logger=logging.getLogger("taskbot.bolt"),
    )

    if socket_mode:  # over HTTP, ``bot.slack.http`` does this before Bolt is called

        @bolt.middleware
        def on_request(body: dict[str, Any], next: Callable[[], None]) -> None:
            """Every request gets a fresh id; one line says what arrived (kind, workspace)."""
            bind_request_id()
            log.info("slack request type=%s team=%s", request_kind(body), request_team(body))
            next()

    registrar = Registrar(bolt, executor)
    for module in (commands, actions, views, shortcuts, events):
        module.register(registrar, deps)

    @bolt.error
    def on_unhandled_error(
        error: Exception, body: dict[str, Any], request: BoltRequest
    ) -> BoltResponse | None:
        """Logged with its kind (never the body). A listener that failed after it acked keeps
        its ack: Bolt would otherwise answer 500 for work that was saved."""
        log.error(
            "unhandled error in listener type=%s team=%s",
            request_kind(body),
            request_team(body),
            exc_info=error,
        )
        acked: BoltResponse | None = request.context.ack.response
        return acked

    return SlackApp(
        bolt=bolt,
        registered=registrar.registered,
        executor=executor,
        signing_secret=signing_secret or "",
    )
