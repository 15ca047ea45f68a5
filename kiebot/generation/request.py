"""What the user asked for, as frozen on the job (``jobs.params``) by the wizard's Confirm.

Media are kept as Telegram ``file_id``s, never as Telegram file URLs: a file URL contains the bot
token (https://core.telegram.org/bots/api#file) and must never reach Kie. The submitter downloads
each file and re-uploads the bytes through Kie's upload API (reference §10.8).
"""

from __future__ import annotations

from typing import Any

import msgspec

from kiebot.catalog import MediaItem
from kiebot.catalog.types import Scalar


class MediaRef(msgspec.Struct, frozen=True, kw_only=True):
    """One file the user sent, as Telegram described it."""

    file_id: str
    mime_type: str
    size_bytes: int = 0
    duration_s: int | None = None
    width: int | None = None
    height: int | None = None
    file_name: str | None = None

    def item(self) -> MediaItem:
        return MediaItem(
            mime_type=self.mime_type,
            size_bytes=self.size_bytes,
            duration_s=self.duration_s,
            width=self.width,
            height=self.height,
        )


class JobRequest(msgspec.Struct, frozen=True, kw_only=True):
    """The wizard's result: wire parameters, prompt, media per wire input, billed quantity."""

    params: dict[str, Scalar] = msgspec.field(default_factory=dict)
    prompt: str | None = None
    media: dict[str, list[MediaRef]] = msgspec.field(default_factory=dict)
    quantity: int | None = None
    lang: str = "ru"

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = msgspec.to_builtins(self)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> JobRequest:
        return msgspec.convert(data, cls)
