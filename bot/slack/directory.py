"""The ``Directory`` port on Slack's Web API: users.info and user groups, cached briefly.

Caches are per process and short-lived (a profile for 10 minutes, groups for 1 minute; admin
status for manage and link actions is read again when older than a minute), so a change in Slack
shows within a minute and nothing in memory is needed by another request.
May import slack_sdk, ``bot.service.ports`` and ``bot.domain``.
"""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime, timedelta

from cachetools import TTLCache
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.domain.errors import BackendUnavailable, InvalidInput, NotFound
from bot.service.ports import Clock, Person
from bot.slack.clients import ClientProvider

log = logging.getLogger(__name__)


def _utc_now() -> datetime:
    return datetime.now(UTC)


_MEMBER_PAGES = 50  # channels of up to 50,000 members are searched for the creator
_GROUPS_UNAVAILABLE = {"plan_upgrade_required", "missing_scope", "not_allowed_token_type"}


class SlackDirectory:
    """Who people are and which groups they are in, read from Slack."""

    def __init__(
        self,
        clients: ClientProvider,
        *,
        admins: frozenset[str] = frozenset(),
        clock: Clock = _utc_now,
    ) -> None:
        self._clients = clients
        self._admins = admins
        self._clock = clock
        self._lock = threading.Lock()
        self._people: TTLCache[tuple[str, str], tuple[Person, datetime]] = TTLCache(
            maxsize=10_000, ttl=600
        )
        self._groups: TTLCache[str, dict[str, tuple[str, frozenset[str]]]] = TTLCache(
            maxsize=1_000, ttl=60
        )

    def person(self, team_id: str, user_id: str, *, max_age: timedelta | None = None) -> Person:
        """Who the person is; ``max_age`` asks for a profile read at most that long ago (admin
        status for manage and link actions), else one up to 10 minutes old will do."""
        key = (team_id, user_id)
        now = self._clock()
        with self._lock:
            cached = self._people.get(key)
        if cached is not None and (max_age is None or now - cached[1] <= max_age):
            return cached[0]
        try:
            user = self._clients(team_id).users_info(user=user_id)["user"]
        except SlackApiError as exc:
            if exc.response.get("error") in ("user_not_found", "users_not_found"):
                raise NotFound(f"I can't find the Slack user {user_id}.") from exc
            raise BackendUnavailable(
                f"Slack didn't tell me who {user_id} is ({exc.response.get('error')})."
            ) from exc
        person = Person(
            user_id=user_id,
            tz=user.get("tz"),
            is_admin=bool(user.get("is_admin") or user.get("is_owner")) or user_id in self._admins,
            email=(user.get("profile") or {}).get("email"),
            name=user.get("real_name") or user.get("name"),
            is_bot=bool(user.get("is_bot")) or user_id == "USLACKBOT",
        )
        with self._lock:
            self._people[key] = (person, now)
        return person

    def find_by_email(self, team_id: str, email: str) -> str | None:
        """The Slack user id with this email (``users.lookupByEmail``), or None."""
        try:
            user = self._clients(team_id).users_lookupByEmail(email=email)["user"]
        except SlackApiError as exc:
            if exc.response.get("error") == "users_not_found":
                return None
            raise BackendUnavailable(
                f"Slack couldn't look up {email} ({exc.response.get('error')})."
            ) from exc
        return str(user["id"])

    def groups(self, team_id: str) -> dict[str, tuple[str, frozenset[str]]]:
        """Group id → (handle, members); empty where the plan or scopes have no user groups."""
        with self._lock:
            cached = self._groups.get(team_id)
        if cached is not None:
            return cached
        try:
            listed = self._clients(team_id).usergroups_list(include_users=True).get("usergroups")
        except SlackApiError as exc:
            if exc.response.get("error") not in _GROUPS_UNAVAILABLE:
                raise BackendUnavailable(
                    f"Slack didn't list the user groups ({exc.response.get('error')})."
                ) from exc
            log.warning("user groups unavailable team=%s: %s", team_id, exc.response.get("error"))
            listed = []
        groups = {
            g["id"]: (g.get("handle") or g.get("name") or g["id"], frozenset(g.get("users") or ()))
            for g in listed or []
            if not g.get("date_delete")
        }
        with self._lock:
            self._groups[team_id] = groups
        return groups

    def group_name(self, team_id: str, group_id: str) -> str | None:
        found = self.groups(team_id).get(group_id)
        return found[0] if found else None

    def group_members(self, team_id: str, group_id: str) -> frozenset[str]:
        groups = self.groups(team_id)
        if group_id not in groups:
            raise NotFound(f"I can't find the user group {group_id}.")
        return groups[group_id][1]

    def groups_of(self, team_id: str, user_id: str) -> frozenset[str]:
        return frozenset(
            gid for gid, (_, members) in self.groups(team_id).items() if user_id in members
        )

    def check_channel(self, team_id: str, channel_id: str, user_id: str) -> None:
        """A card may go to a channel the creator is in and the bot can post to; read fresh
        (``conversations.info``, ``conversations.members``), never cached."""
        client = self._clients(team_id)
        try:
            channel = client.conversations_info(channel=channel_id)["channel"]
        except SlackApiError as exc:
            if exc.response.get("error") != "channel_not_found":
                raise BackendUnavailable(
                    f"Slack didn't tell me about that channel ({exc.response.get('error')})."
                ) from exc
            channel = None
        if channel is None or channel.get("is_archived") or not channel.get("is_member"):
            raise InvalidInput(
                {
                    "channel": "I can't post in that channel: pick one I'm in, or invite me "
                    "there first (`/invite @taskbot`)."
                }
            )
        if not self._is_member(client, channel_id, user_id):
            raise InvalidInput(
                {"channel": "You can only post a task in a channel you're a member of."}
            )

    @staticmethod
    def _is_member(client: WebClient, channel_id: str, user_id: str) -> bool:
        cursor: str | None = None
        for _ in range(_MEMBER_PAGES):
            answer = client.conversations_members(channel=channel_id, limit=1000, cursor=cursor)
            if user_id in (answer.get("members") or ()):
                return True
            cursor = (answer.get("response_metadata") or {}).get("next_cursor") or None
            if not cursor:
                return False
        return False

    def forget(self, team_id: str) -> None:
        """Drop a workspace's cached groups (after ``subteam_*`` events, for instance)."""
        with self._lock:
            self._groups.pop(team_id, None)
