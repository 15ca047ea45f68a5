"""The fake Kie server's result media are real files: PNGs checked chunk by chunk, the WAV read
back with the standard library's ``wave``, the MP4/MP3 fixtures checked for their containers."""

from __future__ import annotations

import io
import struct
import wave
import zlib

import pytest

from kiebot.testing.kie import media as kie_media


def png_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    assert data[:8] == kie_media.PNG_SIGNATURE
    chunks, offset = [], 8
    while offset < len(data):
        (length,) = struct.unpack(">I", data[offset : offset + 4])
        kind = data[offset + 4 : offset + 8]
        payload = data[offset + 8 : offset + 8 + length]
        (crc,) = struct.unpack(">I", data[offset + 8 + length : offset + 12 + length])
        assert crc == zlib.crc32(kind + payload), f"bad CRC in {kind!r}"
        chunks.append((kind, payload))
        offset += 12 + length
    return chunks


def png_pixels(data: bytes) -> tuple[int, int, list[bytes]]:
    chunks = png_chunks(data)
    assert [kind for kind, _ in chunks] == [b"IHDR", b"IDAT", b"IEND"]
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", chunks[0][1])
    assert (depth, colour, interlace) == (8, 2, 0)
    raw = zlib.decompress(chunks[1][1])
    stride = 1 + 3 * width
    assert len(raw) == stride * height
    rows = [raw[y * stride : (y + 1) * stride] for y in range(height)]
    assert all(row[0] == 0 for row in rows)  # filter "None"
    return width, height, [row[1:] for row in rows]


def test_png_is_well_formed_with_background_and_stripe() -> None:
    width, height, rows = png_pixels(kie_media.png(40, 30, (1, 2, 3), (250, 251, 252)))
    assert (width, height) == (40, 30)
    assert rows[0][0:3] == bytes((250, 251, 252))  # on the diagonal
    assert rows[0][-3:] == bytes((1, 2, 3))  # far from it
    assert rows[29][0:3] == bytes((1, 2, 3))


def test_plain_png_has_no_stripe() -> None:
    _, _, rows = png_pixels(kie_media.png(8, 8, (9, 9, 9)))
    assert set(rows[0]) == {9}


@pytest.mark.parametrize(
    ("prompt", "rgb"),
    [
        ("A RED fox", (220, 40, 40)),
        ("красная лиса", (220, 40, 40)),
        ("a calm blue sea", (40, 80, 220)),
        ("синее море", (40, 80, 220)),
        ("зелёный лист", (40, 170, 70)),
    ],
)
def test_colour_words(prompt: str, rgb: tuple[int, int, int]) -> None:
    assert kie_media.colour_for_prompt(prompt) == rgb
    _, _, rows = png_pixels(kie_media.png_for_prompt(prompt, width=16, height=16))
    assert rows[0][-3:] == bytes(rgb)


def test_prompt_without_colour_gets_a_stable_hashed_colour() -> None:
    first = kie_media.colour_for_prompt("a lighthouse at dusk")
    assert first == kie_media.colour_for_prompt("a lighthouse at dusk")
    assert first != kie_media.colour_for_prompt("a lighthouse at dawn")


def test_png_size_is_bounded() -> None:
    with pytest.raises(ValueError):
        kie_media.png(0, 10, (0, 0, 0))
    with pytest.raises(ValueError):
        kie_media.png(10, 5000, (0, 0, 0))


def test_wav_reads_back() -> None:
    with wave.open(io.BytesIO(kie_media.wav_tone(0.5, rate=8000))) as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate(), wav.getnframes()) == (
            1,
            2,
            8000,
            4000,
        )
        frames = wav.readframes(4000)
    assert max(abs(s) for (s,) in struct.iter_unpack("<h", frames)) > 10_000  # a tone, not silence


def mp4_boxes(data: bytes) -> list[bytes]:
    boxes, offset = [], 0
    while offset < len(data):
        size, kind = struct.unpack(">I4s", data[offset : offset + 8])
        boxes.append(kind)
        assert size >= 8
        offset += size
    assert offset == len(data)
    return boxes


def test_sample_mp4_is_a_faststart_h264_aac_file() -> None:
    data = kie_media.sample_mp4()
    assert 2_000 < len(data) < 50_000
    boxes = mp4_boxes(data)
    assert boxes[:2] == [b"ftyp", b"moov"]  # moov before mdat: playable while streaming
    assert b"mdat" in boxes
    assert b"avc1" in data
    assert b"mp4a" in data


def test_sample_mp3_is_mpeg_audio() -> None:
    data = kie_media.sample_mp3()
    assert 1_000 < len(data) < 20_000
    start = 10 + int.from_bytes(data[6:10], "big") if data[:3] == b"ID3" else 0  # sizes are 7-bit here
    assert data[start] == 0xFF
    assert data[start + 1] & 0xE0 == 0xE0
