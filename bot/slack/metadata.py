"""What a modal carries between opening and submission (``private_metadata``, ≤ 3000 chars)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, ValidationError

from bot.domain.models import Attachment, AttachmentKind


class CreateContext(BaseModel):
    """The create modal's context: where to post, and the message it was made from."""

    model_config = ConfigDict(frozen=True)

    channel_id: str | None = None
    source_channel: str | None = None
    source_ts: str | None = None
    permalink: str | None = None

    def attachments(self) -> tuple[Attachment, ...]:
        if self.permalink:
            return (
                Attachment(kind=AttachmentKind.SLACK_MESSAGE, url=self.permalink, title="Message"),
            )
        return ()

    def dump(self) -> str:
        return self.model_dump_json(exclude_none=True)

    @classmethod
    def load(cls, text: str | None) -> CreateContext:
        try:
            return cls.model_validate_json(text or "{}")
        except ValidationError:
            return cls()


class TaskRefContext(BaseModel):
    """A modal about one task: its handle and the version the person saw."""

    model_config = ConfigDict(frozen=True)

    handle: str
    version: int | None = None
    channel_id: str | None = None

    def dump(self) -> str:
        return self.model_dump_json(exclude_none=True)

    @classmethod
    def load(cls, text: str | None) -> TaskRefContext | None:
        try:
            return cls.model_validate_json(text or "")
        except ValidationError:
            return None
