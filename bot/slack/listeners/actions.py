"""Buttons on task cards and on App Home.

Each click is acknowledged at once; the change runs after the ack and its outcome is told to the
person (ephemeral under a message, DM from App Home). Cards update through the Notifier.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from slack_bolt import Ack, Respond
from slack_sdk import WebClient

from bot.domain.errors import Conflict
from bot.domain.models import Actor, CardKind, Task
from bot.domain.reminders import WorkingHours
from bot.slack import ids
from bot.slack.background import Payload
from bot.slack.blocks.card import CardMessage, task_card
from bot.slack.blocks.modals import comment_modal, message_view, reassign_modal
from bot.slack.deps import Job, SlackDeps
from bot.slack.errors import domain_text, person_message
from bot.slack.listeners.commands import _group_options, open_create_modal
from bot.slack.markup import escape, render_date
from bot.slack.registrar import Registrar
from bot.slack.reminders import snooze_until
from bot.slack.reply import Reply

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


def register(registrar: Registrar, deps: SlackDeps) -> None:
    def on_card_button(ack: Ack, body: dict[str, Any]) -> None:
        ack()
        deps.background.submit(JOB_CARD_BUTTON, {"body": body})

    for action_id in CHANGES:
        registrar.action(action_id, on_card_button)
    registrar.action(ids.ACTION_COMMENT, _comment_listener(deps))
    registrar.action(ids.ACTION_REASSIGN, _reassign_listener(deps))

    def on_open_create(ack: Ack, body: dict[str, Any], client: WebClient) -> None:
        ack()
        open_create_modal(deps, client, body)

    registrar.action(ids.ACTION_OPEN_CREATE, on_open_create)

    def on_snooze(ack: Ack, body: dict[str, Any]) -> None:
        ack()
        deps.background.submit(JOB_SNOOZE, {"body": body})

    registrar.action(ids.ACTION_SNOOZE_HOUR, on_snooze)
    registrar.action(ids.ACTION_SNOOZE_TOMORROW, on_snooze)


def _snooze(deps: SlackDeps, payload: Payload) -> None:
    body = payload["body"]
    actor, handle, _ = _clicked(body)
    reply = _reply_for(deps, body)

    def work() -> None:
        tz = deps.directory.person(actor.team_id, actor.user_id).tz
        action_id = body["actions"][0]["action_id"]
        until = snooze_until(action_id, deps.clock(), tz, WorkingHours())
        task = deps.service.snooze(actor, handle, until)
        when = render_date(until, "later")
        reply.send(f":zzz: I'll remind you about *{task.handle}* again {when}.")

    reply.attempt(work, task=handle)


def _clicked(body: dict[str, Any]) -> tuple[Actor, str, int | None]:
    action = body["actions"][0]
    handle, version = ids.decode_ref(action.get("value") or "")
    team_id = (body.get("team") or {}).get("id") or body["user"].get("team_id")
    return Actor(team_id=team_id, user_id=body["user"]["id"]), handle, version


def _reply_for(deps: SlackDeps, body: dict[str, Any]) -> Reply:
    """Ephemeral under the clicked message when it has a response_url, else by DM."""
    actor, _, _ = _clicked(body)
    container = body.get("container") or {}
    in_message = container.get("type") == "message" and body.get("response_url")
    return Reply(
        client=deps.clients(actor.team_id),
        user_id=actor.user_id,
        respond=Respond(response_url=body["response_url"]) if in_message else None,
        replace_original=bool(container.get("is_ephemeral")),
    )


def _apply(deps: SlackDeps, payload: Payload) -> None:
    body = payload["body"]
    change = CHANGES[body["actions"][0]["action_id"]]
    actor, handle, version = _clicked(body)
    reply = _reply_for(deps, body)
    try:
        task = change(deps, actor, handle, version)
    except Conflict as conflict:
        _show_current(deps, reply, conflict, actor.user_id)
        return
    except Exception as exc:  # every failure becomes a message for the person
        reply.send(person_message(exc, context={"task": handle, "team": actor.team_id}))
        return
    if body.get("container", {}).get("is_ephemeral"):
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


def _comment_listener(deps: SlackDeps) -> Callable[..., None]:
    def on_comment_button(ack: Ack, body: dict[str, Any], client: WebClient) -> None:
        ack()
        actor, handle, version = _clicked(body)
        reply = Reply(client=client, user_id=actor.user_id)
        reply.attempt(
            lambda: client.views_open(
                trigger_id=body["trigger_id"], view=comment_modal(handle=handle, version=version)
            ),
            action="open comment modal",
        )

    return on_comment_button


def _reassign_listener(deps: SlackDeps) -> Callable[..., None]:
    def on_reassign_button(ack: Ack, body: dict[str, Any], client: WebClient) -> None:
        ack()
        actor, handle, version = _clicked(body)
        reply = Reply(client=client, user_id=actor.user_id)
        # Open at once (the trigger lives 3 s), then fill in from the backend, which may be slow.
        opened = reply.attempt(
            lambda: client.views_open(
                trigger_id=body["trigger_id"],
                view=message_view("Reassign", f"Loading {escape(handle)}…"),
            ),
            action="open reassign modal",
        )
        if opened is None:
            return
        deps.background.submit(JOB_REASSIGN_FORM, {"body": body, "view_id": opened["view"]["id"]})

    return on_reassign_button


def _fill_reassign(deps: SlackDeps, payload: Payload) -> None:
    actor, handle, _ = _clicked(payload["body"])
    client = deps.clients(actor.team_id)
    try:
        task = deps.service.show(actor, handle)
        view = reassign_modal(
            task,
            groups=_group_options(deps, actor.team_id),
            note=deps.service.capabilities.assignment_comment,
        )
    except Exception as exc:  # shown in the modal instead of the form
        view = message_view("Reassign", person_message(exc, context={"task": handle}))
    Reply(client=client, user_id=actor.user_id).attempt(
        lambda: client.views_update(view_id=payload["view_id"], view=view), task=handle
    )


JOB_CARD_BUTTON, JOB_SNOOZE, JOB_REASSIGN_FORM = "card-button", "snooze", "reassign-form"
JOBS: dict[str, Job] = {
    JOB_CARD_BUTTON: _apply,
    JOB_SNOOZE: _snooze,
    JOB_REASSIGN_FORM: _fill_reassign,
}
