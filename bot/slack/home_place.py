"""Where each App Home section is paged to, carried in its Previous / Next buttons.

A Home has three sections, each a list with its own keyset place (``after`` or ``before`` a
task's place in the list order, or neither: the first page). Every button carries the whole
Home's place with its own section moved, so a turn keeps the other sections where they were
without any state on the server. The value is Slack input like any other: bounded and parsed
strictly (``decode``), never trusted. May import pydantic and ``bot.domain``.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Final, Literal, Self

from pydantic import BaseModel, ConfigDict, model_validator

from bot.domain.models import PageKey

Section = Literal["mine", "assigned", "overdue"]
SECTIONS: Final[tuple[Section, ...]] = ("mine", "assigned", "overdue")
MAX_VALUE: Final = 300  # three places of about 40 characters each; Slack allows 2,000
_PLACE = re.compile(r"([ab])([0-9T:+\-.]{0,40})/([0-9]{1,10})")


class SectionPlace(BaseModel):
    """One section's page: the one after ``after``, before ``before``, or the first."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    after: PageKey | None = None
    before: PageKey | None = None

    @model_validator(mode="after")
    def _one_side(self) -> Self:
        if self.after is not None and self.before is not None:
            raise ValueError("a page is after one place or before one, not both")
        return self


FIRST: Final = SectionPlace()


class HomePlace(BaseModel):
    """Every section's page; the default is each section's first page."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    mine: SectionPlace = FIRST
    assigned: SectionPlace = FIRST
    overdue: SectionPlace = FIRST

    def of(self, section: Section) -> SectionPlace:
        place: SectionPlace = getattr(self, section)
        return place

    def moved(self, section: Section, place: SectionPlace) -> HomePlace:
        return self.model_copy(update={section: place})

    def encode(self) -> str:
        """``a<due>/<number>`` (after), ``b<due>/<number>`` (before) or empty (first page) for
        each section, ``;`` between; an undated place has an empty due."""
        return ";".join(_encode(self.of(section)) for section in SECTIONS)

    @classmethod
    def decode(cls, value: str) -> HomePlace:
        """The place a button carries; ValueError for anything ``encode`` doesn't make."""
        if len(value) > MAX_VALUE:
            raise ValueError("home place too long")
        pieces = value.split(";")
        if len(pieces) != len(SECTIONS):
            raise ValueError("home place needs one piece per section")
        return cls(**{s: _decode(p) for s, p in zip(SECTIONS, pieces, strict=True)})


START: Final = HomePlace()


def _encode(place: SectionPlace) -> str:
    side, key = ("a", place.after) if place.after is not None else ("b", place.before)
    if key is None:
        return ""
    due = key.due_at.isoformat() if key.due_at is not None else ""
    return f"{side}{due}/{key.number}"


def _decode(piece: str) -> SectionPlace:
    if not piece:
        return FIRST
    match = _PLACE.fullmatch(piece)
    if match is None:
        raise ValueError("not a home place")
    side, due, number = match.groups()
    due_at = datetime.fromisoformat(due) if due else None
    if due_at is not None and due_at.tzinfo is None:
        raise ValueError("a home place's due has a zone")
    key = PageKey(due_at=due_at, number=int(number))
    return SectionPlace(after=key) if side == "a" else SectionPlace(before=key)
