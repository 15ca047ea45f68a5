"""Files a user sends to the wizard: what Telegram says about them, checked against the model.

Telegram describes files without downloading them (https://core.telegram.org/bots/api#message):

* a **photo** is a list of sizes with no MIME type — Telegram re-encodes photos as JPEG, so it is
  taken as ``image/jpeg`` with the largest size's width and height;
* a **document** carries ``mime_type`` (PNG, WebP, a PDF...), guessed from the sender's file name,
  and ``file_size`` — no pixels, no duration; :mod:`.documents` measures those (and the real
  type) from the bytes before the file is accepted;
* **audio** / **voice** / **video** carry their ``duration`` in seconds, which also measures the
  quantity of a metered model (audio isolation is billed per second of input).

Only the ``file_id`` is kept (the submitter downloads it and uploads the bytes to Kie); a
Telegram file URL holds the bot token and never leaves the process. Pure: no I/O.
"""

from __future__ import annotations

import mimetypes
from collections.abc import Sequence
from typing import Final

from kiebot.catalog import InputIssue, ModelSpec, validate_request
from kiebot.catalog.types import MediaSpec
from kiebot.generation.request import MediaRef
from kiebot.telegram.types import Message

PHOTO_MIME: Final = "image/jpeg"
_SHORT_NAMES: Final = {
    "image/jpeg": "JPEG",
    "image/png": "PNG",
    "image/webp": "WebP",
    "audio/mpeg": "MP3",
    "audio/wav": "WAV",
    "audio/x-wav": "WAV",
    "audio/aac": "AAC",
    "audio/mp4": "M4A",
    "audio/ogg": "OGG",
    "video/mp4": "MP4",
    "video/quicktime": "MOV",
}
#: Issues that are about one file (count problems are the step's business, not the file's).
_FILE_CODES: Final = frozenset(("bad_mime", "too_big", "media_too_long", "too_large_px"))


def _guess(file_name: str | None) -> str | None:
    return mimetypes.guess_type(file_name)[0] if file_name else None


def incoming_file(message: Message) -> MediaRef | None:
    """The file in a user's message, or None when it has none the wizard could use."""
    if message.photo:
        largest = max(message.photo, key=lambda size: (size.width * size.height, size.file_size or 0))
        return MediaRef(
            file_id=largest.file_id,
            mime_type=PHOTO_MIME,
            size_bytes=largest.file_size or 0,
            width=largest.width or None,
            height=largest.height or None,
        )
    if message.audio is not None:
        audio = message.audio
        return MediaRef(
            file_id=audio.file_id,
            mime_type=audio.mime_type or _guess(audio.file_name) or "audio/mpeg",
            size_bytes=audio.file_size or 0,
            duration_s=audio.duration,
            file_name=audio.file_name,
        )
    if message.voice is not None:
        voice = message.voice
        return MediaRef(
            file_id=voice.file_id, mime_type=voice.mime_type or "audio/ogg", size_bytes=voice.file_size or 0, duration_s=voice.duration
        )
    if message.video is not None:
        video = message.video
        return MediaRef(
            file_id=video.file_id,
            mime_type=video.mime_type or "video/mp4",
            size_bytes=video.file_size or 0,
            duration_s=video.duration,
            width=video.width or None,
            height=video.height or None,
            file_name=video.file_name,
        )
    if message.document is not None:
        document = message.document
        return MediaRef(
            file_id=document.file_id,
            mime_type=document.mime_type or _guess(document.file_name) or "application/octet-stream",
            size_bytes=document.file_size or 0,
            file_name=document.file_name,
        )
    return None


def file_issues(spec: ModelSpec, media: MediaSpec, ref: MediaRef) -> list[InputIssue]:
    """What is wrong with one file for ``media``: type, size, duration, pixels (empty when fine)."""
    issues = validate_request(spec, {}, prompt=None, media={media.wire: [ref.item()]})
    return [i for i in issues if i.field == media.wire and i.code in _FILE_CODES]


def format_names(mime_types: Sequence[str]) -> str:
    """``("image/jpeg", "image/png")`` → ``"JPEG, PNG"`` (for "what is accepted" messages)."""
    names = dict.fromkeys(_SHORT_NAMES.get(m, m) for m in mime_types)
    return ", ".join(names)
