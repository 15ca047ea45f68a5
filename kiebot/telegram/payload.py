"""Request bodies for the Bot API: pure functions, no I/O.

https://core.telegram.org/bots/api#making-requests — parameters go as ``application/json`` except
when a file is uploaded, which must be ``multipart/form-data``. In a multipart body every parameter is
a string field: scalars as text and every "JSON-serialized" parameter (``reply_markup``, ``media``,
``prices``, ``allowed_updates``...) as its JSON text; files inside a ``media`` array are referenced as
``attach://<name>`` and travel as parts of that name (https://core.telegram.org/bots/api#inputmediaphoto).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import BinaryIO, Final, TypeVar

import msgspec

from kiebot.telegram.types import InputFile, InputMedia

_json_encoder: Final = msgspec.json.Encoder()

MultipartFiles = list[tuple[str, tuple[str, bytes | BinaryIO, str]]]
"""httpx's ``files=`` shape: (field name, (filename, content, mime type)); content is bytes or a
seekable file object, which httpx streams."""

_MEDIA_FILE_FIELDS: Final = ("media", "thumbnail")


def clean_params(params: Mapping[str, object | None]) -> dict[str, object]:
    """Drop parameters that are ``None`` (unset): Telegram treats an absent field as the default."""
    return {name: value for name, value in params.items() if value is not None}


def json_body(params: Mapping[str, object]) -> bytes:
    """The whole request as one JSON object (Structs encode without their unset fields)."""
    return _json_encoder.encode(params)


def form_value(value: object) -> str:
    """One multipart field: strings as they are, everything else as JSON text (``true``, ``42``,
    ``{"inline_keyboard": ...}``)."""
    if isinstance(value, str):
        return value
    return _json_encoder.encode(value).decode()


def multipart_fields(params: Mapping[str, object]) -> dict[str, str]:
    """Every non-file parameter as a string field of a multipart body."""
    _refuse_inline_files(params)
    return {name: form_value(value) for name, value in params.items()}


def multipart_files(files: Mapping[str, InputFile]) -> MultipartFiles:
    """Files in httpx's ``files=`` shape, one part per attach name."""
    return [(name, (upload.filename, upload.content, upload.mime_type)) for name, upload in files.items()]


_M = TypeVar("_M", bound=InputMedia)


def attach_media(media: Sequence[_M], *, prefix: str = "file") -> tuple[list[_M], dict[str, InputFile]]:
    """Replace every :class:`InputFile` inside ``media`` (its ``media`` and ``thumbnail``) by an
    ``attach://<name>`` reference and return the files to upload under those names.

    Names are ``file0``, ``file1``... in order of appearance, so a body is reproducible.
    """
    files: dict[str, InputFile] = {}
    prepared: list[_M] = []
    for item in media:
        changes: dict[str, str] = {}
        for field_name in _MEDIA_FILE_FIELDS:
            value = getattr(item, field_name, None)
            if isinstance(value, InputFile):
                name = f"{prefix}{len(files)}"
                files[name] = value
                changes[field_name] = f"attach://{name}"
        prepared.append(msgspec.structs.replace(item, **changes) if changes else item)
    return prepared, files


@dataclass(frozen=True, slots=True)
class RequestBody:
    """What goes on the wire for one call: either ``json`` bytes or ``form`` fields plus ``files``."""

    json: bytes | None = None
    form: dict[str, str] | None = None
    files: MultipartFiles | None = None

    @property
    def is_multipart(self) -> bool:
        return self.files is not None


def _refuse_inline_files(params: Mapping[str, object]) -> None:
    """An InputFile left inside the parameters would be JSON-encoded (base64 bytes) instead of
    uploaded; refuse it loudly."""
    for name, value in params.items():
        items = value if isinstance(value, list) else [value]
        for item in items:
            if isinstance(item, InputFile) or any(
                isinstance(getattr(item, field, None), InputFile) for field in _MEDIA_FILE_FIELDS
            ):
                raise TypeError(f"parameter {name!r} holds a file; pass it in files= (see attach_media)")


def build_body(params: Mapping[str, object], files: Mapping[str, InputFile] | None) -> RequestBody:
    """JSON unless there is a file to upload; multipart only then."""
    _refuse_inline_files(params)
    if files:
        return RequestBody(form=multipart_fields(params), files=multipart_files(files))
    return RequestBody(json=json_body(params))
