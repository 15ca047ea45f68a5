"""/paysupport cannot be used to flood the admins (issue 13 item 5): 3 relays per 10 minutes per
user, a banned user 1 per day; the excess is answered politely and never reaches an admin, and
the count survives a restart (it lives in PostgreSQL, shared by every instance)."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

import pytest
import trio

from kiebot.store import users
from kiebot.testing.harness import ADMIN_ID, World

USER = 5_500_001
BANNED = 5_500_002

pytestmark = pytest.mark.slow

WorldFactory = Callable[..., AbstractAsyncContextManager[World]]


def relayed(world: World, marker: str) -> list[str]:
    return [m.content for m in world.tg.bot_messages(ADMIN_ID) if marker in m.content]


async def test_relays_past_the_cap_are_answered_politely_and_not_relayed(payments_world: WorldFactory) -> None:
    with trio.fail_after(90):
        async with payments_world(env={"ADMIN_IDS": str(ADMIN_ID), "SUPPORT_TELEGRAM": "@kiebot_help"}) as world:
            world.tg.add_user(ADMIN_ID, "Alice")
            world.tg.add_user(USER, "Ann")
            for n in range(1, 4):
                world.tg.send_text(USER, f"/paysupport question {n}")
                await world.tg.wait_for_message(ADMIN_ID, contains=f"question {n}")
            assert len(relayed(world, "question")) == 3

            before = len(world.tg.bot_messages(USER))
            world.tg.send_text(USER, "/paysupport question 4")
            polite = await world.tg.wait_for_message(USER, contains="Вы уже написали в поддержку 3 раза")
            assert "@kiebot_help" in polite.content  # somewhere else to turn meanwhile
            # The prompt without a question is refused before anything is typed, too.
            world.tg.send_text(USER, "/paysupport")
            await world.tg.wait_for(lambda: len(world.tg.bot_messages(USER)) >= before + 2, what="second refusal")
            assert "Вы уже написали" in world.tg.bot_messages(USER)[-1].content
            assert "Опишите" not in world.tg.bot_messages(USER)[-1].content

            # A restart (or another instance) does not forget the count.
            await world.restart_app()
            world.tg.send_text(USER, "/paysupport question 5")
            await world.tg.wait_for(lambda: len(world.tg.bot_messages(USER)) >= before + 3, what="refusal after restart")
            assert "Вы уже написали" in world.tg.bot_messages(USER)[-1].content
            assert len(relayed(world, "question")) == 3  # nothing past the cap reached the admin


async def test_a_banned_user_gets_one_relay_a_day(payments_world: WorldFactory) -> None:
    with trio.fail_after(60):
        async with payments_world(env={"ADMIN_IDS": str(ADMIN_ID)}) as world:
            world.tg.add_user(ADMIN_ID, "Alice")
            world.tg.add_user(BANNED, "Mallory", language_code="en")
            world.tg.send_text(BANNED, "/start")
            await world.tg.wait_for_message(BANNED, contains="Main menu")
            async with world.app.db.connection() as conn:
                await users.set_banned(conn, BANNED, True)

            world.tg.send_text(BANNED, "/paysupport")
            await world.tg.wait_for_message(BANNED, contains="one message")
            world.tg.send_text(BANNED, "refund my stars please")
            await world.tg.wait_for_message(ADMIN_ID, contains="refund my stars please")
            world.tg.send_text(BANNED, "/paysupport and again")
            polite = await world.tg.wait_for_message(BANNED, contains="You have already written to support once")
            assert "23:59" in polite.content  # about a day to wait
            assert relayed(world, "and again") == []
