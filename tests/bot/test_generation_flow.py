"""End to end through the real app, the fake Telegram and the fake Kie: from /start to a result."""

from __future__ import annotations

import pytest
import trio

from kiebot.store import free_tier
from kiebot.testing.harness import open_world

USER = 5_100_001


@pytest.mark.slow
async def test_new_user_gets_a_free_picture_and_the_free_counter_goes_down(database_url: str, bot_user) -> None:
    with trio.fail_after(60):
        async with open_world(database_url) as world:
            ann = bot_user(world, USER)
            menu = await ann.start()
            assert any("добро пожаловать" in t for t in ann.texts())
            free = await ann.press(menu, "🎁")
            assert "Осталось сегодня: 5 из 5" in free.content
            card = await ann.press(free, "Z-Image")
            assert "бесплатно" in card.content.lower()
            params = await ann.press(card, "▶️")
            assert "Формат кадра" in params.content
            picker = await ann.press(params, "Формат кадра")
            params = await ann.press(picker, "16:9")
            assert "16:9" in params.content
            ask = await ann.press(params, "Далее")
            assert "Опишите" in ask.content
            summary = await ann.say("a red fox in the snow")
            assert summary is not None
            assert "Проверьте заказ" in summary.content
            assert "Бесплатно" in summary.content
            progress = await ann.press(summary, "бесплатно")
            photo = await ann.wait_for(predicate=lambda m: m.kind == "photo", after=progress.message_id)
            assert "🔁" in " ".join(ann.labels(photo))
            await ann.wait_for(contains="готово", after=progress.message_id - 1)
            async with world.app.db.connection() as conn:
                status = await free_tier.free_status(conn, USER, world.app.bot.now(), free_tier.FreeLimits(5, 2))
            assert status.left_today == 4
