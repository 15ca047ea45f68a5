"""The whole app in-process against the fake Telegram and fake Kie: /start gets the welcome."""

from __future__ import annotations

import trio

from kiebot.testing.harness import open_world

USER = 5_000_001


async def test_start_in_polling_mode_greets_and_shows_menu(database_url: str) -> None:
    with trio.fail_after(60):
        async with open_world(database_url) as world:
            world.tg.add_user(USER, "Ann", language_code="ru")
            world.tg.send_text(USER, "/start")
            menu = await world.tg.wait_for_message(USER, contains="Главное меню", timeout=20)
            assert menu.reply_markup is not None
            texts = [m.content for m in world.tg.bot_messages(USER)]
            assert any("добро пожаловать" in t for t in texts)
