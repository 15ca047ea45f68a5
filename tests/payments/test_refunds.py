"""Stars refunds: the incoming ``refunded_payment`` is recorded once and the ledger stays consistent.

The admin panel starts refunds (``refundStarPayment`` through the bot's client); these tests call
that method on the app's own client, as the panel does, and watch what the bot makes of the
``refunded_payment`` update the fake Telegram then delivers.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import pytest
import trio

from kiebot.store import money, payments
from kiebot.telegram.errors import ChargeAlreadyRefunded
from kiebot.testing.harness import ADMIN_ID, World

USER = 5_200_001

pytestmark = pytest.mark.slow

WorldFactory = Callable[..., AbstractAsyncContextManager[World]]


async def paid(world: World, user_id: int, stars: int) -> str:
    """The user buys ``stars`` through the bot's screens; returns the charge id."""
    world.tg.send_text(user_id, "/balance")
    screen = await world.tg.wait_for_message(user_id, contains="💰 Баланс")
    world.tg.tap(user_id, screen.message_id, "topup")
    packages = await world.tg.wait_for_message(user_id, contains="Пополнение звёздами")
    world.tg.tap(user_id, packages.message_id, f"stars:{stars}")
    invoice = await world.tg.wait_for_message(user_id, predicate=lambda m: m.kind == "invoice")
    result = await world.tg.pay_invoice(user_id, invoice.message_id)
    assert result.status == "paid"
    await world.tg.wait_for_message(user_id, contains="Оплата получена")
    assert result.telegram_payment_charge_id is not None
    return result.telegram_payment_charge_id


def refund_update(world: World, charge: str) -> dict[str, Any]:
    found = [
        u for u in world.tg.updates
        if u.get("message", {}).get("refunded_payment", {}).get("telegram_payment_charge_id") == charge
    ]
    assert len(found) == 1
    return found[0]


async def ledger(world: World, user_id: int) -> list[tuple[str, int]]:
    async with world.app.db.connection() as conn:
        entries = await money.recent_ledger(conn, user_id)
    return [(e.kind, e.amount) for e in reversed(entries)]


async def stars_payment(world: World, charge: str) -> payments.StarsPayment:
    async with world.app.db.connection() as conn:
        found = await payments.get_stars_payment(conn, charge)
    assert found is not None
    return found


def refunds_counted(world: World) -> float:
    return world.app.metrics.registry.get_sample_value("kiebot_stars_refunds_total") or 0.0


async def test_refund_is_recorded_once_and_a_second_refund_is_already_done(payments_world: WorldFactory) -> None:
    with trio.fail_after(60):
        async with payments_world() as world:
            world.tg.add_user(USER, "Ann")
            charge = await paid(world, USER, 100)

            assert await world.app.bot.tg.refund_star_payment(USER, charge) is True
            told = await world.tg.wait_for_message(USER, contains="Возврат 100 ⭐")
            assert "списано 100\u00a0₽" in told.content
            assert "Баланс: 0\u00a0₽" in told.content
            assert await ledger(world, USER) == [("topup_stars", 100_00), ("stars_refund", -100_00)]
            assert (await stars_payment(world, charge)).status == "refunded"

            # The panel refunding again gets CHARGE_ALREADY_REFUNDED (treated as done) and no update.
            with pytest.raises(ChargeAlreadyRefunded):
                await world.app.bot.tg.refund_star_payment(USER, charge)
            # Telegram delivering the refund message twice debits nothing more.
            before = len(world.tg.bot_messages(USER))
            world.tg.redeliver(refund_update(world, charge)["update_id"])
            await world.tg.wait_for(lambda: len(world.tg.bot_messages(USER)) > before, what="second refund notice")
            assert await ledger(world, USER) == [("topup_stars", 100_00), ("stars_refund", -100_00)]
            assert refunds_counted(world) == 1
            assert [p.status for p in world.tg.payments] == ["refunded"]


async def test_refund_recorded_by_the_panel_first_is_not_debited_twice(payments_world: WorldFactory) -> None:
    with trio.fail_after(60):
        async with payments_world() as world:
            world.tg.add_user(USER, "Ann")
            charge = await paid(world, USER, 50)
            # The admin panel's order: debit in our books first (refusing if spent), then Telegram.
            async with world.app.db.connection() as conn:
                recorded = await payments.mark_refunded(conn, charge)
            assert recorded.refunded_now
            await world.app.bot.tg.refund_star_payment(USER, charge)
            await world.tg.wait_for_message(USER, contains="Возврат 50 ⭐")
            assert await ledger(world, USER) == [("topup_stars", 50_00), ("stars_refund", -50_00)]
            assert refunds_counted(world) == 0  # the panel's own write, not ours


async def test_refund_of_spent_money_debits_nothing_and_alerts_admins(payments_world: WorldFactory) -> None:
    with trio.fail_after(60):
        async with payments_world() as world:
            world.tg.add_user(ADMIN_ID, "Admin")
            world.tg.send_text(ADMIN_ID, "/start")
            await world.tg.wait_for_message(ADMIN_ID, contains="Главное меню")
            world.tg.add_user(USER, "Ann")
            charge = await paid(world, USER, 50)
            async with world.app.db.connection() as conn:  # a generation holds 30 ₽ of it
                await money.hold(conn, USER, 30_00, ref="job-refund-test")

            await world.app.bot.tg.refund_star_payment(USER, charge)
            alert = await world.tg.wait_for_message(ADMIN_ID, contains="не списан")
            assert charge in alert.content
            assert str(USER) in alert.content
            await world.tg.wait_for_message(USER, contains="Возврат 50 ⭐ получен")
            async with world.app.db.connection() as conn:
                account = await money.get_account(conn, USER)
            assert (account.balance, account.held) == (20_00, 30_00)
            assert (await stars_payment(world, charge)).status == "paid"
            assert [kind for kind, _ in await ledger(world, USER)] == ["topup_stars", "hold"]
