"""💰 Balance: available, held, recent operations in words, all operations page by page."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

import pytest
import trio

from kiebot.chat.clock import when
from kiebot.store import money
from kiebot.testing.harness import World

USER = 5_500_001

pytestmark = pytest.mark.slow

WorldFactory = Callable[..., AbstractAsyncContextManager[World]]

NBSP = "\u00a0"


async def test_balance_shows_held_money_and_recent_operations_in_words(payments_world: WorldFactory) -> None:
    with trio.fail_after(60):
        async with payments_world() as world:
            world.tg.add_user(USER, "Ann", language_code="en")
            world.tg.send_text(USER, "/start")
            await world.tg.wait_for_message(USER, contains="Main menu")
            async with world.app.db.connection() as conn:
                await money.credit(conn, USER, 100_00, kind="welcome", key=money.welcome_key(USER))
                await money.hold(conn, USER, 20_00, ref="a")
                await money.capture(conn, USER, ref="a")
                await money.hold(conn, USER, 30_00, ref="b")
                await money.release(conn, USER, ref="b")
                await money.hold(conn, USER, 15_50, ref="c")

            world.tg.send_text(USER, "/balance")
            screen = await world.tg.wait_for_message(USER, contains="💰 Balance")
            lines = screen.content.splitlines()
            # One clock, named once: the ledger's times are Moscow time like the history's
            # (they were UTC, unnamed, while the history said Moscow).
            async with world.app.db.connection() as conn:
                newest = (await money.recent_ledger(conn, USER, 1))[0]
            assert "Recent operations (Moscow time):" in lines
            assert any(line.startswith(when(newest.created_at, "Europe/Moscow", "en") + " · ") for line in lines)
            assert lines[0] == f"💰 Balance: 64.50{NBSP}₽"
            assert lines[1].startswith(f"🔒 In progress: 15.50{NBSP}₽")
            recent = [line.split(" · ", 1)[1] for line in lines if " · " in line]
            assert recent == [
                f"🔒 Reserved for a generation: −15.50{NBSP}₽",
                f"🔓 Reserve returned: +30{NBSP}₽",
                f"🔒 Reserved for a generation: −30{NBSP}₽",
                f"✅ Generation paid: 20{NBSP}₽",
                f"🔒 Reserved for a generation: −20{NBSP}₽",
            ]
            assert screen.callback_data() == ["topup", "balh:0", "menu"]  # no bank transfer configured

            world.tg.tap(USER, screen.message_id, "balh:0")
            history = await world.tg.wait_for_message(USER, contains="All operations")
            assert history.message_id == screen.message_id
            assert f"🎁 Welcome bonus: +100{NBSP}₽" in history.content
            assert history.callback_data() == ["bal", "menu"]  # six rows: one page


async def test_history_pages_back_and_forth(payments_world: WorldFactory) -> None:
    with trio.fail_after(60):
        async with payments_world(env={"PAYMENT_PHONE": "+79990000000"}) as world:
            world.tg.add_user(USER, "Ann")
            world.tg.send_text(USER, "/start")
            await world.tg.wait_for_message(USER, contains="Главное меню")
            async with world.app.db.connection() as conn:
                for i in range(1, 13):
                    await money.credit(conn, USER, i * 100, kind="referral_bonus", key=f"test-bonus-{i}")

            world.tg.send_text(USER, "/balance")
            screen = await world.tg.wait_for_message(USER, contains="💰 Баланс: 78")
            assert "mt" in screen.callback_data()  # a phone is configured: bank transfers offered
            world.tg.tap(USER, screen.message_id, "balh:0")
            first = await world.tg.wait_for_message(USER, contains="страница 1")
            assert f"+12{NBSP}₽" in first.content
            assert f"+3{NBSP}₽" in first.content
            assert f"+2{NBSP}₽" not in first.content
            assert "balh:1" in first.callback_data()
            world.tg.tap(USER, first.message_id, "balh:1")
            second = await world.tg.wait_for_message(USER, contains="страница 2")
            assert f"+2{NBSP}₽" in second.content
            assert f"+1{NBSP}₽" in second.content
            assert second.callback_data()[0] == "balh:0"
            assert "balh:2" not in second.callback_data()
            # A forged page far back is refused as outdated, not an error.
            world.tg.tap(USER, second.message_id, "balh:999", force=True)
            await world.tg.wait_for_message(USER, contains="Главное меню")
