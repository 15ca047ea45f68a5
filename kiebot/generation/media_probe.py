"""What a file really is, measured from its bytes: type, pixel size, duration.

Telegram measures photos itself (it re-encodes them, https://core.telegram.org/bots/api#photosize)
and reports the duration of audio, voice and video messages, but a *document* carries only the
sender's file name, a MIME type guessed from it, and a size. A 4000 px picture or a minute of
audio sent as a file would pass a model's ``max_side_px`` / ``max_seconds`` unchecked — and a
metered model (billed per second of input) could not even be priced. So documents are measured
here before the wizard accepts them, with two well-kept libraries that read headers and do not
decode the media: Pillow for images (https://pillow.readthedocs.io) and mutagen for audio and
MP4/QuickTime durations (https://mutagen.readthedocs.io).

Pure and synchronous: bytes (or a seekable file, e.g. a
:class:`~kiebot.generation.media_file.MediaFile`'s reader — the parsers seek, they need not hold
the file) in, :class:`Measured` or ``None`` (unreadable) out. Any parser failure on hostile bytes
is "unreadable", never an exception.
"""

from __future__ import annotations

import io
import math
import struct
from dataclasses import dataclass
from typing import BinaryIO, Final

import mutagen
from mutagen.aac import AAC
from mutagen.flac import FLAC
from mutagen.mp3 import MP3
from mutagen.mp4 import MP4
from mutagen.oggopus import OggOpus
from mutagen.oggvorbis import OggVorbis
from mutagen.wave import WAVE
from PIL import Image

#: Pillow's format names → the MIME types the catalogue speaks.
_IMAGE_TYPES: Final = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp", "GIF": "image/gif"}
#: mutagen's container classes → MIME types (audio); MP4 is told apart from video by the caller.
_AUDIO_TYPES: Final[tuple[tuple[type[mutagen.FileType], str], ...]] = (
    (MP3, "audio/mpeg"),
    (WAVE, "audio/wav"),
    (MP4, "audio/mp4"),
    (OggOpus, "audio/ogg"),
    (OggVorbis, "audio/ogg"),
    (AAC, "audio/aac"),
    (FLAC, "audio/flac"),
)
#: What a parser may raise on truncated or hostile input; all of it means "cannot be measured".
_PARSE_ERRORS: Final = (
    mutagen.MutagenError,
    OSError,  # PIL.UnidentifiedImageError is one
    ValueError,
    EOFError,
    IndexError,
    KeyError,
    OverflowError,
    SyntaxError,  # Pillow's plugins signal a broken header this way
    struct.error,
    Image.DecompressionBombError,  # more pixels than anything a model takes; not worth opening
)


@dataclass(frozen=True)
class Measured:
    """What the bytes say: the real MIME type and, where the kind has them, pixels and seconds."""

    mime_type: str
    width: int | None = None
    height: int | None = None
    duration_s: int | None = None


def measure(data: bytes | BinaryIO, kind: str) -> Measured | None:
    """Measure ``data`` as the catalogue's media ``kind`` (``image``, ``audio`` or ``video``).

    Returns ``None`` when the bytes are not a file of that kind that can be measured: an image
    without a readable size, audio or video without a positive duration.
    """
    if isinstance(data, bytes):
        data = io.BytesIO(data)
    data.seek(0)
    if kind == "image":
        return _image(data)
    if kind == "audio":
        return _audio(data)
    if kind == "video":
        return _video(data)
    return None


def _image(data: BinaryIO) -> Measured | None:
    try:
        with Image.open(data) as image:
            width, height = image.size
            kind = image.format or ""
            image.verify()  # chunk checksums and structure, without decoding the pixels
    except _PARSE_ERRORS:
        return None
    if width <= 0 or height <= 0 or not kind:
        return None
    return Measured(_IMAGE_TYPES.get(kind, f"image/{kind.lower()}"), width=width, height=height)


def _audio(data: BinaryIO) -> Measured | None:
    parsed = _mutagen(data, [cls for cls, _ in _AUDIO_TYPES])
    if parsed is None:
        return None
    found, seconds = parsed
    mime = next(mime for cls, mime in _AUDIO_TYPES if isinstance(found, cls))
    return Measured(mime, duration_s=seconds)


def _video(data: BinaryIO) -> Measured | None:
    parsed = _mutagen(data, [MP4])
    if parsed is None:
        return None
    _, seconds = parsed
    # An ISO BMFF file names its family in the "ftyp" box: "qt  " is QuickTime (.mov).
    data.seek(0)
    head = data.read(12)
    brand = head[8:12] if head[4:8] == b"ftyp" else b""
    return Measured("video/quicktime" if brand == b"qt  " else "video/mp4", duration_s=seconds)


def _mutagen(data: BinaryIO, options: list[type[mutagen.FileType]]) -> tuple[mutagen.FileType, int] | None:
    try:
        found = mutagen.File(data, options=options)
        length = float(found.info.length) if found is not None else 0.0
    except _PARSE_ERRORS:
        return None
    if found is None or not math.isfinite(length) or length <= 0:
        return None
    return found, max(1, math.ceil(length))
