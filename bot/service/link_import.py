"""Bulk links from a CSV file, for task systems with no directory API (``taskbot users``).

Columns: ``team`` (Slack team id), ``slack`` (a user id ``U…``/``W…``, a user group id ``S…``
or an email), ``backend`` and ``assignee_id``. Every row is checked before anything is written;
a file with any bad row writes nothing unless ``partial`` is asked for, and then only the good
rows. Imports the domain and the service ports only.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from bot.domain.errors import DomainError, InvalidInput
from bot.domain.links import LinkHow, UserLink, check_assignee_id
from bot.domain.models import AssigneeKind, BackendCapabilities
from bot.service.ports import Clock, Directory, UserMapStore

COLUMNS = ("team", "slack", "backend", "assignee_id")
EXPORT_COLUMNS = (*COLUMNS, "kind", "how", "set_by", "set_at")


@dataclass
class ImportReport:
    links: list[UserLink] = field(default_factory=list)
    problems: list[tuple[int, str]] = field(default_factory=list)  # (line number, why)
    written: int = 0


def decode(data: bytes) -> str:
    """UTF-8 (with or without a BOM); anything else is refused with a message."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidInput(
            {"file": f"The file is not UTF-8 text (byte {exc.start}); save it as UTF-8 CSV."}
        ) from None


class LinkImport:
    def __init__(
        self,
        store: UserMapStore,
        directory: Directory,
        clock: Clock,
        capabilities: Callable[[str], BackendCapabilities | None],
    ) -> None:
        """``capabilities(name)``: the backend's, or None for a name taskbot doesn't know."""
        self._store = store
        self._directory = directory
        self._clock = clock
        self._capabilities = capabilities

    def run(self, text: str, *, partial: bool = False) -> ImportReport:
        reader = csv.DictReader(io.StringIO(text))
        missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise InvalidInput(
                {"file": f"Missing column(s): {', '.join(missing)}; expected {', '.join(COLUMNS)}."}
            )
        report = ImportReport()
        seen_ids: dict[tuple[str, str, AssigneeKind, str], int] = {}
        seen_slack: dict[tuple[str, str, str], int] = {}
        for line, row in enumerate(reader, start=2):
            try:
                link = self._link(row)
            except DomainError as exc:
                report.problems.append((line, exc.message))
                continue
            id_key = (link.team_id, link.backend, link.kind, link.assignee_id)
            slack_key = (link.team_id, link.backend, link.slack_id)
            if id_key in seen_ids:
                report.problems.append(
                    (line, f"{link.assignee_id} is also on line {seen_ids[id_key]}")
                )
                continue
            if slack_key in seen_slack:
                report.problems.append(
                    (line, f"{link.slack_id} is also on line {seen_slack[slack_key]}")
                )
                continue
            taken = self._store.by_assignee(*id_key)
            if taken is not None and taken.slack_id != link.slack_id:
                report.problems.append(
                    (line, f"{link.assignee_id} is already linked to {taken.slack_id}")
                )
                continue
            seen_ids[id_key], seen_slack[slack_key] = line, line
            report.links.append(link)
        if report.problems and not partial:
            return report
        self._store.set_all(report.links)
        report.written = len(report.links)
        return report

    def _link(self, row: dict[str, str | None]) -> UserLink:
        values = {c: (row.get(c) or "").strip() for c in COLUMNS}
        empty = [c for c in COLUMNS if not values[c]]
        if empty:
            raise InvalidInput({"row": f"empty {', '.join(empty)}"})
        team, slack, backend = values["team"], values["slack"], values["backend"]
        capabilities = self._capabilities(backend)
        if capabilities is None:
            raise InvalidInput({"backend": f"unknown backend {backend!r}"})
        assignee_id = check_assignee_id(capabilities, values["assignee_id"])
        if "@" in slack:
            user = self._directory.find_by_email(team, slack)
            if user is None:
                raise InvalidInput({"slack": f"no Slack user with the email {slack}"})
            slack, kind = user, AssigneeKind.USER
        elif slack[:1] in ("U", "W"):
            self._directory.person(team, slack)
            kind = AssigneeKind.USER
        elif slack[:1] == "S":
            self._directory.group_members(team, slack)
            kind = AssigneeKind.GROUP
        else:
            raise InvalidInput({"slack": f"{slack!r} is not a Slack user id, group id or email"})
        return UserLink(
            team_id=team,
            backend=backend,
            slack_id=slack,
            kind=kind,
            assignee_id=assignee_id,
            how=LinkHow.IMPORT,
            set_by=None,
            set_at=self._clock(),
        )


def export(links: Iterable[UserLink]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(EXPORT_COLUMNS)
    for link in links:
        writer.writerow(
            [
                link.team_id,
                link.slack_id,
                link.backend,
                link.assignee_id,
                link.kind.value,
                link.how.value,
                link.set_by or "",
                link.set_at.isoformat(),
            ]
        )
    return out.getvalue()
