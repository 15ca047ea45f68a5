"""Files sent as documents meet the limits photos and audio meet (issue 13, item 9).

A Telegram document carries no pixels and no duration, and its type is a guess from its name, so
before these tests a 4000 px picture or a minute of audio passed any model's limit as a file. The
wizard now measures documents from their bytes; what it cannot measure it refuses, in the user's
language. Real files throughout (PNGs, WAVs), sent through the fake Telegram to the real app.

All tests share one world (``shared_world``); each uses its own user.
"""

from __future__ import annotations

import trio

from kiebot.testing import media
from kiebot.testing.harness import World
from kiebot.testing.kie import media as kie_media

UPSCALER = "topaz/image-upscale"  # photos up to 2048 px on the long side
TALKING = "infinitalk/from-audio"  # a portrait and up to 15 s of audio
ISOLATION = "elevenlabs/audio-isolation"  # billed per second of input audio


async def _run(shared_world, scenario) -> None:
    with trio.fail_after(60):
        await shared_world.run(scenario)


async def test_a_4000_px_png_sent_as_a_document_is_refused_by_the_upscaler(shared_world, bot_user) -> None:
    async def scenario(world: World) -> None:
        ann = bot_user(world, 7_130_001)
        await ann.start()
        params = await ann.press(await ann.open_model(UPSCALER), "▶️")
        ask = await ann.press(params, "Далее")
        assert "Пришлите фото" in ask.content
        big = ann._expect(await ann.send("document", media.png(4000, 3), file_name="big.png", mime_type="image/png"))
        assert "4000 пикселей" in big.content
        assert "2048" in big.content
        loaded = await ann.draft()
        assert loaded is not None
        assert loaded[0].files("image_url") == []
        # A fitting picture is measured too: the real type, not the one its name claims.
        summary = ann._expect(
            await ann.send("document", media.png(1000, 600), file_name="photo.jpg", mime_type="image/jpeg")
        )
        assert "Проверьте заказ" in summary.content
        loaded = await ann.draft()
        assert loaded is not None
        (kept,) = loaded[0].files("image_url")
        assert (kept.mime_type, kept.width, kept.height) == ("image/png", 1000, 600)

    await _run(shared_world, scenario)


async def test_a_60_s_audio_document_is_refused_by_a_model_that_takes_15_s(shared_world, bot_user) -> None:
    async def scenario(world: World) -> None:
        ann = bot_user(world, 7_130_002)
        await ann.start()
        params = await ann.press(await ann.open_model(TALKING), "▶️")
        await ann.press(params, "Далее")
        ask_audio = ann._expect(await ann.send_photo(media.png(64, 64)))
        assert "аудиофайл" in ask_audio.content
        minute = kie_media.wav_tone(60.0, rate=2000)
        long = ann._expect(await ann.send("document", minute, file_name="speech.wav", mime_type="audio/wav"))
        assert "запись длится 60\u00a0с" in long.content
        assert "не дольше 15\u00a0с" in long.content
        loaded = await ann.draft()
        assert loaded is not None
        assert loaded[0].files("audio_url") == []
        short = kie_media.wav_tone(3.0, rate=2000)
        ask_prompt = ann._expect(await ann.send("document", short, file_name="speech.wav", mime_type="audio/wav"))
        assert "запись длится" not in ask_prompt.content
        loaded = await ann.draft()
        assert loaded is not None
        (kept,) = loaded[0].files("audio_url")
        assert (kept.mime_type, kept.duration_s) == ("audio/wav", 3)

    await _run(shared_world, scenario)


async def test_what_cannot_be_measured_is_refused_in_the_users_language(shared_world, bot_user) -> None:
    async def scenario(world: World) -> None:
        ann = bot_user(world, 7_130_003)
        await ann.start()
        params = await ann.press(await ann.open_model(UPSCALER), "▶️")
        await ann.press(params, "Далее")
        fake_png = ann._expect(await ann.send("document", b"not a picture at all" * 20, file_name="x.png", mime_type="image/png"))
        assert "не удалось прочитать файл как изображение" in fake_png.content
        assert "JPEG, PNG, WebP" in fake_png.content  # and what is accepted
        unnamed = ann._expect(
            await ann.send("document", b"\x00\x01binary" * 50, file_name="blob", mime_type="application/octet-stream")
        )
        assert "не удалось прочитать файл как изображение" in unnamed.content

        bob = bot_user(world, 7_130_004, "Bob", lang="en")
        await bob.start()
        ask = await bob.press(await bob.open_model(ISOLATION), "▶️")
        assert "voice" in ask.content.lower()
        fake_mp3 = bob._expect(await bob.send("document", b"ID3 but nothing else" * 10, file_name="song.mp3", mime_type="audio/mpeg"))
        assert "could not read the file as audio" in fake_mp3.content
        for user, wire in ((ann, "image_url"), (bob, "audio_url")):
            loaded = await user.draft()
            assert loaded is not None
            assert loaded[0].files(wire) == []

    await _run(shared_world, scenario)


async def test_an_audio_document_is_priced_by_its_measured_length(shared_world, bot_user) -> None:
    async def scenario(world: World) -> None:
        ann = bot_user(world, 7_130_005)
        await ann.start()
        await ann.press(await ann.open_model(ISOLATION), "▶️")
        summary = ann._expect(
            await ann.send("document", kie_media.wav_tone(7.0, rate=2000), file_name="noisy.wav", mime_type="audio/wav")
        )
        # 7 s × 0.2 credits = 1.4 credits = 1,10 ₽ — not the 600 s maximum a file without a
        # duration used to be quoted at.
        assert "7 × " in summary.content
        assert "1,10" in summary.content

    await _run(shared_world, scenario)
