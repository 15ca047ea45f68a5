"""The catalogue as users browse it: sections → kinds → models (paged), ⭐ Popular, the model card,
Back everywhere, paused and switched-off models, and the whole UI in English."""

from __future__ import annotations

from datetime import UTC, datetime

import trio

from kiebot.catalog import load_registry
from kiebot.store import admin, breakers
from kiebot.testing.harness import ADMIN_ID, World

REGISTRY = load_registry()


async def _run(shared_world, scenario) -> None:
    with trio.fail_after(60):
        await shared_world.run(scenario)


async def test_sections_kinds_and_paged_models_with_human_titles_and_prices(shared_world, bot_user) -> None:
    async def scenario(world: World) -> None:
        ann = bot_user(world, 8_000_001)
        menu = await ann.start()
        images = await ann.press(menu, "cat:image")
        kinds = ann.labels(images)
        assert any(label.startswith("Картинка из текста · ") for label in kinds)
        assert any(label.startswith("Редактирование фото · ") for label in kinds)
        assert not any("Удаление фона" in label or "Улучшение качества" in label for label in kinds)  # tools
        t2i = await ann.press(images, "Картинка из текста")
        titles = ann.labels(t2i)
        assert "Z-Image — быстрая картинка · бесплатно" in titles
        assert any(label.startswith("Imagen 4 Ultra — максимум деталей · 9,36") for label in titles)
        assert "1/2" in titles
        assert not any(spec.id in label for spec in REGISTRY.models for label in titles)  # names, never Kie ids
        page_two = await ann.press(t2i, "▶️")
        assert "2/2" in ann.labels(page_two)
        first_page = {label for label in titles if "·" in label}
        assert first_page.isdisjoint(label for label in ann.labels(page_two) if "·" in label)
        card = await ann.press(page_two, ann.labels(page_two)[0])
        assert "💰 Цена" in card.content
        assert "▶️ Начать" in ann.labels(card)
        back = await ann.press(card, "Назад")
        assert back.callback_data() == page_two.callback_data()  # back to page 2 of the same kind
        up = await ann.press(back, "Назад")
        assert "Изображения" in up.content
        home = await ann.press(up, "Меню")
        assert "Главное меню" in home.content

    await _run(shared_world, scenario)


async def test_tools_gather_the_utility_kinds_of_every_category(shared_world, bot_user) -> None:
    async def scenario(world: World) -> None:
        ann = bot_user(world, 8_000_002)
        tools = await ann.press(await ann.start(), "cat:tools")
        kinds = " ".join(ann.labels(tools))
        for kind in ("Улучшение качества", "Удаление фона", "Удаление водяного знака", "Очистка звука"):
            assert kind in kinds
        upscale = await ann.press(tools, "Улучшение качества")
        names = " ".join(ann.labels(upscale))
        assert "Topaz" in names  # an image upscaler...
        assert "Grok Imagine — улучшить видео" in names  # ...and a video one
        audio = await ann.press(await ann.start(), "cat:audio")
        assert "Очистка звука" not in " ".join(ann.labels(audio))

    await _run(shared_world, scenario)


async def test_popular_lists_the_most_used_models_first(shared_world, bot_user) -> None:
    async def scenario(world: World) -> None:
        ann = bot_user(world, 8_000_003)
        popular = await ann.press(await ann.start(), "pop:0")
        first = ann.labels(popular)[0]
        assert first.startswith(REGISTRY.enabled[0].title.ru)
        assert "1/2" in ann.labels(popular)
        card = await ann.press(popular, first)
        back = await ann.press(card, "Назад")
        assert "Популярное" in back.content

    await _run(shared_world, scenario)


async def test_the_card_tells_inputs_price_range_time_and_an_example(shared_world, bot_user) -> None:
    async def scenario(world: World) -> None:
        ann = bot_user(world, 8_000_004)
        await ann.start()
        card = await ann.open_model("kling-2.6/image-to-video")
        text = card.content
        assert "Kling 2.6 — оживить фото" in text
        assert "Понадобится: Фото: 1 (JPEG, PNG, WebP, до 10\u00a0МБ); Описание до 1000 символов" in text
        assert "Настройки: Звук, Длительность" in text
        assert "от 42,90\u00a0₽ до 171,60\u00a0₽ за генерацию" in text
        assert "Обычно готово за ~3\u00a0мин" in text
        assert "Пример описания:" in text
        tts = await ann.open_model("elevenlabs/text-to-speech-turbo-2-5")
        assert "4,68\u00a0₽ за 1000\u00a0символов, не больше 23,40\u00a0₽ за одну генерацию" in tts.content

    await _run(shared_world, scenario)


async def test_paused_models_are_marked_and_switched_off_ones_hidden(shared_world, bot_user) -> None:
    paused, switched_off = "google/imagen4", "flux-2/flex-text-to-image"

    async def scenario(world: World) -> None:
        now = datetime.now(UTC)
        async with world.app.db.connection() as conn:
            for _ in range(5):
                await breakers.record_failure(conn, paused, now, threshold=5, open_for_s=600)
            await admin.set_model_enabled(conn, switched_off, False, ADMIN_ID)
        world.app.bot.availability.invalidate()
        try:
            ann = bot_user(world, 8_000_005)
            await ann.start()
            listing = await ann.press(await ann.press(ann._expect(await ann.say("/menu")), "cat:image"), "Картинка из текста")
            everything = ann.labels(listing) + ann.labels(await ann.press(listing, "▶️"))
            assert any(label.startswith("⏸ Imagen 4 — фотореализм") for label in everything), everything
            assert not any("Flux 2 Flex — гибкая картинка" in label for label in everything)
            card = await ann.open_model(paused)
            assert "приостановлена" in card.content
            assert "▶️ Начать" not in ann.labels(card)
            code = world.app.bot.codes.code(paused)
            await ann.press(card, f"go:{code}:m", force=True)
            assert await ann.draft() is None
            hidden = await ann.open_model(switched_off)
            assert "недоступна" in hidden.content
        finally:
            async with world.app.db.connection() as conn:
                await breakers.record_success(conn, paused)
                await admin.set_model_enabled(conn, switched_off, True, ADMIN_ID)
            world.app.bot.availability.invalidate()

    await _run(shared_world, scenario)


async def test_the_whole_ui_follows_the_language(shared_world, bot_user) -> None:
    async def scenario(world: World) -> None:
        bob = bot_user(world, 8_000_006, name="Bob", lang="en")
        menu = await bob.start()
        assert "Main menu" in menu.content
        images = await bob.press(menu, "cat:image")
        assert "Picture from text · " in " ".join(bob.labels(images))
        card = await bob.open_model("z-image")
        assert "Z-Image — fast picture" in card.content
        assert "▶️ Start" in bob.labels(card)
        params = await bob.press(card, "Start")
        assert "Set the options" in params.content
        ask = await bob.press(params, "Next")
        assert "Describe what you want" in ask.content
        summary = bob._expect(await bob.say("a red fox"))
        assert "Check your order" in summary.content
        assert "Run for free" in " ".join(bob.labels(summary))
        free = await bob.press(bob._expect(await bob.say("/menu")), "free")
        assert "Free generations" in free.content
        ref = await bob.press(bob._expect(await bob.say("/menu")), "ref")
        assert "Invite friends" in ref.content
        hist = bob._expect(await bob.say("/history"))
        assert "No generations yet" in hist.content

        ann = bot_user(world, 8_000_007)
        await ann.start()
        choose = ann._expect(await ann.say("/lang"))
        switched = await ann.press(choose, "lang:en")
        assert "Main menu" in switched.content
        card = await ann.open_model("google/nano-banana-edit")
        assert "You will need:" in card.content
        assert not any("а" <= ch <= "я" for ch in card.content.lower() if ch not in "аеопсху"), card.content

    await _run(shared_world, scenario)


async def test_a_double_tap_runs_once_but_coming_back_to_a_screen_is_no_double_tap(shared_world, bot_user) -> None:
    async def scenario(world: World) -> None:
        ann = bot_user(world, 8_000_008)
        menu = await ann.start()
        before = len(world.tg.callback_answers)
        await ann.tap_twice(menu, "pop:0")
        answers = [a.text for a in world.tg.callback_answers[before:]]
        assert answers.count("⏳ Уже выполняю…") == 1, answers
        popular = ann.world.tg.message(ann.user_id, menu.message_id)
        assert "Популярное" in popular.content
        card = await ann.press(popular, ann.labels(popular)[0])
        back = await ann.press(card, "Назад")  # pop:0 again, well within 2 s, on the edited message
        assert "Популярное" in back.content

    await _run(shared_world, scenario)
