"""``/task`` and its subcommands.

Usage problems are answered in the ack itself (instant, ephemeral); anything that touches the task
backend is acknowledged first and answered through the response_url afterwards.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from slack_sdk import WebClient

from bot.domain.errors import InvalidInput
from bot.domain.links import LinkHow, UserLink
from bot.domain.models import (
    Actor,
    Assignee,
    CardKind,
    ListView,
    PartState,
    Task,
    TaskDraft,
)
from bot.slack import ids
from bot.slack.background import NOT_SAVED, command_key
from bot.slack.blocks.card import task_card
from bot.slack.blocks.modals import create_task_modal, settings_modal
from bot.slack.blocks.task_list import MAX_ROWS, task_list
from bot.slack.command_text import (
    SUBCOMMANDS,
    Command,
    UsageError,
    help_text,
    parse,
    parse_quick_add,
)
from bot.slack.deps import AnyJob, JobKind, JobPayload, SlackDeps
from bot.slack.markup import (
    escape,
    from_slack,
    render_assignee,
    render_channel,
    render_link,
    render_user,
    task_name,
)
from bot.slack.metadata import CreateContext
from bot.slack.registrar import Registrar
from bot.slack.reply import Reply

if TYPE_CHECKING:  # Bolt's types only: a worker never imports slack_bolt
    from slack_bolt import Ack

LIST_VIEWS = {
    "list": (ListView.INVOLVED, "Your open tasks"),
    "mine": (ListView.MINE, "Assigned to you"),
    "assigned": (ListView.ASSIGNED, "Assigned by you"),
    "overdue": (ListView.OVERDUE, "Overdue"),
}


def register(registrar: Registrar, deps: SlackDeps) -> None:
    def on_task_command(ack: Ack, command: dict[str, Any], client: WebClient) -> None:
        try:
            parsed = parse(command.get("text") or "")
        except UsageError as exc:
            ack(text=usage_reply(exc))
            return
        if parsed.name == "help":
            ack(text=escape(help_text(deps.service.capabilities)))
            return
        if parsed.name == "new":
            if not deps.service.capabilities.create:
                ack(text=_no_create(deps))
                return
            ack()
            title = from_slack(parsed.rest)
            registrar.after_ack(lambda: open_create_modal(deps, client, command, title=title))
            return
        if parsed.name == "settings":
            ack()
            registrar.after_ack(lambda: open_settings_modal(deps, client, command))
            return
        job = CommandJob(
            team_id=command["team_id"],
            user_id=command["user_id"],
            channel_id=command.get("channel_id"),
            text=command.get("text") or "",
            response_url=command["response_url"],
        )
        if deps.jobs.submit(job, command_key(job.KIND, command)):
            ack()
        else:
            ack(text=NOT_SAVED)

    registrar.command(ids.COMMAND, on_task_command)


class CommandJob(JobPayload):
    """A ``/task`` subcommand that needs the task backend, answered via its response_url."""

    KIND: ClassVar[str] = "command"

    team_id: str
    user_id: str
    channel_id: str | None = None
    text: str
    response_url: str


def _command(deps: SlackDeps, job: CommandJob) -> None:
    parsed = parse(job.text)
    actor = Actor(team_id=job.team_id, user_id=job.user_id)
    reply = Reply(
        client=deps.clients(actor.team_id),
        user_id=actor.user_id,
        response_url=job.response_url,
    )
    body = {"channel_id": job.channel_id}
    reply.attempt(
        lambda: _run(deps, actor, parsed, body, reply), command=parsed.name, team=actor.team_id
    )


JOBS: dict[str, AnyJob] = {CommandJob.KIND: JobKind(CommandJob, _command)}


def _no_create(deps: SlackDeps) -> str:
    """The backend's own refusal is task-system text: escaped like any other."""
    return escape(
        deps.service.capabilities.create_refusal
        or "This task system doesn't let taskbot create tasks."
    )


def _unknown(message: str) -> str:
    return f"{message} Try `/task help` to see what I can do."


def usage_reply(exc: UsageError) -> str:
    """The answer to a command we can't read; it echoes what was typed, so it is escaped."""
    return escape(f"{exc.message} Usage: {exc.usage}" if exc.usage else _unknown(exc.message))


def open_create_modal(
    deps: SlackDeps,
    client: WebClient,
    body: dict[str, Any],
    *,
    title: str = "",
    description: str = "",
    context: CreateContext | None = None,
) -> None:
    """Open the create modal right away: the trigger_id lives 3 seconds and works once."""
    team_id = body.get("team_id") or body["team"]["id"]
    user = body.get("user_id") or body["user"]["id"]
    if not deps.service.capabilities.create:
        Reply(client=client, user_id=user).send(_no_create(deps))
        return
    channel = body.get("channel_id") or (body.get("channel") or {}).get("id")
    ctx = context or CreateContext(channel_id=_postable(channel))
    reply = Reply(client=client, user_id=body.get("user_id") or body["user"]["id"])
    reply.attempt(
        lambda: client.views_open(
            trigger_id=body["trigger_id"],
            view=create_task_modal(
                title=title,
                description=description,
                channel_id=ctx.channel_id,
                attachments=ctx.attachments(),
                capabilities=deps.service.capabilities,
                groups=_group_options(deps, team_id),
                private_metadata=ctx.dump(),
                categories=_categories(deps, team_id, user),
            ),
        ),
        action="open create modal",
    )


def open_settings_modal(deps: SlackDeps, client: WebClient, body: dict[str, Any]) -> None:
    """The person's reminder settings, read from taskbot's own store (quick, within the
    trigger's 3 seconds)."""
    actor = Actor(team_id=body["team_id"], user_id=body["user_id"])
    reply = Reply(client=client, user_id=actor.user_id)
    reply.attempt(
        lambda: client.views_open(
            trigger_id=body["trigger_id"],
            view=settings_modal(deps.service.reminder_settings(actor)),
        ),
        action="open settings modal",
    )


def _categories(deps: SlackDeps, team_id: str, user_id: str) -> list[tuple[str, str]]:
    """Quick or not at all: the form opens within the trigger's 3 seconds either way."""
    if not deps.service.capabilities.categories:
        return []
    try:
        return deps.service.categories(Actor(team_id=team_id, user_id=user_id))
    except Exception:  # the form without categories (the default one) beats no form
        return []


def _group_options(deps: SlackDeps, team_id: str) -> list[tuple[str, str]]:
    if not deps.service.capabilities.groups:
        return []
    try:
        groups = deps.directory.groups(team_id)
    except Exception:  # no groups in the form is better than no form
        return []
    return sorted(((gid, name) for gid, (name, _) in groups.items()), key=lambda g: g[1])


def _postable(channel: str | None) -> str | None:
    """A card can go to a channel, not to a DM with the bot (``D…``)."""
    return channel if channel and not channel.startswith("D") else None


def _run(deps: SlackDeps, actor: Actor, cmd: Command, body: dict[str, Any], reply: Reply) -> None:
    service, now = deps.service, deps.clock()
    if cmd.name == "add":
        person = deps.directory.person(actor.team_id, actor.user_id)
        quick = parse_quick_add(cmd.rest, now, person.tz)
        if quick.problems:
            raise InvalidInput(quick.problems)
        draft = TaskDraft(
            team_id=actor.team_id,
            assignor=actor.user_id,
            title=quick.title,
            due=quick.due,
            condition=quick.condition,
            assignees=quick.assignees or (Assignee.user(actor.user_id),),
            channel_id=_postable(body.get("channel_id")),
        )
        task = service.create_task(actor, draft)
        where = f" and posted it in {render_channel(task.channel_id)}" if task.channel_id else ""
        reply.send(f":white_check_mark: Created {task_name(task)}{where}.")
    elif cmd.name in LIST_VIEWS:
        view, heading = LIST_VIEWS[cmd.name]
        tasks = service.list_page(actor, view, channel_id=body.get("channel_id"), limit=MAX_ROWS)
        message = task_list(tasks, heading=heading, viewer=actor.user_id, now=now, command=cmd.name)
        reply.send(message.text, message.blocks)
    elif cmd.name == "show":
        task = service.show(actor, cmd.handle or "", channel_id=body.get("channel_id"))
        _send_card(deps, reply, task, actor.user_id)
    elif cmd.name == "done":
        _report(reply, service.complete_part(actor, cmd.handle or ""), actor, PartState.DONE)
    elif cmd.name == "undo":
        _report(reply, service.undo_part(actor, cmd.handle or ""), actor, PartState.TODO)
    elif cmd.name == "reopen":
        task = service.reopen(actor, cmd.handle or "")
        reply.send(f":leftwards_arrow_with_hook: Reopened {task_name(task)}.")
    elif cmd.name == "assign":
        task = service.assign(actor, cmd.handle or "", cmd.mentions)
        reply.send(f":busts_in_silhouette: *{task.handle}* now has {_who(task)}.")
    elif cmd.name == "unassign":
        task = service.unassign(actor, cmd.handle or "", cmd.mentions)
        reply.send(f":busts_in_silhouette: *{task.handle}* now has {_who(task)}.")
    elif cmd.name == "comment":
        task, _ = service.comment(actor, cmd.handle or "", from_slack(cmd.rest))
        reply.send(f":speech_balloon: Commented on {task_name(task)}.")
    elif cmd.name == "delete":
        warning = service.capabilities.delete_warning
        if warning and cmd.rest.strip().lower() != "confirm":
            handle = escape(from_slack(cmd.handle or ""))
            reply.send(
                f":warning: {escape(warning)} To delete *{handle}* anyway: "
                f"`/task delete {handle} confirm`."
            )
            return
        task = service.delete(actor, cmd.handle or "")
        reply.send(f":wastebasket: Deleted {task_name(task)}.")
    elif cmd.name in ("link", "unlink", "whoami"):
        reply.send(_user_map(deps, actor, cmd))
    else:  # parse() only returns known names; this keeps the table and the code honest
        reply.send(_unknown(f"`/task {cmd.name}` isn't available yet."))


def _send_card(deps: SlackDeps, reply: Reply, task: Task, viewer: str) -> None:
    kind = CardKind.ASSIGNOR_DM if viewer == task.assignor else CardKind.ASSIGNEE_DM
    card = task_card(
        task,
        viewer=viewer,
        kind=kind,
        capabilities=deps.service.capabilities,
        now=deps.clock(),
        next_reminder=deps.service.next_reminder(task, viewer),
    )
    reply.send(card.text, card.blocks)


def _report(reply: Reply, task: Task, actor: Actor, state: PartState) -> None:
    if task.is_completed and state is PartState.DONE:
        reply.send(f":white_check_mark: {task_name(task)} is completed.")
        return
    progress = f"{task.done_count} of {len(task.parts)} done"
    verb = "done" if state is PartState.DONE else "not done"
    reply.send(f"Marked your part of *{task.handle}* {verb} ({progress}).")


def _who(task: Task) -> str:
    names = [render_assignee(a) for a in task.assignees]
    return ", ".join(names) if names else "no assignees"


def _user_map(deps: SlackDeps, actor: Actor, cmd: Command) -> str:
    links = deps.service.links
    if links is None or not links.needed:
        return (
            f"On the embedded task store you are {render_user(actor.user_id)}: tasks are "
            "assigned to Slack ids directly, so there is nothing to link."
        )
    name = links.backend_name
    if cmd.name == "whoami":
        found = links.whoami(actor)
        if found is None:
            how = links.how_to_link(Assignee.user(actor.user_id)).split(": ", 1)[-1]
            return escape(f"You are not linked to {name} yet. {how}")
        return (
            f"In {name} you are `{escape(found.assignee_id)}` (linked {_HOW[found.how]} "
            f"on {found.set_at:%Y-%m-%d})."
        )
    target = cmd.mentions[0] if cmd.mentions else None
    words = [w for w in cmd.rest.split() if not w.startswith("<")]
    if cmd.name == "unlink":
        if target is None or words:
            raise InvalidInput({"unlink": f"Usage: {SUBCOMMANDS['unlink']}"})
        removed = links.unlink(actor, target)
        who = render_assignee(target)
        return f":link: {who} is no longer linked." if removed else f"{who} had no link."
    if words == [name] and target is None:  # `/task link lineworks`: sign in there
        sign_in = render_link(links.authorize_url(actor), f"Sign in to {name}")
        return (
            f":link: {sign_in} to link your account; tasks you create "
            "are then made as you. The link works for 10 minutes."
        )
    force = "--force" in words
    words = [w for w in words if w != "--force"]
    if len(words) != 1 or len(cmd.mentions) > 1:
        raise InvalidInput({"link": f"Usage: {SUBCOMMANDS['link']}"})
    made = links.link(actor, target, words[0], force=force)
    who = "You are" if target is None else f"{render_assignee(made_assignee(made))} is"
    return f":link: {who} now `{escape(made.assignee_id)}` in {name}."


_HOW = {
    LinkHow.EMAIL: "by email",
    LinkHow.NAME: "by name",
    LinkHow.SELF: "by yourself",
    LinkHow.ADMIN: "by an admin",
    LinkHow.IMPORT: "by import",
}


def made_assignee(link: UserLink) -> Assignee:
    return Assignee(kind=link.kind, id=link.slack_id)
