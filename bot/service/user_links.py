"""The user map as people use it: who is who in the configured task system.

Assigning someone who has no link yet first tries their Slack email in the backend's directory
(exactly one match, never a guess); whoever is still unlinked is named in the refusal and told by
DM how to link. People link themselves when the backend can confirm the id is theirs by email;
otherwise, and for anyone else or a group, only admins (Slack admins or owners, and
``TASKBOT_ADMINS``) may. Lookups are cached for one call at most, so a change shows at once.
Imports the domain and the service ports only.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from bot.domain import rules
from bot.domain.errors import DomainError, InvalidInput, NotFound, NotPermitted
from bot.domain.links import LinkHow, UserLink, check_assignee_id, same_email
from bot.domain.models import Actor, Assignee, AssigneeKind
from bot.service.ports import (
    PRIVILEGE_MAX_AGE,
    AccountLinking,
    Clock,
    Directory,
    GroupDirectory,
    SignedIn,
    TaskBackend,
    UserMapStore,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Prepared:
    """Assignees ready for the backend: groups expanded where it has none, all linked."""

    assignees: tuple[Assignee, ...]
    expanded_groups: tuple[str, ...] = ()
    unlinked: tuple[Assignee, ...] = field(default=())


class UserLinks:
    def __init__(
        self,
        store: UserMapStore,
        backend: TaskBackend,
        directory: Directory,
        clock: Clock,
        *,
        admins: frozenset[str] = frozenset(),
    ) -> None:
        self._store = store
        self._backend = backend
        self._directory = directory
        self._clock = clock
        self._admins = admins

    @property
    def needed(self) -> bool:
        return self._backend.capabilities.user_map

    @property
    def backend_name(self) -> str:
        return self._backend.name

    def whoami(self, actor: Actor) -> UserLink | None:
        return self.whoami_of(actor.team_id, actor.user_id)

    def whoami_of(self, team_id: str, slack_id: str) -> UserLink | None:
        return self._store.get(team_id, self._backend.name, slack_id)

    def prepare(
        self, team_id: str, assignees: Sequence[Assignee], *, already: Sequence[Assignee] = ()
    ) -> Prepared:
        """Expand groups the backend can't hold; link people by email where possible.

        The assignee cap (with ``already``, those the task keeps) holds after expansion and is
        checked before any lookup."""
        caps = self._backend.capabilities
        result: list[Assignee] = []
        expanded: list[str] = []
        for assignee in assignees:
            if assignee.kind is AssigneeKind.GROUP and not caps.groups:
                members = sorted(self._directory.group_members(team_id, assignee.id))
                result.extend(Assignee.user(m) for m in members)
                expanded.append(assignee.id)
            else:
                result.append(assignee)
        unique = tuple(dict.fromkeys(result))
        problem = rules.assignees_error([*already, *unique])
        if problem:
            raise InvalidInput({"assignees": problem})
        unlinked = tuple(a for a in unique if self.needed and not self._linked(team_id, a))
        return Prepared(assignees=unique, expanded_groups=tuple(expanded), unlinked=unlinked)

    def _linked(self, team_id: str, assignee: Assignee) -> bool:
        if self._store.get(team_id, self._backend.name, assignee.id) is not None:
            return True
        if assignee.kind is AssigneeKind.GROUP:
            if not isinstance(self._backend, GroupDirectory):
                return False
            backend = self._backend

            def by_name() -> str | None:
                """A Slack group whose handle names exactly one group in the backend."""
                name = self._directory.group_name(team_id, assignee.id)
                return backend.find_group_by_name(team_id, name) if name else None

            return self._link_found(team_id, assignee, LinkHow.NAME, by_name)
        if not self._backend.capabilities.directory:
            return False

        def by_email() -> str | None:
            email = self._directory.person(team_id, assignee.id).email
            return self._backend.find_user_by_email(team_id, email) if email else None

        return self._link_found(team_id, assignee, LinkHow.EMAIL, by_email)

    def _link_found(
        self, team_id: str, assignee: Assignee, how: LinkHow, find: Callable[[], str | None]
    ) -> bool:
        """Link ``assignee`` to what ``find`` names; a failed or ambiguous lookup links nothing."""
        try:
            found = find()
        except DomainError as exc:  # the directory is down: treat as not linked, say why in log
            log.warning("%s lookup failed team=%s %s: %s", how, team_id, assignee.id, exc)
            return False
        if found is None:
            return False
        try:
            self._store.set(self._link(team_id, assignee, found, how))
        except InvalidInput:  # that id is someone else's already: never guess
            return False
        return True

    def how_to_link(self, assignee: Assignee) -> str:
        """Plain text (no markup): the chat layer escapes it."""
        name = self._backend.name
        if assignee.kind is AssigneeKind.GROUP:
            return (
                f"This group has no link to a {name} group yet: an admin can add it with "
                "`/task link @group <group-id>`."
            )
        self_link = (
            "link yourself with `/task link <your-id>` (it must belong to your email there), "
            if self._backend.capabilities.directory
            else ""
        )
        return (
            f"You were just assigned a task, but I don't know who you are in {name}: "
            f"{self_link}or ask an admin to run `/task link @you <your-id>`."
        )

    def authorize_url(self, actor: Actor) -> str:
        """Where the person signs in to link their own account (backends with OAuth)."""
        if not isinstance(self._backend, AccountLinking):
            hint = "use `/task link <id>`"
            raise InvalidInput(
                {"link": f"{self._backend.name} has no sign-in to link with; {hint}."}
            )
        return self._backend.authorize_url(actor.team_id, actor.user_id, self._clock())

    def sign_in_url(self, state: str) -> tuple[str, str]:
        """Where a browser that opened the sign-in link goes next (the task system), and the
        name of the Slack user it links to, which the page shows before it goes there."""
        pending = self._linking().sign_in_url(state, self._clock())
        try:
            name = self._directory.person(pending.team_id, pending.slack_id).name
        except DomainError:
            name = None
        return pending.url, name or pending.slack_id

    def complete_link(self, code: str, state: str) -> tuple[str, str, str]:
        """The sign-in's answer; linked only if the account that signed in is the person's own
        by the self-link rule, so a forwarded sign-in link, continued anyway, links nobody."""
        return self._linking().complete_link(code, state, self._clock(), self._confirm_signed_in)

    def _confirm_signed_in(self, signed: SignedIn) -> None:
        if signed.email is None or not self._is_own(
            signed.team_id, signed.slack_id, signed.account_id, signed.email
        ):
            raise NotPermitted(
                "This account isn't yours by email (its email isn't the Slack user's), so "
                "nothing was linked; ask an admin to link you."
            )

    def _linking(self) -> AccountLinking:
        if not isinstance(self._backend, AccountLinking):
            raise NotFound("This taskbot has no account sign-in.")
        return self._backend

    def is_admin(self, actor: Actor) -> bool:
        if actor.user_id in self._admins:
            return True
        try:
            person = self._directory.person(actor.team_id, actor.user_id, max_age=PRIVILEGE_MAX_AGE)
            return person.is_admin
        except NotFound:
            return False

    def link(
        self, actor: Actor, target: Assignee | None, assignee_id: str, *, force: bool = False
    ) -> UserLink:
        """Link ``target`` (None: the actor) to ``assignee_id`` in the configured backend."""
        if not self.needed:
            raise InvalidInput(
                {"assignee": f"The {self._backend.name} task store uses Slack ids: no link needed."}
            )
        who = target or Assignee.user(actor.user_id)
        value = check_assignee_id(self._backend.capabilities, assignee_id)
        admin = self.is_admin(actor)
        if who.id != actor.user_id or who.kind is AssigneeKind.GROUP:
            if not admin:
                raise NotPermitted("Only workspace admins can link someone else or a group.")
            how = LinkHow.ADMIN
        elif admin:
            how = LinkHow.ADMIN
        else:
            self._confirm_own(actor, value)
            how = LinkHow.SELF
        if force and not admin:
            raise NotPermitted("Only workspace admins can move a link from someone else.")
        if who.kind is AssigneeKind.USER:
            self._directory.person(actor.team_id, who.id)  # NotFound for an unknown Slack id
        else:
            self._directory.group_members(actor.team_id, who.id)
        made = self._link(actor.team_id, who, value, how, set_by=actor.user_id)
        self._store.set(made, force=force)
        return made

    def _confirm_own(self, actor: Actor, assignee_id: str) -> None:
        if not self._backend.capabilities.directory:
            raise NotPermitted(
                f"{self._backend.name} can't confirm that id is yours, so an admin has to link "
                f"you: ask them to run `/task link {{@0}} {assignee_id}`.",
                refs=(Assignee.user(actor.user_id),),
            )
        if not self._is_own(actor.team_id, actor.user_id, assignee_id):
            email = self._directory.person(actor.team_id, actor.user_id).email
            raise NotPermitted(
                f"{assignee_id} doesn't belong to your Slack email ({email or 'none'}) in "
                f"{self._backend.name}; an admin can link it if it is yours."
            )

    def _is_own(
        self, team_id: str, slack_id: str, account_id: str, account_email: str | None = None
    ) -> bool:
        """The one self-link rule: an account is the person's only when their Slack email names
        it in the task system: as its own email when a sign-in told us (``account_email``), else
        by the backend's lookup of that email. No Slack email: nobody's."""
        email = self._directory.person(team_id, slack_id).email
        if not email:
            return False
        if account_email is not None:
            return same_email(email, account_email)
        return self._backend.find_user_by_email(team_id, email) == account_id

    def unlink(self, actor: Actor, target: Assignee) -> bool:
        if not self.is_admin(actor):
            raise NotPermitted("Only workspace admins can remove a link.")
        return self._store.remove(actor.team_id, self._backend.name, target.id)

    def _link(
        self,
        team_id: str,
        who: Assignee,
        assignee_id: str,
        how: LinkHow,
        set_by: str | None = None,
    ) -> UserLink:
        return UserLink(
            team_id=team_id,
            backend=self._backend.name,
            slack_id=who.id,
            kind=who.kind,
            assignee_id=assignee_id,
            how=how,
            set_by=set_by,
            set_at=self._clock(),
        )
