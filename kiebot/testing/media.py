"""Tiny, valid media files for tests and the sandbox, generated in memory.

Telegram checks that a ``sendPhoto`` upload is a real image (``IMAGE_PROCESS_FAILED`` otherwise,
https://core.telegram.org/bots/api#sendphoto), so fixtures must be real files: :func:`png` builds a
true PNG of any size with :mod:`zlib`; :data:`JPEG_8X8` is a tiny real JPEG. The others
only need the right magic bytes, because neither Telegram's Bot API nor our fake decodes them.
:func:`image_size` reads width and height back from PNG, JPEG, GIF and WebP headers.
"""

from __future__ import annotations

import base64
import struct
import zlib

#: An 8×8 white greyscale baseline JPEG (222 bytes), encoded once with ffmpeg 4.4
#: (``ffmpeg -f lavfi -i color=white:s=8x8 -frames:v 1 -q:v 31 -pix_fmt gray``).
JPEG_8X8 = base64.b64decode(
    "/9j/4AAQSkZJRgABAgAAAQABAAD//gAQTGF2YzU5LjM3LjEwMAD/2wBDAAg+Pkk+SVVVVVVVVWRdZGhoaGRkZGRoaGhwcHCD"
    "g4NwcHBoaHBwfHyDg4+Tj4eHg4eTk5ubm7q6srLZ2eD/////xABLAAEBAAAAAAAAAAAAAAAAAAAABwEBAAAAAAAAAAAAAAAA"
    "AAAAABABAAAAAAAAAAAAAAAAAAAAABEBAAAAAAAAAAAAAAAAAAAAAP/AABEIAAgACAMBEgACEgADEgD/2gAMAwEAAhEDEQA/"
    "AL+AD//Z"
)

#: The first page of an Ogg stream with an Opus head: enough for a "voice note" fixture.
OGG_OPUS = b"OggS\x00\x02" + bytes(20) + b"\x01\x13OpusHead\x01\x01\x38\x01\x80\xbb\x00\x00\x00\x00\x00"

#: An MPEG-1 Layer III frame header followed by silence: enough for an "audio" fixture.
MP3 = b"ID3\x03\x00\x00\x00\x00\x00\x00" + b"\xff\xfb\x90\x64" + bytes(413)

#: An ISO BMFF ``ftyp`` box: enough for a "video" fixture.
MP4 = struct.pack(">I", 24) + b"ftypisom" + b"\x00\x00\x02\x00" + b"isomiso2"

#: A one-page PDF skeleton: enough for a "document" fixture.
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def _chunk(kind: bytes, data: bytes) -> bytes:
    return (
        struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    )


def png(width: int = 2, height: int = 2, rgb: tuple[int, int, int] = (200, 30, 30)) -> bytes:
    """A valid truecolour PNG filled with one colour."""
    if width < 1 or height < 1:
        raise ValueError("width and height must be positive")
    row = b"\x00" + bytes(rgb) * width
    raw = row * height
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(raw))
        + _chunk(b"IEND", b"")
    )


def blob(size: int, fill: bytes = b"\0") -> bytes:
    """``size`` bytes, for size-limit tests (20 MB download cap, 10 MB photo cap, 50 MB uploads)."""
    return (fill * (size // max(len(fill), 1) + 1))[:size]


def image_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) of a PNG, JPEG, GIF or WebP, or None when ``data`` is none of them."""
    if data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) >= 24:
        width, height = struct.unpack(">II", data[16:24])
        return int(width), int(height)
    if data[:6] in (b"GIF87a", b"GIF89a") and len(data) >= 10:
        width, height = struct.unpack("<HH", data[6:10])
        return int(width), int(height)
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP" and len(data) >= 30:
        if data[12:16] == b"VP8X":
            width = int.from_bytes(data[24:27], "little") + 1
            height = int.from_bytes(data[27:30], "little") + 1
            return width, height
        if data[12:16] == b"VP8 ":
            width, height = struct.unpack("<HH", data[26:30])
            return int(width) & 0x3FFF, int(height) & 0x3FFF
        if data[12:16] == b"VP8L" and len(data) >= 25:
            bits = int.from_bytes(data[21:25], "little")
            return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
        return None
    if data.startswith(b"\xff\xd8"):
        return _jpeg_size(data)
    return None


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    i = 2
    while i + 9 < len(data):
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            i += 2
            continue
        (length,) = struct.unpack(">H", data[i + 2 : i + 4])
        if marker in (0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF):
            height, width = struct.unpack(">HH", data[i + 5 : i + 9])
            return int(width), int(height)
        i += 2 + length
    return None
