"""Modal submissions: create, comment, reassign.

Whatever can be checked without the task backend (parsing, the domain's validation) is answered
before the ack as field errors. Then the modal is acknowledged and the slow work runs; its outcome
replaces the modal's content (create) or reaches the person by DM (comment, reassign).
"""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.domain import rules
from bot.domain.errors import Conflict, InvalidInput
from bot.domain.models import Actor, Assignee, Attachment, AttachmentKind, TaskDraft
from bot.domain.reminders import ReminderSettings
from bot.slack import ids
from bot.slack.background import Payload
from bot.slack.blocks.modals import WEEKDAYS, create_task_modal, message_view
from bot.slack.deps import Job, SlackDeps
from bot.slack.errors import domain_text, field_errors, person_message
from bot.slack.forms import (
    field_block_id,
    parse_comment_form,
    parse_create_form,
    parse_note,
    parse_reassign_form,
    parse_settings_form,
)
from bot.slack.listeners.commands import _group_options
from bot.slack.markup import render_channel, task_name
from bot.slack.metadata import CreateContext, TaskRefContext
from bot.slack.registrar import Registrar
from bot.slack.reply import Reply

CREATE_FIELDS = ("title", "description", "assignees", "due", "condition", "channel")
COMMENT_FIELDS = ("comment",)
REASSIGN_FIELDS = ("assignees",)
SETTINGS_FIELDS = ("start", "end", "days", "reminders", "digest")


def _errors(error: InvalidInput, fields: tuple[str, ...]) -> dict[str, str]:
    return field_errors(error, {f: field_block_id(f) for f in (*fields, *error.errors)})


def register(registrar: Registrar, deps: SlackDeps) -> None:
    def on_create_submit(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        actor = Actor(team_id=body["team"]["id"], user_id=body["user"]["id"])
        context = CreateContext.load(view.get("private_metadata"))
        now = deps.clock()
        try:
            tz = deps.directory.person(actor.team_id, actor.user_id).tz
        except Exception:  # an unknown zone reads times as UTC; the card shows each reader's
            tz = None
        try:
            draft = parse_create_form(
                view["state"]["values"],
                team_id=actor.team_id,
                assignor=actor.user_id,
                assignor_tz=tz,
                now=now,
                default_channel=context.channel_id,
                attachments=context.attachments(),
            )
            rules.validate_draft(draft, now)
        except InvalidInput as error:
            ack(response_action="errors", errors=_errors(error, CREATE_FIELDS))
            return
        ack(response_action="update", view=message_view("New task", "Creating your task…"))
        deps.background.submit(
            JOB_CREATE,
            {
                **_who(actor),
                "draft": draft.model_dump(mode="json"),
                "context": context.dump(),
                "view_id": body["view"]["id"],
            },
        )

    def on_comment_submit(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        ref = TaskRefContext.load(view.get("private_metadata"))
        try:
            text = parse_comment_form(view["state"]["values"])
            if ref is None:
                raise InvalidInput({"comment": "This form lost track of its task; reopen it."})
        except InvalidInput as error:
            ack(response_action="errors", errors=_errors(error, COMMENT_FIELDS))
            return
        ack()
        actor = Actor(team_id=body["team"]["id"], user_id=body["user"]["id"])
        deps.background.submit(JOB_COMMENT, {**_who(actor), "handle": ref.handle, "text": text})

    def on_reassign_submit(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        ref = TaskRefContext.load(view.get("private_metadata"))
        try:
            assignees = parse_reassign_form(view["state"]["values"])
            if ref is None:
                raise InvalidInput({"assignees": "This form lost track of its task; reopen it."})
        except InvalidInput as error:
            ack(response_action="errors", errors=_errors(error, REASSIGN_FIELDS))
            return
        ack()
        actor = Actor(team_id=body["team"]["id"], user_id=body["user"]["id"])
        deps.background.submit(
            JOB_REASSIGN,
            {
                **_who(actor),
                "handle": ref.handle,
                "version": ref.version,
                "assignees": [a.model_dump(mode="json") for a in assignees],
                "note": parse_note(view["state"]["values"]),
            },
        )

    def on_settings_submit(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        try:
            settings = parse_settings_form(view["state"]["values"])
        except InvalidInput as error:
            ack(response_action="errors", errors=_errors(error, SETTINGS_FIELDS))
            return
        ack()
        actor = Actor(team_id=body["team"]["id"], user_id=body["user"]["id"])
        deps.background.submit(
            JOB_SETTINGS, {**_who(actor), "settings": settings.model_dump(mode="json")}
        )

    registrar.view(ids.VIEW_SETTINGS, on_settings_submit)
    registrar.view(ids.VIEW_CREATE, on_create_submit)
    registrar.view(ids.VIEW_COMMENT, on_comment_submit)
    registrar.view(ids.VIEW_REASSIGN, on_reassign_submit)


def _who(actor: Actor) -> Payload:
    return {"team_id": actor.team_id, "user_id": actor.user_id}


def _actor(payload: Payload) -> Actor:
    return Actor(team_id=payload["team_id"], user_id=payload["user_id"])


def _comment(deps: SlackDeps, payload: Payload) -> None:
    actor, handle = _actor(payload), payload["handle"]
    reply = Reply(client=deps.clients(actor.team_id), user_id=actor.user_id)
    reply.attempt(lambda: deps.service.comment(actor, handle, payload["text"]), task=handle)


def _reassign(deps: SlackDeps, payload: Payload) -> None:
    actor, handle = _actor(payload), payload["handle"]
    assignees = [Assignee.model_validate(a) for a in payload["assignees"]]
    reply = Reply(client=deps.clients(actor.team_id), user_id=actor.user_id)
    try:
        task = deps.service.reassign(
            actor, handle, assignees, payload["version"], note=payload.get("note")
        )
    except Conflict as conflict:
        reply.send(f":arrows_counterclockwise: {domain_text(conflict)}")
        return
    except Exception as exc:  # every failure becomes a message for the person
        reply.send(person_message(exc, context={"task": handle}))
        return
    reply.send(f":busts_in_silhouette: Reassigned {task_name(task)}.")


def _create(deps: SlackDeps, payload: Payload) -> None:
    actor = _actor(payload)
    client = deps.clients(actor.team_id)
    context = CreateContext.load(payload["context"])
    draft = _with_permalink(client, TaskDraft.model_validate(payload["draft"]), context)
    try:
        task = deps.service.create_task(actor, draft)
    except Exception as exc:  # keep what they typed: show the form again with the reason
        outcome = person_message(exc, context={"action": "create", "team": actor.team_id})
        view = create_task_modal(
            title=draft.title,
            description=draft.description,
            channel_id=draft.channel_id,
            attachments=draft.attachments,
            capabilities=deps.service.capabilities,
            groups=_group_options(deps, actor.team_id),
            private_metadata=context.dump(),
            draft=draft,
            error=outcome,
            categories=deps.service.categories(actor)
            if deps.service.capabilities.categories
            else [],
        )
    else:
        where = f" and posted it in {render_channel(task.channel_id)}" if task.channel_id else ""
        outcome = f"Created {task_name(task)}{where}."
        view = message_view("Task created", outcome)
    try:
        client.views_update(view_id=payload["view_id"], view=view)
    except SlackApiError:  # the modal was closed meanwhile: tell them by DM instead
        Reply(client=client, user_id=actor.user_id).send(outcome)


def _save_settings(deps: SlackDeps, payload: Payload) -> None:
    actor = _actor(payload)
    reply = Reply(client=deps.clients(actor.team_id), user_id=actor.user_id)
    settings = ReminderSettings.model_validate(payload["settings"])

    def save() -> None:
        saved = deps.service.save_reminder_settings(actor, settings)
        reply.send(f":gear: Saved. {describe_settings(saved)}")

    reply.attempt(save, action="save settings")


def describe_settings(settings: ReminderSettings) -> str:
    hours = settings.hours
    days = ", ".join(WEEKDAYS[d][:3] for d in sorted(hours.days))
    reminders = "Deadline reminders are on" if settings.reminders_on else "Deadline reminders off"
    digest = (
        f"daily digest at {settings.digest_at:%H:%M}" if settings.digest_at else "no daily digest"
    )
    return (
        f"{reminders}, during {hours.start:%H:%M}–{hours.end:%H:%M} on {days} "
        f"(your Slack time zone); {digest}."
    )


JOB_CREATE, JOB_COMMENT, JOB_REASSIGN = "create", "comment", "reassign"
JOB_SETTINGS = "save-settings"
JOBS: dict[str, Job] = {
    JOB_CREATE: _create,
    JOB_COMMENT: _comment,
    JOB_REASSIGN: _reassign,
    JOB_SETTINGS: _save_settings,
}


def _with_permalink(client: WebClient, draft: TaskDraft, context: CreateContext) -> TaskDraft:
    """Attach the source message's permalink (message shortcut); without it, say so."""
    if not (context.source_channel and context.source_ts) or context.permalink:
        return draft
    try:
        url = client.chat_getPermalink(
            channel=context.source_channel, message_ts=context.source_ts
        )["permalink"]
    except SlackApiError:
        return draft
    link = Attachment(kind=AttachmentKind.SLACK_MESSAGE, url=url, title="Message")
    return draft.model_copy(update={"attachments": (*draft.attachments, link)})
