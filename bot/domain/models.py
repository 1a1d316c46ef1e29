"""Domain models: tasks, assignees and their parts, comments, attachments, due dates.

Pure pydantic; imports nothing of Slack, httpx, SQL or the rest of the project. Models are frozen:
rules return changed copies, so a refused change can never leave a half-changed task behind.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime, time
from enum import StrEnum
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator

# The one bound of every text taskbot keeps: checked on input (a refusal naming the limit) and on
# sync (a longer text from a task system is cut to it), so the store never sees a longer one.
TITLE_MAX = 150  # fits a Slack header block
DESCRIPTION_MAX = 3000  # Slack plain_text_input max_length
COMMENT_MAX = 3000
ATTACHMENT_TITLE_MAX = 200
URL_MAX = 3000
ENTITY_ID_MAX = 64  # an attachment's entity type and id
MAX_ASSIGNEES = 50  # after user groups are expanded into their members
DUE_MAX_YEARS = 50  # a due further ahead is refused (and would overflow in far-west zones)
END_OF_WORKING_DAY = time(18, 0)
HANDLE_PREFIX = "T-"
_HANDLE_RE = re.compile(r"^\s*#?(?:[Tt]-?)?(\d{1,12})\s*$")


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class CompletionCondition(StrEnum):
    """ANY_ONE: the first part done completes the task. MUST_ALL: every part must be done."""

    ANY_ONE = "ANY_ONE"
    MUST_ALL = "MUST_ALL"


class Status(StrEnum):
    """Task status; declared in the UserTasks API's order (its values 0 to 4)."""

    NEW = "NEW"
    REOPENED = "REOPENED"
    IN_PROGRESS = "IN_PROGRESS"
    AWAITING_FEEDBACK = "AWAITING_FEEDBACK"
    COMPLETED = "COMPLETED"

    @property
    def code(self) -> int:
        """The UserTasks API's integer for this status."""
        return list(Status).index(self)

    @classmethod
    def from_code(cls, code: int) -> Status:
        return list(Status)[code]


class PartState(StrEnum):
    TODO = "TODO"
    DONE = "DONE"


class AssigneeKind(StrEnum):
    USER = "user"
    GROUP = "group"


class Assignee(_Frozen):
    """A Slack user (``U…``/``W…``) or user group (``S…``) a task is assigned to."""

    kind: AssigneeKind
    id: str = Field(min_length=1, max_length=64)

    @classmethod
    def user(cls, user_id: str) -> Assignee:
        return cls(kind=AssigneeKind.USER, id=user_id)

    @classmethod
    def group(cls, group_id: str) -> Assignee:
        return cls(kind=AssigneeKind.GROUP, id=group_id)


class Part(_Frozen):
    """One assignee's share of a task. A group's part is done by any one of its members."""

    assignee: Assignee
    state: PartState = PartState.TODO
    done_by: str | None = None
    done_at: datetime | None = None


class CommentEvent(StrEnum):
    """Why a system-generated comment was written (the UserTasks API's ``IsSystemGenerated``)."""

    CREATED = "created"
    ASSIGNED = "assigned"
    UNASSIGNED = "unassigned"
    PART_DONE = "part_done"
    PART_UNDONE = "part_undone"
    COMPLETED = "completed"
    REOPENED = "reopened"
    EDITED = "edited"
    CLAIMED = "claimed"
    EXPANDED = "expanded"  # a user group assigned as its members (the backend has no groups)
    OPERATOR = "operator"  # made in the task system with the operator account, not the person's


class Comment(_Frozen):
    """A comment by a person, or a system comment recording an event (``event`` set).

    ``origin`` names the task system a change was made in when it was not made in Slack (its
    label, "Struct PIM"); then ``author`` is the Slack user the system named as its author, or
    "" when it didn't say. Comments stored before it existed read as made in Slack."""

    id: str = Field(default_factory=lambda: uuid.uuid4().hex)
    author: str | None
    text: str
    created_at: datetime
    event: CommentEvent | None = None
    subjects: tuple[str, ...] = ()
    origin: str | None = None

    @property
    def system(self) -> bool:
        return self.event is not None


class AttachmentKind(StrEnum):
    SLACK_MESSAGE = "slack_message"
    ENTITY = "entity"


class Attachment(_Frozen):
    """A typed reference: a Slack message permalink, or the backend's entity type + id."""

    kind: AttachmentKind
    url: str | None = None
    entity_type: str | None = None
    entity_id: str | None = None
    title: str = ""


def zone(name: str | None) -> ZoneInfo:
    """The IANA zone ``name``, UTC when unset or unknown (Slack sometimes omits ``tz``)."""
    if not name:
        return ZoneInfo("UTC")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


class Due(_Frozen):
    """A due date, with or without a time; a time is read in ``tz``, the zone of its author."""

    date: dt.date
    time: dt.time | None = None
    tz: str = "UTC"

    @field_validator("tz")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @property
    def has_time(self) -> bool:
        return self.time is not None

    def instant(
        self, reader_tz: str | None = None, end_of_day: dt.time = END_OF_WORKING_DAY
    ) -> datetime:
        """The due instant in UTC.

        With a time: that time in ``tz``. A date alone means the end of the working day in the
        reader's (assignee's) zone, or in ``tz`` when the reader's zone is unknown.
        """
        if self.time is not None:
            local = datetime.combine(self.date, self.time, tzinfo=ZoneInfo(self.tz))
        else:
            local = datetime.combine(self.date, end_of_day, tzinfo=zone(reader_tz or self.tz))
        return local.astimezone(UTC)

    @classmethod
    def at(cls, moment: datetime, tz: str) -> Due:
        """A due with a time, from an aware instant shown in ``tz``."""
        local = moment.astimezone(ZoneInfo(tz))
        return cls(date=local.date(), time=local.time().replace(microsecond=0), tz=tz)


def format_handle(number: int) -> str:
    return f"{HANDLE_PREFIX}{number}"


def parse_handle(text: str) -> int | None:
    """``T-42``, ``t42`` or ``#T-42`` → 42; anything else → None."""
    match = _HANDLE_RE.match(text)
    return int(match.group(1)) if match else None


class Task(_Frozen):
    """A task as taskbot sees it, whichever backend keeps it."""

    team_id: str
    id: str
    handle: str
    title: str
    description: str = ""
    due: Due | None = None
    condition: CompletionCondition = CompletionCondition.ANY_ONE
    status: Status = Status.NEW
    assignor: str
    parts: tuple[Part, ...] = ()
    comments: tuple[Comment, ...] = ()
    attachments: tuple[Attachment, ...] = ()
    channel_id: str | None = None
    created_at: datetime
    updated_at: datetime
    version: int = 1
    deleted: bool = False

    @property
    def assignees(self) -> tuple[Assignee, ...]:
        return tuple(p.assignee for p in self.parts)

    @property
    def done_count(self) -> int:
        return sum(1 for p in self.parts if p.state is PartState.DONE)

    @property
    def is_completed(self) -> bool:
        return self.status is Status.COMPLETED

    @property
    def is_open(self) -> bool:
        return not self.deleted and self.status is not Status.COMPLETED

    def part_of(self, assignee: Assignee) -> Part | None:
        return next((p for p in self.parts if p.assignee == assignee), None)

    @property
    def claimed_by(self) -> str | None:
        """Who said "I'm on it" since the task was last reopened, if anyone."""
        for comment in reversed(self.comments):
            if comment.event is CommentEvent.REOPENED:
                return None
            if comment.event is CommentEvent.CLAIMED:
                return comment.author
        return None

    def due_instant(self, reader_tz: str | None = None) -> datetime | None:
        return self.due.instant(reader_tz) if self.due else None

    def is_overdue(self, now: datetime, reader_tz: str | None = None) -> bool:
        due = self.due_instant(reader_tz)
        return self.is_open and due is not None and due < now


class TaskDraft(_Frozen):
    """What a person asked for when creating a task; validated by ``rules.validate_draft``."""

    team_id: str
    assignor: str
    title: str
    description: str = ""
    due: Due | None = None
    condition: CompletionCondition = CompletionCondition.ANY_ONE
    assignees: tuple[Assignee, ...] = ()
    channel_id: str | None = None
    attachments: tuple[Attachment, ...] = ()
    category: str | None = None  # the task system's category (LINE WORKS), where it has them


class TaskEdit(_Frozen):
    """Fields to change on an existing task; ``None`` keeps the current value."""

    title: str | None = None
    description: str | None = None
    due: Due | None = None
    clear_due: bool = False
    condition: CompletionCondition | None = None
    status: Status | None = None


class Actor(_Frozen):
    """Who is acting: a Slack user in a workspace, with what the service learnt about them."""

    team_id: str
    user_id: str
    is_admin: bool = False
    group_ids: frozenset[str] = frozenset()


class BackendCapabilities(_Frozen):
    """What a task backend can do; the UI offers only what is true here."""

    multi_assignee: bool = True
    groups: bool = True
    must_all_native: bool = False
    comments: bool = True
    attachments: bool = True
    create: bool = True
    delete: bool = True
    complete: bool = True
    due_time: bool = True
    # People are named by the backend's own ids, so assignees need links (the user map).
    user_map: bool = False
    # ``find_user_by_email`` works: links are made and confirmed by email.
    directory: bool = False
    assignee_id_pattern: str | None = None  # a regex the backend's assignee ids match
    assignee_id_example: str | None = None  # shown when an id does not match
    delete_warning: str | None = None  # what else deleting a task removes there
    assignment_comment: bool = False  # a reassignment carries a note for the new assignee
    categories: bool = False  # tasks go into a category the person picks
    create_refusal: str | None = None  # why tasks can't be created here (``create`` False)
    label: str = "taskbot"  # the task system's name as people know it ("Struct PIM")


class ListView(StrEnum):
    MINE = "mine"  # open tasks assigned to me or my groups
    ASSIGNED = "assigned"  # open tasks I assigned
    OVERDUE = "overdue"  # open, past due, where I'm assignor or assignee
    CHANNEL = "channel"  # open tasks posted in a channel
    INVOLVED = "involved"  # open tasks I assigned or am assigned to (``/task list``)


class PageKey(_Frozen):
    """Where a page of a list starts or ends: a task's place in the list order (due instant,
    none last, then handle number). A keyset, so a page never shifts when other tasks change."""

    due_at: datetime | None
    number: int

    @classmethod
    def of(cls, task: Task) -> PageKey:
        number = parse_handle(task.handle)
        if number is None:
            raise ValueError(f"not a taskbot handle: {task.handle}")
        return cls(due_at=task.due_instant(), number=number)


class TaskQuery(_Frozen):
    """A list request; backends answer open tasks, soonest due first, then by handle.

    ``after`` / ``before``: the page that follows (precedes) that place in the order."""

    team_id: str
    view: ListView
    user_id: str | None = None
    group_ids: frozenset[str] = frozenset()
    channel_id: str | None = None
    now: datetime | None = None
    limit: int = Field(default=50, ge=1, le=1000)
    after: PageKey | None = None
    before: PageKey | None = None


class TaskPage(list["Task"]):
    """One page of a list (tasks without their comments or attachments), with the number of
    tasks in the whole list and whether pages come before or after it."""

    def __init__(
        self, tasks: Iterable[Task] = (), *, total: int, more_before: bool, more_after: bool
    ) -> None:
        super().__init__(tasks)
        self.total = total
        self.more_before = more_before
        self.more_after = more_after


def list_total(tasks: list[Task]) -> int:
    """How many tasks the whole list has: a page's count, else the tasks given."""
    return tasks.total if isinstance(tasks, TaskPage) else len(tasks)


class CardKind(StrEnum):
    CHANNEL = "channel"
    ASSIGNEE_DM = "assignee_dm"
    ASSIGNOR_DM = "assignor_dm"
    REMINDER_DM = "reminder_dm"


class CardRef(_Frozen):
    """A Slack message that shows a task, so every copy can be updated in place."""

    team_id: str
    task_id: str
    channel_id: str
    message_ts: str
    kind: CardKind
    user_id: str | None = None


class CardClaim(_Frozen):
    """The right to write one version of a task into one card (a compare-and-set in the store):
    held while the Slack call runs, then settled (recorded as shown) or released."""

    channel_id: str
    message_ts: str
    version: int
    token: str
    stamp: int = 0  # the reader's reminder count the write shows (``storage.task_cards``)
