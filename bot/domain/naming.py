"""Person-facing text that names people and groups by reference, never by chat markup.

The domain and the service write ``{@0}``, ``{@1}``, … where the n-th of a message's ``refs``
goes. The chat layer escapes the whole text first and renders each reference from its id after,
so typed text can never become a mention; at most it repeats a reference the message already
names. Logs, the CLI and plain-text surfaces use ``plain``. Imports only the domain models.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence

from bot.domain.models import Assignee

REF_RE = re.compile(r"\{@(\d+)\}")


def fill(text: str, refs: Sequence[Assignee], render: Callable[[Assignee], str]) -> str:
    """``text`` with every ``{@n}`` that names one of ``refs`` replaced by ``render(ref)``."""

    def one(match: re.Match[str]) -> str:
        index = int(match.group(1))
        return render(refs[index]) if index < len(refs) else match.group(0)

    return REF_RE.sub(one, text) if refs else text


def plain(text: str, refs: Sequence[Assignee]) -> str:
    """The text with references as ``@id``: for logs, the CLI and plain-text fields."""
    return fill(text, refs, lambda a: f"@{a.id}")


class Naming:
    """Collects the assignees a message names; ``naming(people)`` gives their placeholders."""

    def __init__(self) -> None:
        self.refs: list[Assignee] = []

    def __call__(self, assignees: Iterable[Assignee]) -> str:
        marks = []
        for assignee in assignees:
            marks.append(f"{{@{len(self.refs)}}}")
            self.refs.append(assignee)
        return ", ".join(marks)
