"""Stars top-ups end to end: real app, real PostgreSQL, fake Telegram over HTTP.

balance → packages → invoice (XTR, one price, our payload) → the user pays → pre-checkout answered
→ successful_payment credited once (a duplicated delivery changes nothing) → the balance is exact.
Declines: an expired order, someone else's order, a banned user. The ledger invariant is checked
when each world closes (see conftest).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import pytest
import trio

from kiebot.bot.screens import stars as stars_screen
from kiebot.store import money, payments, users
from kiebot.store.db import Conn
from kiebot.testing.harness import World
from kiebot.testing.telegram import users as sim_users
from kiebot.testing.telegram.server import PaymentResult

USER = 5_100_001
OTHER = 5_100_002

pytestmark = pytest.mark.slow

WorldFactory = Callable[..., AbstractAsyncContextManager[World]]


async def open_balance(world: World, user_id: int) -> Any:
    world.tg.send_text(user_id, "/balance")
    return await world.tg.wait_for_message(user_id, contains="💰 Баланс")


async def buy_package(world: World, user_id: int, stars: int) -> Any:
    """Balance → ⭐ top up → the package button; returns the invoice message."""
    screen = await open_balance(world, user_id)
    world.tg.tap_button(user_id, screen.message_id, "Пополнить звёздами")
    packages = await world.tg.wait_for_message(user_id, contains="Пополнение звёздами")
    assert packages.message_id == screen.message_id  # edited in place
    world.tg.tap(user_id, packages.message_id, f"stars:{stars}")
    return await world.tg.wait_for_message(user_id, predicate=lambda m: m.kind == "invoice", after=packages.message_id)


async def balance_of(world: World, user_id: int) -> money.Account:
    async with world.app.db.connection() as conn:
        return await money.get_account(conn, user_id)


def metric(world: World, name: str, **labels: str) -> float:
    value = world.app.metrics.registry.get_sample_value(name, labels or None)
    return 0.0 if value is None else value


def assert_declined(result: PaymentResult, *, because: str) -> None:
    """The bot said no at pre-checkout, with a reason the user sees that contains ``because``."""
    assert result.status == "declined"
    assert result.error_message is not None
    assert because in result.error_message


async def test_package_invoice_payment_credits_exactly_once(payments_world: WorldFactory) -> None:
    with trio.fail_after(60):
        async with payments_world(env={"STARS_RUB_RATE": "1.5"}) as world:
            world.tg.add_user(USER, "Ann")
            packages_shown = await open_balance(world, USER)
            world.tg.tap_button(USER, packages_shown.message_id, "Пополнить звёздами")
            screen = await world.tg.wait_for_message(USER, contains="Пополнение звёздами")
            # Every default package is offered with its ruble value at 1.5 ₽ per Star.
            for stars, rub in ((50, "75"), (100, "150"), (250, "375"), (500, "750"), (1000, "1\u00a0500")):
                assert f"stars:{stars}" in screen.callback_data()
                screen.button(f"{stars} ⭐ → {rub}\u00a0₽")
            assert "/terms" in screen.content

            world.tg.tap(USER, screen.message_id, "stars:100")
            invoice = await world.tg.wait_for_message(USER, predicate=lambda m: m.kind == "invoice")
            call = world.tg.calls("sendInvoice")[-1]
            assert call.params["currency"] == "XTR"
            assert call.params["provider_token"] == ""
            prices = call.params["prices"]
            assert len(prices) == 1
            assert prices[0]["amount"] == 100
            payload = call.params["payload"]
            assert 1 <= len(payload.encode()) <= 128
            assert invoice.buttons[0][0].get("pay") is True
            assert "terms" in invoice.callback_data()
            async with world.app.db.connection() as conn:
                order = await payments.get_order(conn, payload)
            assert order is not None
            assert (order.user_id, order.stars, order.kopecks, order.status) == (USER, 100, 150_00, "open")

            result = await world.tg.pay_invoice(USER, invoice.message_id)
            assert result.status == "paid", result.error_message
            done = await world.tg.wait_for_message(USER, contains="Оплата получена")
            assert "100 ⭐ → 150\u00a0₽" in done.content
            assert "Баланс: 150\u00a0₽" in done.content
            assert (await balance_of(world, USER)).balance == 150_00

            # The same successful_payment delivered again (a new update_id): nothing more.
            charge = result.telegram_payment_charge_id
            assert charge is not None
            world.tg.redeliver_payment(charge)
            await world.tg.wait_for_message(USER, contains="уже зачислен")
            assert (await balance_of(world, USER)).balance == 150_00
            async with world.app.db.connection() as conn:
                ledger = await money.recent_ledger(conn, USER)
                order_after = await payments.get_order(conn, payload)
            assert [(e.kind, e.amount, e.payment) for e in ledger] == [("topup_stars", 150_00, charge)]
            assert order_after is not None
            assert order_after.status == "paid"
            assert metric(world, "kiebot_stars_payments_total") == 1
            assert metric(world, "kiebot_stars_received_total") == 100
            assert metric(world, "kiebot_topup_kopecks_total", method="stars") == 150_00
            assert metric(world, "kiebot_precheckout_total", outcome="ok") == 1


async def test_paying_the_same_invoice_again_is_declined_as_already_paid(payments_world: WorldFactory) -> None:
    with trio.fail_after(60):
        async with payments_world() as world:
            world.tg.add_user(USER, "Ann")
            invoice = await buy_package(world, USER, 50)
            first = await world.tg.pay_invoice(USER, invoice.message_id)
            assert first.status == "paid"
            await world.tg.wait_for_message(USER, contains="Оплата получена")
            # A forwarded copy of the paid invoice (same payload, another message) can be paid
            # again unless the bot says no.
            original = sim_users.invoice_message(world.tg.state, USER, invoice.message_id)
            second = await sim_users.pay(world.tg.state, USER, dataclasses.replace(original))
            assert_declined(second, because="уже оплачен")
            assert (await balance_of(world, USER)).balance == 50_00


async def _expire_the_order(conn: Conn) -> None:
    await conn.execute("UPDATE invoice_orders SET expires_at = now() - interval '1 second' WHERE user_id = $1", USER)


async def _ban_the_user(conn: Conn) -> None:
    await users.set_banned(conn, USER, True)


@pytest.mark.parametrize(
    ("spoil", "because", "outcome"),
    [(_expire_the_order, "истёк", "expired"), (_ban_the_user, "недоступна", "banned")],
    ids=["expired order", "banned user"],
)
async def test_an_expired_order_or_a_banned_user_is_declined_with_a_message(
    payments_world: WorldFactory, spoil: Callable[[Conn], Awaitable[None]], because: str, outcome: str
) -> None:
    with trio.fail_after(60):
        async with payments_world() as world:
            world.tg.add_user(USER, "Ann")
            invoice = await buy_package(world, USER, 50)
            async with world.app.db.connection() as conn:
                await spoil(conn)
            result = await world.tg.pay_invoice(USER, invoice.message_id)
            assert_declined(result, because=because)
            assert world.tg.payment_attempts[-1].status == "declined"
            assert (await balance_of(world, USER)).balance == 0
            assert metric(world, "kiebot_precheckout_total", outcome=outcome) == 1


async def test_someone_elses_order_is_declined(payments_world: WorldFactory) -> None:
    with trio.fail_after(60):
        async with payments_world() as world:
            world.tg.add_user(USER, "Ann")
            world.tg.add_user(OTHER, "Bob", language_code="en")
            world.tg.send_text(OTHER, "/start")
            await world.tg.wait_for_message(OTHER, contains="Main menu")
            invoice = await buy_package(world, USER, 50)
            # Bob pays Ann's invoice (a forwarded invoice keeps its Pay button).
            ann_invoice = sim_users.invoice_message(world.tg.state, USER, invoice.message_id)
            result = await sim_users.pay(world.tg.state, OTHER, ann_invoice)
            assert_declined(result, because="someone else")
            assert (await balance_of(world, USER)).balance == 0
            assert (await balance_of(world, OTHER)).balance == 0
            assert world.tg.payments == []


async def test_custom_amount_bounds_then_invoice(payments_world: WorldFactory) -> None:
    with trio.fail_after(60):
        async with payments_world() as world:
            world.tg.add_user(USER, "Ann")
            screen = await open_balance(world, USER)
            world.tg.tap(USER, screen.message_id, "topup")
            packages = await world.tg.wait_for_message(USER, contains="Пополнение звёздами")
            world.tg.tap(USER, packages.message_id, "starsc")
            await world.tg.wait_for_message(USER, contains="Сколько звёзд")

            world.tg.send_text(USER, "десять")
            await world.tg.wait_for_message(USER, contains="целое число звёзд")
            world.tg.send_text(USER, "0")
            await world.tg.wait_for_message(USER, contains="Минимум — 1 ⭐")
            world.tg.send_text(USER, "10001")
            await world.tg.wait_for_message(USER, contains="не больше 10000 ⭐")
            assert world.tg.calls("sendInvoice") == []

            world.tg.send_text(USER, "1 234")
            invoice = await world.tg.wait_for_message(USER, predicate=lambda m: m.kind == "invoice")
            assert invoice.invoice is not None
            assert invoice.invoice["total_amount"] == 1234
            result = await world.tg.pay_invoice(USER, invoice.message_id)
            assert result.status == "paid"
            await world.tg.wait_for_message(USER, contains="Оплата получена")
            assert (await balance_of(world, USER)).balance == 1234_00
            # The amount state is gone: a number now is just a message, not another invoice.
            world.tg.send_text(USER, "50")
            await world.tg.wait_for_message(USER, contains="Выберите действие")
            assert len(world.tg.calls("sendInvoice")) == 1


async def test_precheckout_is_answered_in_time_even_when_the_database_stalls(
    payments_world: WorldFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Telegram waits 10 s for the answer; a database stuck behind a lock must still get the user
    a clear "try again" instead of a spinner that times out."""
    monkeypatch.setattr(stars_screen, "PRECHECKOUT_BUDGET_S", 1.0)
    with trio.fail_after(60):
        async with payments_world() as world:
            world.tg.add_user(USER, "Ann")
            invoice = await buy_package(world, USER, 50)
            async with world.app.db.transaction() as conn:
                await conn.execute("LOCK TABLE invoice_orders IN ACCESS EXCLUSIVE MODE")
                started = trio.current_time()
                result = await world.tg.pay_invoice(USER, invoice.message_id)
                waited = trio.current_time() - started
            assert_declined(result, because="Попробуйте ещё раз")
            assert waited < 5
            assert metric(world, "kiebot_precheckout_total", outcome="unavailable") == 1
            # Once the database is free again, the same invoice goes through.
            again = await world.tg.pay_invoice(USER, invoice.message_id)
            assert again.status == "paid"
            await world.tg.wait_for_message(USER, contains="Оплата получена")
            assert (await balance_of(world, USER)).balance == 50_00
