"""Issue 16 items 4 and 5 through the fake Telegram and the real app: text outside any flow
searches the catalogue (up to 8 model buttons with prices, "use the menu" only for nothing),
/models does the same, a wizard's text input is untouched; ⭐ on a card stars a model, «⭐ Мои
модели» lists favourites and the last 3 models used, each one tap from its wizard, removable."""

from __future__ import annotations

import trio

from kiebot.catalog import load_registry
from kiebot.store import admin, favourites, jobs, money
from kiebot.testing.harness import ADMIN_ID, World

REGISTRY = load_registry()
USE_MENU = "Выберите действие в меню ниже"


async def _run(shared_world, scenario) -> None:
    with trio.fail_after(90):
        await shared_world.run(scenario)


def _model_labels(ann, message) -> list[str]:
    return [label for label in ann.labels(message) if " · " in label]


async def test_typed_names_find_models_in_any_spelling_with_prices(shared_world, bot_user) -> None:
    async def scenario(world: World) -> None:
        ann = bot_user(world, 8_100_001)
        await ann.start()
        for query in ("kling", "клинг", "rkbyu", "Клинг"):
            answer = ann._expect(await ann.say(query))
            labels = _model_labels(ann, answer)
            assert len(labels) == 6, (query, labels)
            assert all(label.startswith("Kling") for label in labels), labels
            assert all("₽" in label for label in labels), labels  # each with its price
            assert "🔎" in answer.content
            assert all(data.startswith("mdl:") and data.endswith(":s") for data in answer.callback_data() if data != "menu")
        for query, title in (
            ("вео", "Veo 3.1 Fast"),
            ("suno", "Suno — песня по описанию"),
            ("сюно", "Suno — песня по описанию"),
            ("музыка", "Suno — песня по описанию"),
            ("убрать фон", "Recraft — убрать фон"),
            ("озвучка", "ElevenLabs — озвучка текста"),
        ):
            answer = ann._expect(await ann.say(query))
            assert _model_labels(ann, answer)[0].startswith(title), (query, ann.labels(answer))
        assert len(_model_labels(ann, ann._expect(await ann.say("убрать фон")))) == 1

    await _run(shared_world, scenario)


async def test_at_most_eight_buttons_and_a_hint_when_more_matched(shared_world, bot_user) -> None:
    async def scenario(world: World) -> None:
        ann = bot_user(world, 8_100_002)
        await ann.start()
        answer = ann._expect(await ann.say("видео"))
        assert len(_model_labels(ann, answer)) == 8
        assert "первые 8" in answer.content
        assert "Меню" in " ".join(ann.labels(answer))

    await _run(shared_world, scenario)


async def test_nonsense_and_files_get_use_the_menu(shared_world, bot_user) -> None:
    async def scenario(world: World) -> None:
        ann = bot_user(world, 8_100_003)
        await ann.start()
        for text in ("asdfgh", "привет", "нарисуй кота на фоне заката"):
            before = len(ann.texts())
            await ann.say(text)
            new = ann.texts()[before:]
            assert any(USE_MENU in t for t in new), (text, new)
            assert any("Главное меню" in t for t in new), (text, new)
            assert not any("🔎" in t for t in new), (text, new)

    await _run(shared_world, scenario)


async def test_a_result_opens_the_card_and_back_returns_to_the_results(shared_world, bot_user) -> None:
    async def scenario(world: World) -> None:
        ann = bot_user(world, 8_100_004)
        await ann.start()
        results = ann._expect(await ann.say("сюно"))
        card = await ann.press(results, "Suno")
        assert "💰 Цена" in card.content
        assert "▶️ Начать" in ann.labels(card)
        back = await ann.press(card, "Назад")
        assert "«сюно»" in back.content
        assert _model_labels(ann, back)[0].startswith("Suno")
        ann.forget_taps()  # the same button again within 2 s would be a double tap
        wizard = await ann.press(await ann.press(back, "Suno"), "▶️")
        loaded = await ann.draft()
        assert loaded is not None
        assert loaded[0].model == "suno-v4.5"
        assert wizard.content

    await _run(shared_world, scenario)


async def test_wizard_text_input_is_not_a_search(shared_world, bot_user) -> None:
    async def scenario(world: World) -> None:
        ann = bot_user(world, 8_100_005)
        await ann.start()
        card = await ann.open_model("z-image")
        params = await ann.press(card, "▶️")
        ask = await ann.press(params, "Далее")
        assert "Промпт" in ask.content or "опишите" in ask.content.lower(), ask.content
        summary = ann._expect(await ann.say("kling"))  # a prompt that happens to be a model name
        loaded = await ann.draft()
        assert loaded is not None
        assert loaded[0].prompt == "kling"
        assert "🔎" not in summary.content

    await _run(shared_world, scenario)


async def test_models_command_searches_or_explains(shared_world, bot_user) -> None:
    async def scenario(world: World) -> None:
        ann = bot_user(world, 8_100_006)
        await ann.start()
        hint = ann._expect(await ann.say("/models"))
        assert "Напишите в чат название модели" in hint.content
        assert {"cat:image", "cat:video", "cat:audio", "cat:tools", "menu"} <= set(hint.callback_data())
        found = ann._expect(await ann.say("/models клинг"))
        assert len(_model_labels(ann, found)) == 6
        nothing = ann._expect(await ann.say("/models qwertyuiop"))
        assert "ничего не нашлось" in nothing.content
        assert "cat:video" in nothing.callback_data()
        menu = ann._expect(await ann.say("/menu"))
        how = await ann.press(menu, "find")
        assert "Напишите в чат название модели" in how.content

        bob = bot_user(world, 8_100_007, name="Bob", lang="en")
        await bob.start()
        music = bob._expect(await bob.say("music"))
        assert "Found for “music”" in music.content
        assert _model_labels(bob, music)[0].startswith("Suno — a song from a description")

    await _run(shared_world, scenario)


async def test_switched_off_models_are_not_found_and_paused_ones_are_marked(shared_world, bot_user) -> None:
    switched_off = "kling-2.6/text-to-video"

    async def scenario(world: World) -> None:
        async with world.app.db.connection() as conn:
            await admin.set_model_enabled(conn, switched_off, False, ADMIN_ID)
        world.app.bot.availability.invalidate()
        try:
            ann = bot_user(world, 8_100_008)
            await ann.start()
            labels = _model_labels(ann, ann._expect(await ann.say("kling")))
            assert len(labels) == 5
            assert not any(label.startswith("Kling 2.6 — видео из текста") for label in labels)
        finally:
            async with world.app.db.connection() as conn:
                await admin.set_model_enabled(conn, switched_off, True, ADMIN_ID)
            world.app.bot.availability.invalidate()

    await _run(shared_world, scenario)


# ---- ⭐ My models ---------------------------------------------------------------------------------


async def test_star_on_the_card_lists_the_model_in_my_models_one_tap_from_its_wizard(shared_world, bot_user) -> None:
    async def scenario(world: World) -> None:
        ann = bot_user(world, 8_100_010)
        menu = await ann.start()
        assert "⭐ Мои модели" in ann.labels(menu)
        empty = await ann.press(menu, "⭐ Мои модели")
        assert "Здесь появятся модели" in empty.content

        card = await ann.open_model("suno-v4.5")
        starred = await ann.press(card, "В избранное")
        assert any(a.text == "⭐ Добавлено в «Мои модели»" for a in world.tg.callback_answers)
        assert "☆ Убрать из избранного" in ann.labels(starred)
        assert "💰 Цена" in starred.content  # still the card
        async with world.app.db.connection() as conn:
            assert await favourites.favourites(conn, ann.user_id) == ["suno-v4.5"]

        mine = await ann.press(ann._expect(await ann.say("/menu")), "⭐ Мои модели")
        assert "Нажмите на модель, чтобы сразу начать" in mine.content
        label = next(label for label in ann.labels(mine) if "Suno" in label)
        assert label.startswith("⭐ Suno — песня по описанию · ")
        assert label.endswith("₽")
        code = world.app.bot.codes.code("suno-v4.5")
        assert f"go:{code}:y" in mine.callback_data()
        wizard = await ann.press(mine, label)  # one tap: the wizard, not the card
        loaded = await ann.draft()
        assert loaded is not None
        assert loaded[0].model == "suno-v4.5"
        assert any(data.startswith("wz:") for data in wizard.callback_data()), wizard.content  # a wizard step

        # ☆ on the card removes it; a repeated ☆ (a stale button) changes nothing.
        card = await ann.open_model("suno-v4.5")
        unstarred = await ann.press(card, "Убрать из избранного")
        assert "⭐ В избранное" in ann.labels(unstarred)
        ann.forget_taps()
        await ann.press(unstarred, f"fav:{code}:m:0", force=True)
        async with world.app.db.connection() as conn:
            assert await favourites.favourites(conn, ann.user_id) == []

    await _run(shared_world, scenario)


async def test_my_models_shows_the_last_three_used_and_removes_favourites(shared_world, bot_user) -> None:
    async def scenario(world: World) -> None:
        ann = bot_user(world, 8_100_011)
        await ann.start()
        async with world.app.db.transaction() as conn:
            await money.credit(conn, ann.user_id, 1_000_000, kind="topup_manual", key=f"mine:{ann.user_id}")
            for i, model_id in enumerate(["z-image", "topaz/image-upscale", "veo3.1-fast", "suno-v4.5", "google/imagen4"]):
                await jobs.create_job(
                    conn,
                    user_id=ann.user_id,
                    chat_id=ann.user_id,
                    model_id=model_id,
                    kind=REGISTRY.require(model_id).kind,
                    params={},
                    quote_kopecks=100,
                    idempotency_key=f"mine:{ann.user_id}:{i}",
                    timeout_s=600,
                )
            await favourites.add(conn, ann.user_id, "suno-v4.5")
            await favourites.add(conn, ann.user_id, "kling-2.6/text-to-video")
        mine = await ann.press(ann._expect(await ann.say("/menu")), "⭐ Мои модели")
        labels = [label for label in ann.labels(mine) if " · " in label]
        assert [label.split(" · ")[0] for label in labels] == [
            "⭐ Suno — песня по описанию",
            "⭐ Kling 2.6 — видео из текста",
            "🕘 Imagen 4 — фотореализм",
            "🕘 Veo 3.1 Fast — видео со звуком",
            "🕘 Topaz — увеличить качество фото",
        ]  # favourites in the order starred, then the 3 last used that are not favourites
        assert all(data.endswith(":y") for data in mine.callback_data() if data.startswith("go:"))

        removed = await ann.press(mine, f"myx:{world.app.bot.codes.code('suno-v4.5')}")
        assert any(a.text == "Убрано из избранного" for a in world.tg.callback_answers)
        after = [label.split(" · ")[0] for label in ann.labels(removed) if " · " in label]
        assert after == [
            "⭐ Kling 2.6 — видео из текста",
            "🕘 Imagen 4 — фотореализм",
            "🕘 Suno — песня по описанию",  # still among the last used
            "🕘 Veo 3.1 Fast — видео со звуком",
        ]

        # Back from a wizard started here leads to the model's card, and Back again here.
        ann.forget_taps()
        wizard = await ann.press(removed, next(label for label in ann.labels(removed) if "Imagen" in label))
        card = await ann.press(wizard, "Назад")
        assert "Imagen 4 — фотореализм" in card.content
        back = await ann.press(card, "Назад")
        assert "Мои модели" in back.content

    await _run(shared_world, scenario)


async def test_tampered_star_buttons_are_outdated_and_change_nothing(shared_world, bot_user) -> None:
    async def scenario(world: World) -> None:
        ann = bot_user(world, 8_100_012)
        menu = await ann.start()
        code = world.app.bot.codes.code("z-image")
        for data in (
            "fav:zzzzzz:m:1",  # unknown model
            f"fav:{code}:nowhere:1",  # an origin no screen produces
            f"fav:{code}:m:2",  # neither star nor unstar
            f"fav:{code}:m",  # missing state
            f"fav:{code}:m:1:9",  # extra argument
            "myx:zzzzzz",
        ):
            before = len(world.tg.callback_answers)
            ann.forget_taps()
            await ann.press(menu, data, force=True)
            answers = [a.text or "" for a in world.tg.callback_answers[before:]]
            assert any("устарело" in text for text in answers), (data, answers)
        async with world.app.db.connection() as conn:
            assert await favourites.favourites(conn, ann.user_id) == []

    await _run(shared_world, scenario)


async def test_the_bot_menu_offers_models(shared_world) -> None:
    async def scenario(world: World) -> None:
        await world.tg.wait_for(lambda: world.tg.commands("ru") and world.tg.commands("en"), timeout=20, what="commands")
        ru = {c["command"]: c["description"] for c in world.tg.commands("ru")}
        en = {c["command"]: c["description"] for c in world.tg.commands("en")}
        assert ru["models"] == "Найти модель по названию или задаче"
        assert en["models"] == "Find a model by name or task"

    await _run(shared_world, scenario)
