"""Measuring files from their bytes: real type, pixels and seconds of real files; ``None`` — never
an exception — for anything that cannot be measured, damaged or hostile bytes included."""

from __future__ import annotations

import random

import pytest

from kiebot.generation.media_probe import Measured, measure
from kiebot.testing import media
from kiebot.testing.kie import media as kie_media


def test_images_are_measured_by_their_content_not_their_name() -> None:
    assert measure(media.png(4000, 3), "image") == Measured("image/png", width=4000, height=3)
    assert measure(media.JPEG_8X8, "image") == Measured("image/jpeg", width=8, height=8)


def test_audio_and_video_durations_are_rounded_up_to_whole_seconds() -> None:
    assert measure(kie_media.wav_tone(60.0, rate=2000), "audio") == Measured("audio/wav", duration_s=60)
    assert measure(kie_media.wav_tone(2.5, rate=2000), "audio") == Measured("audio/wav", duration_s=3)
    assert measure(kie_media.sample_mp3(), "audio") == Measured("audio/mpeg", duration_s=2)  # 1.07 s
    assert measure(kie_media.sample_mp4(), "video") == Measured("video/mp4", duration_s=2)  # 1.05 s


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        (media.PDF, "image"),
        (b"", "image"),
        (media.png(8, 8)[:40], "image"),  # cut inside the picture data
        (media.MP3, "audio"),  # an ID3 header and one frame header: no length to speak of
        (media.OGG_OPUS, "audio"),
        (b"ID3 but nothing else" * 10, "audio"),
        (media.png(8, 8), "audio"),
        (kie_media.wav_tone(1.0), "video"),
        (media.MP4, "video"),  # an ftyp box alone has no duration
        (media.png(8, 8), "document"),  # not a kind the catalogue has
    ],
)
def test_what_cannot_be_measured_is_none(data: bytes, kind: str) -> None:
    assert measure(data, kind) is None


def test_damaged_files_never_raise() -> None:
    rng = random.Random(13)
    originals = [kie_media.sample_mp3(), kie_media.wav_tone(0.3), kie_media.sample_mp4(), media.png(16, 16), media.JPEG_8X8]
    for _ in range(400):
        data = bytearray(rng.choice(originals))
        for _ in range(rng.randint(1, 6)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        if rng.random() < 0.3:
            data = data[: rng.randrange(len(data))]
        for kind in ("image", "audio", "video"):
            found = measure(bytes(data), kind)
            assert found is None or found.mime_type
