"""Buttons on task cards and on App Home.

Each click is written as a job, then acknowledged; the change runs after the ack and its outcome
is told to the person (ephemeral under a message, DM from App Home). Cards update through the
Notifier.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar, Self

from slack_sdk import WebClient

from bot.domain.errors import Conflict
from bot.domain.models import Actor, CardKind, Task
from bot.domain.reminders import WorkingHours
from bot.domain.rules import assignment_rule
from bot.slack import ids
from bot.slack.background import NOT_SAVED, action_key
from bot.slack.blocks.card import CardMessage, task_card
from bot.slack.blocks.modals import comment_modal, message_view, reassign_modal
from bot.slack.blocks.task_list import MAX_ROWS, task_list
from bot.slack.deps import AnyJob, JobKind, JobPayload, SlackDeps
from bot.slack.errors import domain_text, person_message
from bot.slack.home import publish_home
from bot.slack.home_place import HomePlace
from bot.slack.listeners.commands import LIST_VIEWS, _group_options, open_create_modal
from bot.slack.markup import escape, render_date
from bot.slack.registrar import Registrar
from bot.slack.reminders import snooze_until
from bot.slack.reply import Reply

if TYPE_CHECKING:  # Bolt's types only: a worker never imports slack_bolt
    from slack_bolt import Ack

log = logging.getLogger(__name__)

Change = Callable[[SlackDeps, Actor, str, int | None], Task]


def _done(deps: SlackDeps, actor: Actor, handle: str, version: int | None) -> Task:
    # Own-part changes ignore the card's version: marking my part done is right whatever
    # else changed meanwhile (two assignees pressing Done at once must both count).
    return deps.service.complete_part(actor, handle)


def _undo(deps: SlackDeps, actor: Actor, handle: str, version: int | None) -> Task:
    return deps.service.undo_part(actor, handle)


def _complete(deps: SlackDeps, actor: Actor, handle: str, version: int | None) -> Task:
    return deps.service.complete_task(actor, handle, expected_version=version)


def _reopen(deps: SlackDeps, actor: Actor, handle: str, version: int | None) -> Task:
    return deps.service.reopen(actor, handle, expected_version=version)


def _claim(deps: SlackDeps, actor: Actor, handle: str, version: int | None) -> Task:
    return deps.service.claim(actor, handle)


CHANGES: dict[str, Change] = {
    ids.ACTION_DONE: _done,
    ids.ACTION_UNDO: _undo,
    ids.ACTION_COMPLETE: _complete,
    ids.ACTION_REOPEN: _reopen,
    ids.ACTION_CLAIM: _claim,
}


class Click(JobPayload):
    """A button on a card or on App Home, with what its job needs to answer the person."""

    KIND: ClassVar[str] = "card-button"

    team_id: str
    user_id: str
    action_id: str
    value: str
    response_url: str | None = None  # set when the button was in a message
    ephemeral: bool = False

    @classmethod
    def of(cls, body: dict[str, Any], **extra: Any) -> Self:
        action = body["actions"][0]
        container = body.get("container") or {}
        in_message = container.get("type") == "message" and body.get("response_url")
        return cls(
            team_id=(body.get("team") or {}).get("id") or body["user"].get("team_id"),
            user_id=body["user"]["id"],
            action_id=action["action_id"],
            value=action.get("value") or "",
            response_url=body["response_url"] if in_message else None,
            ephemeral=bool(container.get("is_ephemeral")),
            **extra,
        )

    def clicked(self) -> tuple[Actor, str, int | None]:
        handle, version = ids.decode_ref(self.value)
        return Actor(team_id=self.team_id, user_id=self.user_id), handle, version


class SnoozeClick(Click):
    KIND: ClassVar[str] = "snooze"


class ReassignForm(Click):
    """Fill in the reassign modal opened inside the ack window."""

    KIND: ClassVar[str] = "reassign-form"

    view_id: str


def submit_click(
    deps: SlackDeps, registrar: Registrar, click: Click, body: dict[str, Any], ack: Ack
) -> None:
    """Persist the click, then ack; if it could not be saved, say so instead of nothing."""
    saved = deps.jobs.submit(click, action_key(click.KIND, body))
    ack()
    if not saved:
        registrar.after_ack(lambda: _reply_for(deps, click).send(NOT_SAVED))


def register(registrar: Registrar, deps: SlackDeps) -> None:
    def on_card_button(ack: Ack, body: dict[str, Any]) -> None:
        submit_click(deps, registrar, Click.of(body), body, ack)

    for action_id in CHANGES:
        registrar.action(action_id, on_card_button)

    def on_comment_button(ack: Ack, body: dict[str, Any], client: WebClient) -> None:
        ack()
        registrar.after_ack(lambda: _open_comment_modal(client, body))

    def on_reassign_button(ack: Ack, body: dict[str, Any], client: WebClient) -> None:
        ack()
        registrar.after_ack(lambda: _open_reassign_modal(deps, client, body))

    registrar.action(ids.ACTION_COMMENT, on_comment_button)
    registrar.action(ids.ACTION_REASSIGN, on_reassign_button)

    def on_open_create(ack: Ack, body: dict[str, Any], client: WebClient) -> None:
        ack()
        registrar.after_ack(lambda: open_create_modal(deps, client, body))

    registrar.action(ids.ACTION_OPEN_CREATE, on_open_create)

    def on_snooze(ack: Ack, body: dict[str, Any]) -> None:
        submit_click(deps, registrar, SnoozeClick.of(body), body, ack)

    registrar.action(ids.ACTION_SNOOZE_HOUR, on_snooze)
    registrar.action(ids.ACTION_SNOOZE_TOMORROW, on_snooze)

    def on_page_turn(ack: Ack, body: dict[str, Any]) -> None:
        submit_click(deps, registrar, PageTurn.of(body), body, ack)

    registrar.action(ids.ACTION_LIST_PREVIOUS, on_page_turn)
    registrar.action(ids.ACTION_LIST_NEXT, on_page_turn)

    def on_home_page(ack: Ack, body: dict[str, Any]) -> None:
        try:
            turn = HomePageTurn.of(body)
        except ValueError:  # not a value taskbot made: nothing to turn to
            ack()
            log.info("home page turn refused: bad value")
            return
        saved = deps.jobs.submit(turn, action_key(turn.KIND, body))
        ack()
        if not saved:
            registrar.after_ack(
                lambda: Reply(client=deps.clients(turn.team_id), user_id=turn.user_id).send(
                    NOT_SAVED
                )
            )

    registrar.action(ids.ACTION_HOME_PREVIOUS, on_home_page)
    registrar.action(ids.ACTION_HOME_NEXT, on_home_page)


class HomePageTurn(JobPayload):
    """Previous / Next under an App Home section: republish the clicker's Home at the place the
    button carries (its own lists only, so no task permission is involved)."""

    KIND: ClassVar[str] = "home-page"

    team_id: str
    user_id: str
    place: HomePlace

    @classmethod
    def of(cls, body: dict[str, Any]) -> Self:
        action = body["actions"][0]
        return cls(
            team_id=(body.get("team") or {}).get("id") or body["user"].get("team_id"),
            user_id=body["user"]["id"],
            place=HomePlace.decode(str(action.get("value") or "")),
        )


def _turn_home_page(deps: SlackDeps, turn: HomePageTurn) -> None:
    try:
        publish_home(deps, turn.team_id, turn.user_id, turn.place)
    except Exception as exc:  # logged with a reference; Home stays as it was
        person_message(exc, context={"action": "home page", "team": turn.team_id})


class PageTurn(Click):
    """Previous / Next under a list: the page before or after the one shown, in its place."""

    KIND: ClassVar[str] = "list-page"


def _turn_page(deps: SlackDeps, click: Click) -> None:
    command, edge = ids.decode_page(click.value)
    view, heading = LIST_VIEWS[command]
    actor = Actor(team_id=click.team_id, user_id=click.user_id)
    reply = _reply_for(deps, click)
    forward = click.action_id == ids.ACTION_LIST_NEXT

    def work() -> None:
        page = deps.service.list_page(
            actor,
            view,
            limit=MAX_ROWS,
            after=edge if forward else None,
            before=None if forward else edge,
        )
        message = task_list(
            page, heading=heading, viewer=actor.user_id, now=deps.clock(), command=command
        )
        reply.send(message.text, message.blocks)

    reply.attempt(work, task=command)


def _snooze(deps: SlackDeps, click: Click) -> None:
    actor, handle, _ = click.clicked()
    reply = _reply_for(deps, click)

    def work() -> None:
        tz = deps.directory.person(actor.team_id, actor.user_id).tz
        until = snooze_until(click.action_id, deps.clock(), tz, WorkingHours())
        task = deps.service.snooze(actor, handle, until)
        when = render_date(until, "later")
        reply.send(f":zzz: I'll remind you about *{task.handle}* again {when}.")

    reply.attempt(work, task=handle)


def _reply_for(deps: SlackDeps, click: Click) -> Reply:
    """Ephemeral under the clicked message when it has a response_url, else by DM."""
    return Reply(
        client=deps.clients(click.team_id),
        user_id=click.user_id,
        response_url=click.response_url or None,
        replace_original=click.ephemeral,
    )


def _apply(deps: SlackDeps, click: Click) -> None:
    change = CHANGES[click.action_id]
    actor, handle, version = click.clicked()
    reply = _reply_for(deps, click)
    try:
        task = change(deps, actor, handle, version)
    except Conflict as conflict:
        _show_current(deps, reply, conflict, actor.user_id)
        return
    except Exception as exc:  # every failure becomes a message for the person
        reply.send(person_message(exc, context={"task": handle, "team": actor.team_id}))
        return
    if click.ephemeral:
        _show_card(deps, reply, task, actor.user_id)  # refresh the ephemeral copy in place


def _show_current(deps: SlackDeps, reply: Reply, conflict: Conflict, viewer: str) -> None:
    card = _card_for(deps, conflict.current, viewer)
    reply.send(f":arrows_counterclockwise: {domain_text(conflict)}\n{card.text}", card.blocks)


def _show_card(deps: SlackDeps, reply: Reply, task: Task, viewer: str) -> None:
    card = _card_for(deps, task, viewer)
    reply.send(card.text, card.blocks)


def _card_for(deps: SlackDeps, task: Task, viewer: str) -> CardMessage:
    kind = CardKind.ASSIGNOR_DM if viewer == task.assignor else CardKind.ASSIGNEE_DM
    return task_card(
        task,
        viewer=viewer,
        kind=kind,
        capabilities=deps.service.capabilities,
        now=deps.clock(),
        next_reminder=deps.service.next_reminder(task, viewer),
    )


def _open_comment_modal(client: WebClient, body: dict[str, Any]) -> None:
    actor, handle, version = Click.of(body).clicked()
    reply = Reply(client=client, user_id=actor.user_id)
    reply.attempt(
        lambda: client.views_open(
            trigger_id=body["trigger_id"], view=comment_modal(handle=handle, version=version)
        ),
        action="open comment modal",
    )


def _open_reassign_modal(deps: SlackDeps, client: WebClient, body: dict[str, Any]) -> None:
    """Open at once (the trigger lives 3 s), then fill in from the backend, which may be slow.
    The fill-in only reads, so its job is written after the ack, with the view's id."""
    click = Click.of(body)
    actor, handle, _ = click.clicked()
    reply = Reply(client=client, user_id=actor.user_id)
    opened = reply.attempt(
        lambda: client.views_open(
            trigger_id=body["trigger_id"],
            view=message_view("Reassign", f"Loading {escape(handle)}…"),
        ),
        action="open reassign modal",
    )
    if opened is None:
        return
    form = ReassignForm(**click.model_dump(), view_id=opened["view"]["id"])
    if not deps.jobs.submit(form, action_key(form.KIND, body)):
        reply.attempt(
            lambda: client.views_update(
                view_id=form.view_id, view=message_view("Reassign", NOT_SAVED)
            ),
            task=handle,
        )


def _fill_reassign(deps: SlackDeps, form: ReassignForm) -> None:
    actor, handle, _ = form.clicked()
    client = deps.clients(actor.team_id)
    try:
        task = deps.service.show(actor, handle)
        view = reassign_modal(
            task,
            groups=_group_options(deps, actor.team_id),
            note=deps.service.capabilities.assignment_comment,
            rule=assignment_rule(deps.service.capabilities),
        )
    except Exception as exc:  # shown in the modal instead of the form
        view = message_view("Reassign", person_message(exc, context={"task": handle}))
    Reply(client=client, user_id=actor.user_id).attempt(
        lambda: client.views_update(view_id=form.view_id, view=view), task=handle
    )


JOBS: dict[str, AnyJob] = {
    Click.KIND: JobKind(Click, _apply),
    SnoozeClick.KIND: JobKind(SnoozeClick, _snooze),
    PageTurn.KIND: JobKind(PageTurn, _turn_page),
    HomePageTurn.KIND: JobKind(HomePageTurn, _turn_home_page),
    ReassignForm.KIND: JobKind(ReassignForm, _fill_reassign),
}
