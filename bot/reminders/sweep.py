"""The reminder sweep: claim due reminders in the store, DM them, record the outcome.

Claims are atomic in the store, so any number of schedulers may sweep at once and none sends a
reminder another one sent. A claim expires: a scheduler that died mid-sweep leaves its reminders
to the next one. Failed deliveries go back to the ledger and are retried at the next sweep,
up to ``max_attempts``; then the assignor is told once. Reminders found long overdue (the bot was
down) are sent once, marked late, and repeats of the same task for the same person collapse.
Imports the domain and the service ports.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Protocol

from bot.domain.errors import DomainError, NotFound
from bot.domain.models import Assignee, AssigneeKind, ListView, PartState, Task, TaskQuery
from bot.domain.reminders import ReminderKind
from bot.metrics import REMINDERS_DUE, observe_reminder
from bot.service.ports import Clock, Directory, ReminderSender, TaskBackend
from bot.service.work import claimer_name

log = logging.getLogger(__name__)


class ClaimedReminder(Protocol):
    @property
    def id(self) -> int: ...
    @property
    def team_id(self) -> str: ...
    @property
    def task_id(self) -> str: ...
    @property
    def handle(self) -> str: ...
    @property
    def assignee_id(self) -> str: ...
    @property
    def due_at(self) -> datetime: ...
    @property
    def attempts(self) -> int: ...
    @property
    def kind(self) -> str: ...
    @property
    def taken_over(self) -> bool: ...


class ClaimingLedger(Protocol):
    def claim_due(
        self, now: datetime, *, limit: int, claimer: str, lease: timedelta
    ) -> Sequence[ClaimedReminder]: ...

    def mark_sent(self, reminder_id: int, claimer: str, now: datetime) -> bool: ...

    def mark_cancelled(self, reminder_id: int, claimer: str) -> bool: ...

    def mark_failed(self, reminder_id: int, claimer: str, error: str) -> bool: ...

    def release(self, reminder_id: int, claimer: str, error: str) -> bool: ...

    def renew(self, reminder_id: int, claimer: str, until: datetime) -> bool: ...


class ReminderSweep:
    def __init__(
        self,
        ledger: ClaimingLedger,
        backend: TaskBackend,
        directory: Directory,
        sender: ReminderSender,
        clock: Clock,
        *,
        plan_digest: Callable[[str, str], None] = lambda team_id, user_id: None,
        after_sent: Callable[[Task, str], None] = lambda task, user_id: None,
        batch: int = 100,
        lease: timedelta = timedelta(minutes=2),
        grace: timedelta = timedelta(minutes=15),
        max_attempts: int = 5,
        senders: int = 8,
    ) -> None:
        self._ledger = ledger
        self._backend = backend
        self._directory = directory
        self._sender = sender
        self._clock = clock
        self._plan_digest = plan_digest
        self._after_sent = after_sent
        self._batch = batch
        self._lease = lease
        self._grace = grace
        self._max_attempts = max_attempts
        self._senders = senders
        self.claimer = claimer_name()

    def run_once(self) -> int:
        """One sweep; returns how many reminders were delivered."""
        now = self._clock()
        delivered = 0
        while True:
            claimed = self._ledger.claim_due(
                now, limit=self._batch, claimer=self.claimer, lease=self._lease
            )
            latest: dict[tuple[str, str], ClaimedReminder] = {}
            for reminder in sorted(claimed, key=lambda r: r.due_at):
                REMINDERS_DUE.labels(str(reminder.kind)).inc()
                key = (reminder.task_id, reminder.assignee_id)
                if key in latest:  # stale repeats of one reminder collapse into the latest
                    self._ledger.mark_cancelled(latest[key].id, self.claimer)
                latest[key] = reminder
            # Each reminder has its own claim, so sending several at once never sends one twice;
            # Slack's per-channel limits are per person, and every DM goes to another person.
            with ThreadPoolExecutor(self._senders, thread_name_prefix="reminder-send") as pool:
                delivered += sum(pool.map(lambda r: self._deliver(r, now), latest.values()))
            if len(claimed) < self._batch:
                return delivered

    def _deliver(self, reminder: ClaimedReminder, now: datetime) -> int:
        if reminder.kind == ReminderKind.DIGEST:
            return self._deliver_digest(reminder, now)
        try:
            task = self._backend.get(reminder.team_id, reminder.handle)
        except NotFound:
            self._ledger.mark_cancelled(reminder.id, self.claimer)
            return 0
        except DomainError as exc:  # the task system is down: try again next sweep
            self._ledger.release(reminder.id, self.claimer, exc.message)
            return 0
        if reminder.kind == ReminderKind.ESCALATE:
            pending = self._pending_people(task)
            moot = not pending
        else:
            pending, moot = [], not self._still_pending(task, reminder.assignee_id)
        if moot:
            self._ledger.mark_cancelled(reminder.id, self.claimer)
            return 0
        late = now - reminder.due_at > self._grace

        def send() -> None:
            if reminder.kind == ReminderKind.ESCALATE:
                self._sender.escalate(task, pending, reminder_id=reminder.id)
            else:
                self._sender.send_reminder(
                    task, reminder.assignee_id, late=late, reminder_id=reminder.id
                )

        return self._send_once(reminder, now, send, task=task)

    def _deliver_digest(self, reminder: ClaimedReminder, now: datetime) -> int:
        team_id, user_id = reminder.team_id, reminder.assignee_id
        try:
            self._plan_digest(team_id, user_id)  # the next one first: the chain never breaks
            query = TaskQuery(
                team_id=team_id,
                view=ListView.MINE,
                user_id=user_id,
                group_ids=self._directory.groups_of(team_id, user_id),
                now=now,
            )
            tasks = self._backend.list(query)
        except DomainError as exc:
            self._ledger.release(reminder.id, self.claimer, exc.message)
            return 0
        if not tasks:  # an empty digest is noise
            self._ledger.mark_cancelled(reminder.id, self.claimer)
            return 0
        return self._send_once(
            reminder,
            now,
            lambda: self._sender.send_digest(team_id, user_id, tasks, reminder_id=reminder.id),
        )

    def _send_once(
        self,
        reminder: ClaimedReminder,
        now: datetime,
        send: Callable[[], None],
        task: Task | None = None,
    ) -> int:
        """Send unless another sender holds the claim now or already sent it before dying."""
        if not self._ledger.renew(reminder.id, self.claimer, self._clock() + self._lease):
            return 0  # taken over by another sender meanwhile: theirs now
        if reminder.taken_over and self._already_sent(reminder):
            self._ledger.mark_sent(reminder.id, self.claimer, now)
            log.info("reminder %s was sent by a sender that died; not sending again", reminder.id)
            return 0
        try:
            send()
        except Exception as exc:  # Slack refused or is down: retried, then reported
            error = f"{type(exc).__name__}: {exc}"
            if reminder.attempts >= self._max_attempts:
                self._ledger.mark_failed(reminder.id, self.claimer, error)
                if task is not None and reminder.kind == ReminderKind.REMIND:
                    self._tell_assignor(task, reminder.assignee_id)
            else:
                self._ledger.release(reminder.id, self.claimer, error)
            log.warning("reminder %s (%s) failed: %s", reminder.id, reminder.kind, error)
            return 0
        if not self._ledger.mark_sent(reminder.id, self.claimer, now):
            log.warning("reminder %s was sent after its claim expired", reminder.id)
        observe_reminder(str(reminder.kind), reminder.due_at, self._clock())
        if task is not None and reminder.kind == ReminderKind.REMIND:
            self._reader_changed(task, reminder.assignee_id)
        return 1

    def _reader_changed(self, task: Task, user_id: str) -> None:
        """The person's cards stop naming the reminder just sent (after it is recorded sent)."""
        try:
            self._after_sent(task, user_id)
        except Exception:  # the reminder is out; the card sweep rewrites the card later
            log.exception(
                "card refresh after reminder failed team=%s task=%s", task.team_id, task.handle
            )

    def _already_sent(self, reminder: ClaimedReminder) -> bool:
        try:
            return self._sender.already_sent(
                reminder.team_id, reminder.assignee_id, reminder.id, since=reminder.due_at
            )
        except Exception as exc:  # can't tell: sending twice beats never sending
            log.warning("could not check reminder %s in Slack: %s", reminder.id, exc)
            return False

    def _pending_people(self, task: Task) -> list[str]:
        """Mentions of the pending parts: users, and groups as groups."""
        return [part.assignee.id for part in task.parts if part.state is PartState.TODO]

    def _still_pending(self, task: Task, user_id: str) -> bool:
        if not task.is_open:
            return False
        for part in task.parts:
            if part.state is not PartState.TODO:
                continue
            if part.assignee.kind is AssigneeKind.USER and part.assignee.id == user_id:
                return True
            if part.assignee.kind is AssigneeKind.GROUP:
                try:
                    if user_id in self._directory.group_members(task.team_id, part.assignee.id):
                        return True
                except DomainError:
                    continue
        return False

    def _tell_assignor(self, task: Task, user_id: str) -> None:
        try:
            self._sender.tell_assignor(
                task,
                f"I couldn't deliver the reminder for *{task.handle}* to {{@0}}.",
                (Assignee.user(user_id),),
            )
        except Exception:  # nothing more can be done from here
            log.exception("could not tell the assignor of %s", task.handle)
