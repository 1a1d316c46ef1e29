"""Modal submissions: create, comment, reassign.

Whatever can be checked without the task backend (parsing, the domain's validation) is answered
before the ack as field errors. Then the job is written and the modal acknowledged (a job that
could not be saved is a field error instead), and the slow work runs; its outcome replaces the
modal's content (create) or reaches the person by DM (comment, reassign).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.domain import rules
from bot.domain.errors import Conflict, InvalidInput
from bot.domain.models import Actor, Assignee, Attachment, AttachmentKind, TaskDraft
from bot.domain.reminders import ReminderSettings
from bot.slack import ids
from bot.slack.background import NOT_SAVED, view_key
from bot.slack.blocks.modals import WEEKDAYS, create_task_modal, message_view
from bot.slack.deps import AnyJob, JobKind, JobPayload, SlackDeps
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

if TYPE_CHECKING:  # Bolt's types only: a worker never imports slack_bolt
    from slack_bolt import Ack

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
        job = CreateJob(
            **_who(actor), draft=draft, context=context.dump(), view_id=body["view"]["id"]
        )
        if not deps.jobs.submit(job, view_key(job.KIND, body)):
            ack(response_action="errors", errors={field_block_id("title"): NOT_SAVED})
            return
        ack(response_action="update", view=message_view("New task", "Creating your task…"))

    def on_comment_submit(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        ref = TaskRefContext.load(view.get("private_metadata"))
        try:
            text = parse_comment_form(view["state"]["values"])
            if ref is None:
                raise InvalidInput({"comment": "This form lost track of its task; reopen it."})
        except InvalidInput as error:
            ack(response_action="errors", errors=_errors(error, COMMENT_FIELDS))
            return
        actor = Actor(team_id=body["team"]["id"], user_id=body["user"]["id"])
        job = CommentJob(**_who(actor), handle=ref.handle, text=text)
        _submit_then_ack(deps, job, body, ack, "comment")

    def on_reassign_submit(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        ref = TaskRefContext.load(view.get("private_metadata"))
        try:
            assignees = parse_reassign_form(
                view["state"]["values"], one=rules.assignment_rule(deps.service.capabilities)
            )
            if ref is None:
                raise InvalidInput({"assignees": "This form lost track of its task; reopen it."})
        except InvalidInput as error:
            ack(response_action="errors", errors=_errors(error, REASSIGN_FIELDS))
            return
        actor = Actor(team_id=body["team"]["id"], user_id=body["user"]["id"])
        job = ReassignJob(
            **_who(actor),
            handle=ref.handle,
            version=ref.version,
            assignees=list(assignees),
            note=parse_note(view["state"]["values"]),
        )
        _submit_then_ack(deps, job, body, ack, "assignees")

    def on_settings_submit(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        try:
            settings = parse_settings_form(view["state"]["values"])
        except InvalidInput as error:
            ack(response_action="errors", errors=_errors(error, SETTINGS_FIELDS))
            return
        actor = Actor(team_id=body["team"]["id"], user_id=body["user"]["id"])
        job = SettingsJob(**_who(actor), settings=settings)
        _submit_then_ack(deps, job, body, ack, "start")

    registrar.view(ids.VIEW_SETTINGS, on_settings_submit)
    registrar.view(ids.VIEW_CREATE, on_create_submit)
    registrar.view(ids.VIEW_COMMENT, on_comment_submit)
    registrar.view(ids.VIEW_REASSIGN, on_reassign_submit)


def _submit_then_ack(
    deps: SlackDeps, job: JobPayload, body: dict[str, Any], ack: Ack, field: str
) -> None:
    """Persist, then close the modal; if it could not be saved, say so beside ``field``."""
    if deps.jobs.submit(job, view_key(job.KIND, body)):
        ack()
    else:
        ack(response_action="errors", errors={field_block_id(field): NOT_SAVED})


class PersonJob(JobPayload):
    """A job on behalf of one person in one workspace."""

    team_id: str
    user_id: str

    def actor(self) -> Actor:
        return Actor(team_id=self.team_id, user_id=self.user_id)


class CreateJob(PersonJob):
    KIND: ClassVar[str] = "create"

    draft: TaskDraft
    context: str
    view_id: str


class CommentJob(PersonJob):
    KIND: ClassVar[str] = "comment"

    handle: str
    text: str


class ReassignJob(PersonJob):
    KIND: ClassVar[str] = "reassign"

    handle: str
    version: int | None
    assignees: list[Assignee]
    note: str | None = None


class SettingsJob(PersonJob):
    KIND: ClassVar[str] = "save-settings"

    settings: ReminderSettings


def _who(actor: Actor) -> dict[str, str]:
    return {"team_id": actor.team_id, "user_id": actor.user_id}


def _comment(deps: SlackDeps, job: CommentJob) -> None:
    actor, handle = job.actor(), job.handle
    reply = Reply(client=deps.clients(actor.team_id), user_id=actor.user_id)
    reply.attempt(lambda: deps.service.comment(actor, handle, job.text), task=handle)


def _reassign(deps: SlackDeps, job: ReassignJob) -> None:
    actor, handle = job.actor(), job.handle
    reply = Reply(client=deps.clients(actor.team_id), user_id=actor.user_id)
    try:
        task = deps.service.reassign(actor, handle, job.assignees, job.version, note=job.note)
    except Conflict as conflict:
        reply.send(f":arrows_counterclockwise: {domain_text(conflict)}")
        return
    except Exception as exc:  # every failure becomes a message for the person
        reply.send(person_message(exc, context={"task": handle}))
        return
    done = "Reassigned" if task.assignees else "Unassigned"
    reply.send(f":busts_in_silhouette: {done} {task_name(task)}.")


def _create(deps: SlackDeps, job: CreateJob) -> None:
    actor = job.actor()
    client = deps.clients(actor.team_id)
    context = CreateContext.load(job.context)
    draft = _with_permalink(client, job.draft, context)
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
        client.views_update(view_id=job.view_id, view=view)
    except SlackApiError:  # the modal was closed meanwhile: tell them by DM instead
        Reply(client=client, user_id=actor.user_id).send(outcome)


def _save_settings(deps: SlackDeps, job: SettingsJob) -> None:
    actor = job.actor()
    reply = Reply(client=deps.clients(actor.team_id), user_id=actor.user_id)
    settings = job.settings

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


JOBS: dict[str, AnyJob] = {
    CreateJob.KIND: JobKind(CreateJob, _create),
    CommentJob.KIND: JobKind(CommentJob, _comment),
    ReassignJob.KIND: JobKind(ReassignJob, _reassign),
    SettingsJob.KIND: JobKind(SettingsJob, _save_settings),
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
