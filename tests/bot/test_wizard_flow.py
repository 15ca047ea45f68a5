"""The wizard as a user meets it, against the real app: stale and tampered buttons, inputs that do
not fit (too long a prompt, a wrong file, a bad link), several photos, Back/Change/Cancel, and
prices that follow the choices and the measured quantity.

All tests share one world (``shared_world``); each uses its own user.
"""

from __future__ import annotations

import trio

from kiebot.testing import media
from kiebot.testing.harness import World

ZIMAGE = "z-image"
EDIT = "google/nano-banana-edit"


async def _run(shared_world, scenario) -> None:
    with trio.fail_after(60):
        await shared_world.run(scenario)


async def test_a_stale_button_says_outdated_and_shows_the_current_screen(shared_world, bot_user) -> None:
    async def scenario(world: World) -> None:
        ann = bot_user(world, 7_000_001)
        await ann.start()
        params = await ann.press(await ann.open_model(ZIMAGE), "▶️")
        old_next = ann.data_of(params, "Далее")
        params = await ann.press(await ann.press(params, "Формат кадра"), "9:16")
        assert "9:16" in params.content
        screen = await ann.press(params, old_next, force=True)
        assert any("устарело" in (a.text or "") for a in world.tg.callback_answers)
        assert "Настройте параметры" in screen.content
        assert "9:16" in screen.content
        loaded = await ann.draft()
        assert loaded is not None
        assert loaded[0].step == "params"  # the stale Next did nothing

    await _run(shared_world, scenario)


async def test_tampered_buttons_get_outdated_and_a_fresh_menu_never_an_error(shared_world, bot_user) -> None:
    async def scenario(world: World) -> None:
        other = bot_user(world, 7_000_099)
        await other.start()
        await other.credit(5000)
        await other.confirm(await other.walk("google/imagen4-ultra"))
        foreign_job = (await other.wait_job("delivered")).id

        ann = bot_user(world, 7_000_002)
        menu = await ann.start()
        for data in ("wz:abc:nx", "wz:99999:nx", "mdl:zzzzzz:m", "mdl:ab:k.nope.image.0", "knd:nope:image:0",
                     "cat:space", "pop:99", "zz:1", f"hj:{foreign_job}", f"again:{foreign_job}", f"jcancel:{foreign_job}",
                     "hist:x", "go:zzzzzz:m"):
            before = len(world.tg.callback_answers)
            screen = await ann.press(menu, data, force=True)
            answers = [a.text or "" for a in world.tg.callback_answers[before:]]
            assert any("устарело" in a for a in answers), (data, answers)
            assert "Главное меню" in screen.content, (data, screen.content)
            menu = screen
        assert not any("Что-то пошло не так" in t for t in ann.texts())
        # The other user's job is untouched.
        assert (await other.wait_job("delivered")).id == foreign_job

    await _run(shared_world, scenario)


async def test_too_long_a_prompt_is_refused_with_the_limit(shared_world, bot_user) -> None:
    async def scenario(world: World) -> None:
        ann = bot_user(world, 7_000_003)
        await ann.start()
        params = await ann.press(await ann.open_model(ZIMAGE), "▶️")
        ask = await ann.press(params, "Далее")
        assert "до 1000 символов" in ask.content
        refused = await ann.say("ж" * 1001)
        assert refused is not None
        assert "1001 символ, а можно не больше 1000" in refused.content
        loaded = await ann.draft()
        assert loaded is not None
        assert loaded[0].step == "prompt"
        assert loaded[0].prompt is None
        summary = await ann.say("ж" * 1000)
        assert summary is not None
        assert "Проверьте заказ" in summary.content

    await _run(shared_world, scenario)


async def test_wrong_files_are_refused_saying_what_is_accepted(shared_world, bot_user) -> None:
    async def scenario(world: World) -> None:
        ann = bot_user(world, 7_000_004)
        await ann.start()
        params = await ann.press(await ann.open_model(EDIT), "▶️")
        ask = await ann.press(params, "Далее")
        assert "JPEG, PNG, WebP" in ask.content
        pdf = await ann.send("document", b"%PDF-1.4 receipt", file_name="receipt.pdf", mime_type="application/pdf")
        assert pdf is not None
        assert "application/pdf" in pdf.content
        assert "JPEG, PNG, WebP" in pdf.content
        voice = await ann.send("voice", b"OggS fake voice", duration=2)
        assert voice is not None
        assert "audio/ogg" in voice.content
        huge = await ann.send("document", media.png(8, 8) + b"\0" * 10_500_000, file_name="big.png", mime_type="image/png")
        assert huge is not None
        assert "10\u00a0МБ" in huge.content
        text = await ann.say("here is my photo")
        assert text is not None
        assert "Нужно фото" in text.content
        loaded = await ann.draft()
        assert loaded is not None
        assert loaded[0].files("image_urls") == []

    await _run(shared_world, scenario)


async def test_image_to_image_with_two_photos_reaches_kie_as_two_uploads(shared_world, bot_user) -> None:
    async def scenario(world: World) -> None:
        ann = bot_user(world, 7_000_005)
        await ann.start()
        await ann.credit(5000)
        params = await ann.press(await ann.open_model(EDIT), "▶️")
        await ann.press(params, "Далее")
        first, second = media.png(40, 30, (200, 10, 10)), media.png(30, 40, (10, 10, 200))
        got_one = await ann.send_photo(first)
        assert got_one is not None
        assert "Получено: 1 из 10" in got_one.content
        got_two = await ann.send_photo(second)
        assert got_two is not None
        assert "Получено: 2 из 10" in got_two.content
        ask = await ann.press(got_two, "Готово")
        assert "Опишите" in ask.content
        summary = await ann.say("put both in one room")
        assert summary is not None
        assert "Фото: 2 файла" in summary.content
        await ann.confirm(summary)
        job = await ann.wait_job("delivered", "failed")
        assert job.state == "delivered", job.error_message
        body = world.kie.tasks[str(job.kie_task_id)].body
        urls = body["input"]["image_urls"]
        assert len(urls) == 2
        uploaded = [world.kie.uploads[key].data for key in world.kie.uploads]
        assert first in uploaded
        assert second in uploaded
        assert world.kie.telegram_urls_seen == []

    await _run(shared_world, scenario)


async def test_a_photo_caption_becomes_the_prompt(shared_world, bot_user) -> None:
    async def scenario(world: World) -> None:
        ann = bot_user(world, 7_000_006)
        await ann.start()
        params = await ann.press(await ann.open_model(EDIT), "▶️")
        await ann.press(params, "Далее")
        noted = await ann.send_photo(media.png(20, 20), caption="make it look like winter")
        assert noted is not None
        assert "Подпись к фото взята" in noted.content
        summary = await ann.press(noted, "Готово")
        assert "Проверьте заказ" in summary.content
        assert "make it look like winter" in summary.content

    await _run(shared_world, scenario)


async def test_back_works_at_every_step_and_cancel_leaves_nothing_behind(shared_world, bot_user) -> None:
    async def scenario(world: World) -> None:
        ann = bot_user(world, 7_000_007)
        await ann.start()
        card = await ann.open_model("kling-2.6/image-to-video")
        params = await ann.press(card, "▶️")
        photo_step = await ann.press(params, "Далее")
        assert "Пришлите фото" in photo_step.content
        prompt_step = ann._expect(await ann.send_photo(media.png(16, 16)))
        assert "Опишите" in prompt_step.content
        back = await ann.press(prompt_step, "Назад")
        assert "Получено: 1 из 1" in back.content  # the photo is still there
        back = await ann.press(back, "Назад")
        assert "Настройте параметры" in back.content
        back = await ann.press(back, "Назад")
        assert "Kling 2.6 — оживить фото" in back.content
        assert "▶️ Начать" in ann.labels(back)
        assert await ann.draft() is None
        ann.forget_taps()
        params = await ann.press(back, "▶️")
        cancelled = await ann.press(await ann.press(params, "Далее"), "Отмена")
        assert "Главное меню" in cancelled.content
        assert await ann.draft() is None

    await _run(shared_world, scenario)


async def test_change_from_the_summary_and_prices_follow_the_choices(shared_world, bot_user) -> None:
    async def scenario(world: World) -> None:
        ann = bot_user(world, 7_000_008)
        await ann.start()
        # kling-2.6/text-to-video: 5 s without sound 55 credits = 42,90 ₽; with sound ×2; 10 s ×2.
        params = await ann.press(await ann.open_model("kling-2.6/text-to-video"), "▶️")
        assert "42,90" in params.content
        params = await ann.press(params, "Без звука")
        assert "Со звуком" in params.content
        assert "85,80" in params.content
        picker = await ann.press(params, "Длительность")
        assert "10\u00a0с · 171,60" in " ".join(ann.labels(picker))
        assert "✅ 5\u00a0с" in " ".join(ann.labels(picker))
        params = await ann.press(picker, "10\u00a0с")
        ask = await ann.press(params, "Далее")
        assert "Опишите" in ask.content
        summary = ann._expect(await ann.say("a storm over the sea"))
        assert "171,60" in summary.content
        change = await ann.press(summary, "Изменить")
        assert "Что изменить" in change.content
        params = await ann.press(change, "Параметры")
        params = await ann.press(params, "Со звуком")
        summary = await ann.press(params, "Далее")
        assert "Проверьте заказ" in summary.content
        assert "85,80" in summary.content
        assert "a storm over the sea" in summary.content

    await _run(shared_world, scenario)


async def test_a_combination_kie_does_not_offer_is_refused(shared_world, bot_user) -> None:
    async def scenario(world: World) -> None:
        ann = bot_user(world, 7_000_009)
        await ann.start()
        params = await ann.press(await ann.open_model("hailuo/2-3-image-to-video-pro"), "▶️")
        params = await ann.press(await ann.press(params, "Разрешение"), "1080P")
        picker = await ann.press(params, "Длительность")
        assert "🚫 10\u00a0с" in ann.labels(picker)
        before = len(world.tg.callback_answers)
        again = await ann.press(picker, "🚫 10\u00a0с")
        answers = [a.text or "" for a in world.tg.callback_answers[before:]]
        assert any("недоступно в таком сочетании" in a for a in answers), answers
        loaded = await ann.draft()
        assert loaded is not None
        assert loaded[0].params["duration"] == "6"
        assert again.message_id == picker.message_id

    await _run(shared_world, scenario)


async def test_speech_is_priced_by_the_length_of_its_text(shared_world, bot_user) -> None:
    async def scenario(world: World) -> None:
        ann = bot_user(world, 7_000_010)
        await ann.start()
        params = await ann.press(await ann.open_model("elevenlabs/text-to-speech-turbo-2-5"), "▶️")
        ask = await ann.press(params, "Далее")
        assert "за 1000\u00a0символов" in ask.content
        summary = ann._expect(await ann.say("слово " * 250))  # 1499 characters after trimming
        # 2 × 6 credits = 12 credits = 9,36 ₽
        assert "2 × 4,68" in summary.content
        assert "9,36" in summary.content

    await _run(shared_world, scenario)


async def test_voice_isolation_is_priced_by_the_recording_length(shared_world, bot_user) -> None:
    async def scenario(world: World) -> None:
        ann = bot_user(world, 7_000_011)
        await ann.start()
        await ann.credit(5000)
        ask = await ann.press(await ann.open_model("elevenlabs/audio-isolation"), "▶️")
        assert "голосовое" in ask.content
        summary = ann._expect(await ann.send("voice", b"OggS voice note", duration=7))
        # 7 s × 0.2 credits = 1.4 credits = 1,10 ₽ (rounded up from 1,092)
        assert "7 × " in summary.content
        assert "1,10" in summary.content
        await ann.confirm(summary)
        job = await ann.wait_job("delivered", "failed")
        assert job.quote_kopecks == 110

    await _run(shared_world, scenario)


async def test_sora_watermark_remover_takes_only_a_sora_link(shared_world, bot_user) -> None:
    async def scenario(world: World) -> None:
        ann = bot_user(world, 7_000_012)
        await ann.start()
        ask = await ann.press(await ann.open_model("sora-watermark-remover"), "▶️")
        assert "sora.chatgpt.com" in ask.content
        refused = ann._expect(await ann.say("https://example.com/video.mp4"))
        assert "ссылка не подходит" in refused.content
        summary = ann._expect(await ann.say("https://sora.chatgpt.com/p/s_68e8a1b2c3"))
        assert "Проверьте заказ" in summary.content
        assert "https://sora.chatgpt.com/p/s_68e8a1b2c3" in summary.content
        await ann.credit(1000)
        change = await ann.press(summary, "Изменить")  # one step only: straight to it
        assert "Пришлите ссылку" in change.content
        assert "Сейчас: https://sora.chatgpt.com/p/s_68e8a1b2c3" in change.content
        summary = await ann.press(change, "Оставить как есть")
        progress = await ann.confirm(summary)
        job = await ann.wait_job("delivered")
        assert world.kie.tasks[str(job.kie_task_id)].body["input"] == {"video_url": "https://sora.chatgpt.com/p/s_68e8a1b2c3"}
        video = await ann.wait_for(predicate=lambda m: m.kind == "video", after=progress.message_id)
        ask_again = await ann.press(video, "Новое описание")  # no text to change: a new link
        assert "Пришлите ссылку" in ask_again.content

    await _run(shared_world, scenario)


async def test_grok_upscale_without_a_grok_video_offers_to_make_one(shared_world, bot_user) -> None:
    async def scenario(world: World) -> None:
        ann = bot_user(world, 7_000_013)
        await ann.start()
        ask = await ann.press(await ann.open_model("grok-imagine/upscale"), "▶️")
        assert "нет готовых видео" in ask.content
        card = await ann.press(ask, "Grok Imagine — видео из текста")
        assert "▶️ Начать" in ann.labels(card)

    await _run(shared_world, scenario)


async def test_cancel_command_clears_the_current_input(shared_world, bot_user) -> None:
    async def scenario(world: World) -> None:
        ann = bot_user(world, 7_000_014)
        await ann.start()
        params = await ann.press(await ann.open_model(ZIMAGE), "▶️")
        await ann.press(params, "Далее")
        await ann.say("/cancel")
        assert any("Ввод отменён" in t for t in ann.texts())
        assert await ann.draft() is None
        reply = ann._expect(await ann.say("a red fox"))
        assert "Главное меню" in reply.content  # no wizard takes the text any more
        await ann.say("/cancel")
        assert any("нечего отменять" in t for t in ann.texts())

    await _run(shared_world, scenario)


async def test_an_expired_wizard_is_forgotten(shared_world, bot_user) -> None:
    """A draft older than FSM_STATE_TTL_S no longer captures buttons or messages."""

    async def scenario(world: World) -> None:
        ann = bot_user(world, 7_000_015)
        await ann.start()
        params = await ann.press(await ann.open_model(ZIMAGE), "▶️")
        ask = await ann.press(params, "Далее")
        async with world.app.db.connection() as conn:
            await conn.execute("UPDATE conversation_state SET expires_at = now() - interval '1 second' WHERE user_id = $1", ann.user_id)
        assert await ann.draft() is None
        back = await ann.press(ask, "Назад")
        assert "Главное меню" in back.content
        assert any("устарело" in (a.text or "") for a in world.tg.callback_answers)
        reply = ann._expect(await ann.say("a red fox"))
        assert "Главное меню" in reply.content

    await _run(shared_world, scenario)
