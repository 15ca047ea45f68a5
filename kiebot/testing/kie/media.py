"""Small, real result files for the fake Kie server: PNGs drawn in pure Python, a WAV tone, and the
committed MP4/MP3 fixtures in ``kiebot/testing/media/`` (see its README for the ffmpeg commands).

Real files, not placeholder bytes, so the delivery path (download, size cap, Telegram upload, the
sandbox's ``<img>``/``<video>``/``<audio>``) meets genuine media. No imaging library is needed:
a PNG is a signature plus three CRC-checked chunks around a zlib stream
(https://www.w3.org/TR/png/#5Chunk-layout).
"""

from __future__ import annotations

import hashlib
import math
import struct
import zlib
from collections.abc import Sequence
from functools import cache
from importlib import resources
from typing import Final

RGB = tuple[int, int, int]

# Colour words a prompt may contain (English and Russian stems), checked in this order.
_COLOURS: Final[tuple[tuple[tuple[str, ...], RGB], ...]] = (
    (("red", "красн"), (220, 40, 40)),
    (("orange", "оранж"), (245, 140, 30)),
    (("yellow", "жёлт", "желт"), (245, 215, 40)),
    (("green", "зелён", "зелен"), (40, 170, 70)),
    (("cyan", "голуб"), (40, 200, 220)),
    (("blue", "син"), (40, 80, 220)),
    (("purple", "violet", "фиолет"), (140, 60, 200)),
    (("pink", "розов"), (240, 120, 180)),
    (("black", "чёрн", "черн"), (15, 15, 15)),
    (("white", "бел"), (245, 245, 245)),
    (("gray", "grey", "сер"), (128, 128, 128)),
)

PNG_SIGNATURE: Final = b"\x89PNG\r\n\x1a\n"


def colour_for_prompt(prompt: str) -> RGB:
    """The first colour word in the prompt, else a colour derived from the prompt's hash."""
    lowered = prompt.lower()
    for words, rgb in _COLOURS:
        if any(word in lowered for word in words):
            return rgb
    digest = hashlib.sha256(prompt.encode()).digest()
    return digest[0], digest[1], digest[2]


def _chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def png(width: int, height: int, background: RGB, stripe: RGB | None = None) -> bytes:
    """An 8-bit RGB PNG filled with ``background`` and, if given, a diagonal ``stripe`` band."""
    if not (0 < width <= 4096 and 0 < height <= 4096):
        raise ValueError("PNG size out of range")
    rows = []
    bg = bytes(background)
    fg = bytes(stripe) if stripe else bg
    band = max(1, min(width, height) // 8)
    for y in range(height):
        # the stripe covers x with |x - y| < band
        start, end = (min(width, max(0, y - band + 1)), min(width, max(0, y + band))) if stripe else (0, 0)
        # filter type 0 (None) opens each scanline
        rows.append(b"\x00" + bg * start + fg * (end - start) + bg * (width - end))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit truecolour
    return (
        PNG_SIGNATURE
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(b"".join(rows), 9))
        + _chunk(b"IEND", b"")
    )


def png_for_prompt(prompt: str, *, width: int = 256, height: int = 256) -> bytes:
    """The fake's image result: the prompt's colour with a contrasting stripe."""
    background = colour_for_prompt(prompt)
    stripe: RGB = (255, 255, 255) if sum(background) < 384 else (0, 0, 0)
    return png(width, height, background, stripe)


#: The tEXt keyword under which an image result names the inputs its task consumed.
INPUTS_KEYWORD: Final = b"kie-inputs"


def png_with_inputs(prompt: str, consumed: Sequence[bytes]) -> bytes:
    """The image result of a task that read ``consumed`` input files: :func:`png_for_prompt`
    plus a ``tEXt`` chunk listing the SHA-256 of each input, so a test holding the delivered
    picture can tell whose bytes the task used (https://www.w3.org/TR/png/#11tEXt)."""
    image = png_for_prompt(prompt)
    if not consumed:
        return image
    text = ",".join(hashlib.sha256(data).hexdigest() for data in consumed).encode("ascii")
    header_end = len(PNG_SIGNATURE) + 12 + 13  # the signature, then IHDR (13 bytes of payload)
    return image[:header_end] + _chunk(b"tEXt", INPUTS_KEYWORD + b"\0" + text) + image[header_end:]


def input_digests(image: bytes) -> list[str]:
    """The SHA-256 hex digests a :func:`png_with_inputs` result carries (empty if none)."""
    if not image.startswith(PNG_SIGNATURE):
        return []
    offset = len(PNG_SIGNATURE)
    while offset + 8 <= len(image):
        (length,) = struct.unpack(">I", image[offset : offset + 4])
        kind = image[offset + 4 : offset + 8]
        payload = image[offset + 8 : offset + 8 + length]
        if kind == b"tEXt" and payload.startswith(INPUTS_KEYWORD + b"\0"):
            return payload[len(INPUTS_KEYWORD) + 1 :].decode("ascii").split(",")
        offset += 12 + length
    return []


def wav_tone(seconds: float = 1.0, *, frequency: float = 440.0, rate: int = 8000) -> bytes:
    """A mono 16-bit PCM WAV sine tone (RIFF layout: http://soundfile.sapp.org/doc/WaveFormat/)."""
    count = int(seconds * rate)
    samples = b"".join(
        struct.pack("<h", int(12000 * math.sin(2 * math.pi * frequency * n / rate))) for n in range(count)
    )
    fmt = struct.pack("<HHIIHH", 1, 1, rate, rate * 2, 2, 16)
    body = (
        b"WAVE"
        + b"fmt "
        + struct.pack("<I", len(fmt))
        + fmt
        + b"data"
        + struct.pack("<I", len(samples))
        + samples
    )
    return b"RIFF" + struct.pack("<I", len(body)) + body


@cache
def _fixture(name: str) -> bytes:
    return resources.files("kiebot.testing").joinpath("media", name).read_bytes()


def sample_mp4() -> bytes:
    """A 1 s, 160x90 H.264 + AAC MP4 (about 9 KB)."""
    return _fixture("sample.mp4")


def sample_mp3() -> bytes:
    """1 s of a 440 Hz tone as a 32 kbit/s MP3 (about 4 KB)."""
    return _fixture("sample.mp3")
