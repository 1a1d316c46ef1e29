"""Bulk links from a CSV file, for task systems with no directory API (``taskbot users``).

Header (DESIGN.md): ``team_id,slack_user,backend,assignee_id``; ``team,slack,…`` is read as an
alias. ``slack_user`` is a user id ``U…``/``W…``, a user group id ``S…`` or an email. Ids are
checked by shape only, so a file of ids needs no network; Slack is asked only for emails, and a
failed lookup is that row's problem, never the file's. Every row is checked before anything is
written; a file with any bad row writes nothing unless ``partial`` is asked for, and then only the
good rows. Export writes the same header, then ``kind,how,set_by,set_at``. Imports the domain and
the service ports only.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from bot.domain.errors import DomainError, InvalidInput
from bot.domain.links import LinkHow, UserLink, check_assignee_id
from bot.domain.models import AssigneeKind, BackendCapabilities
from bot.service.ports import Clock, Directory, UserMapStore

COLUMNS = ("team_id", "slack_user", "backend", "assignee_id")
ALIASES = {"team": "team_id", "slack": "slack_user"}  # the short header of older READMEs
EXPORT_COLUMNS = (*COLUMNS, "kind", "how", "set_by", "set_at")
_USER_ID = re.compile(r"[UW][A-Z0-9]+")
_GROUP_ID = re.compile(r"S[A-Z0-9]+")


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


def read_rows(text: str) -> Iterator[tuple[int, dict[str, str]]]:
    """(line number, the row's four values trimmed) for every data row; InvalidInput when the
    header lacks a column (the short ``team,slack`` names count as the long ones)."""
    reader = csv.reader(io.StringIO(text))
    header = [ALIASES.get(name.strip(), name.strip()) for name in next(reader, [])]
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        raise InvalidInput(
            {"file": f"Missing column(s): {', '.join(missing)}; expected {','.join(COLUMNS)}."}
        )
    where = {c: header.index(c) for c in COLUMNS}
    for cells in reader:
        if not any(cell.strip() for cell in cells):
            continue  # a blank line (an editor's trailing newline) is no row
        yield (
            reader.line_num,
            {c: (cells[i].strip() if i < len(cells) else "") for c, i in where.items()},
        )


def email_lines(text: str) -> list[int]:
    """Lines whose ``slack_user`` is an email: only they need Slack (and its token)."""
    return [line for line, row in read_rows(text) if "@" in row["slack_user"]]


class LinkImport:
    def __init__(
        self,
        store: UserMapStore,
        directory: Directory | None,
        clock: Clock,
        capabilities: Callable[[str], BackendCapabilities | None],
    ) -> None:
        """``capabilities(name)``: the backend's, or None for a name taskbot doesn't know.
        ``directory`` None: no Slack token, so an email row is refused with that reason."""
        self._store = store
        self._directory = directory
        self._clock = clock
        self._capabilities = capabilities
        self._slack_down: str | None = None  # after one failed lookup, don't ask again

    def _by_email(self, team: str, email: str) -> str:
        """The Slack user id with this email; any failure to ask is this row's reason."""
        if self._directory is None:
            raise InvalidInput({"slack": f"can't look up {email}: SLACK_BOT_TOKEN is not set"})
        if self._slack_down is None:
            try:
                user = self._directory.find_by_email(team, email)
            except DomainError as exc:
                self._slack_down = exc.message
            except Exception as exc:  # the network, whatever it does, fails this row only
                self._slack_down = f"Slack could not be reached ({type(exc).__name__})"
            else:
                if user is None:
                    raise InvalidInput({"slack": f"no Slack user with the email {email}"})
                return user
        raise InvalidInput({"slack": f"can't look up {email}: {self._slack_down}"})

    def run(self, text: str, *, partial: bool = False) -> ImportReport:
        report = ImportReport()
        seen_ids: dict[tuple[str, str, AssigneeKind, str], int] = {}
        seen_slack: dict[tuple[str, str, str], int] = {}
        for line, row in read_rows(text):
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

    def _link(self, values: dict[str, str]) -> UserLink:
        empty = [c for c in COLUMNS if not values[c]]
        if empty:
            raise InvalidInput({"row": f"empty {', '.join(empty)}"})
        team, slack, backend = values["team_id"], values["slack_user"], values["backend"]
        capabilities = self._capabilities(backend)
        if capabilities is None:
            raise InvalidInput({"backend": f"unknown backend {backend!r}"})
        assignee_id = check_assignee_id(capabilities, values["assignee_id"])
        if "@" in slack:
            slack, kind = self._by_email(team, slack), AssigneeKind.USER
        elif _USER_ID.fullmatch(slack):
            kind = AssigneeKind.USER
        elif _GROUP_ID.fullmatch(slack):
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
