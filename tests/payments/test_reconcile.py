"""Stars reconciliation: a payment (or refund) whose update never reached the bot is found in
Telegram's own ledger (``getStarTransactions``) and settled once; a second pass changes nothing.

The "lost update" is made real: the app is stopped, the user pays (the pre-checkout is answered
over the Bot API by a separate client), the fake's pending updates are dropped, the app restarts.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import trio

from kiebot.bot.context import BotDeps
from kiebot.payments.reconcile_job import reconcile_and_announce
from kiebot.payments.rules import Reconciliation
from kiebot.store import money, payments
from kiebot.telegram.client import TelegramClient
from kiebot.testing.harness import ADMIN_ID, TOKEN, World
from kiebot.testing.telegram import users as sim_users
from kiebot.testing.telegram.server import PaymentResult

USER = 5_600_001

pytestmark = pytest.mark.slow

WorldFactory = Callable[..., AbstractAsyncContextManager[World]]


async def reconcile_once(bot: BotDeps) -> Reconciliation:
    """The leader's periodic job, as the runtime wires it."""
    return await reconcile_and_announce(
        bot.db, bot.tg, bot.metrics, rub_per_star=bot.settings.stars_rub_rate, now=bot.now().timestamp(), admins=bot.notifier
    )


def _later() -> datetime:
    return datetime.now(UTC) + timedelta(minutes=11)


async def invoice_for(world: World, stars: int) -> int:
    world.tg.send_text(USER, "/balance")
    screen = await world.tg.wait_for_message(USER, contains="💰 Баланс")
    world.tg.tap(USER, screen.message_id, "topup")
    packages = await world.tg.wait_for_message(USER, contains="Выберите пакет")
    world.tg.tap(USER, packages.message_id, f"stars:{stars}")
    invoice = await world.tg.wait_for_message(USER, predicate=lambda m: m.kind == "invoice")
    return invoice.message_id


async def pay_while_the_bot_is_away(world: World, invoice_id: int) -> str:
    """The user pays while no bot instance runs; the pre-checkout is answered by another client."""
    assert world.tg.base_url is not None
    async with httpx.AsyncClient() as http:
        other = TelegramClient(http, TOKEN, base_url=world.tg.base_url)
        invoice = sim_users.invoice_message(world.tg.state, USER, invoice_id)
        result: list[PaymentResult] = []

        async def pay() -> None:
            result.append(await sim_users.pay(world.tg.state, USER, invoice))

        async with trio.open_nursery() as nursery:
            nursery.start_soon(pay)
            query_id: str = await world.tg.wait_for(
                lambda: next(iter(world.tg.state.stars.precheckouts), None), what="pre-checkout"
            )
            await other.answer_pre_checkout_query(query_id, True)
    assert result[0].status == "paid"
    charge = result[0].telegram_payment_charge_id
    assert charge is not None
    return charge


async def test_a_lost_payment_and_a_lost_refund_are_settled_once(payments_world: WorldFactory) -> None:
    with trio.fail_after(90):
        async with payments_world() as world:
            world.tg.add_user(USER, "Ann")
            world.tg.add_user(ADMIN_ID, "Admin")
            invoice_id = await invoice_for(world, 100)
            await world.stop_app()
            charge = await pay_while_the_bot_is_away(world, invoice_id)
            world.tg.state.updates.drop_pending()  # the successful_payment update is lost
            await world.start_app()
            async with world.app.db.connection() as conn:
                assert await payments.get_stars_payment(conn, charge) is None

            # Too recent: left to the update path.
            early = await reconcile_once(world.app.bot)
            assert (early.scanned, early.credited) == (0, [])

            world.app.bot.now = _later  # eleven minutes on: old enough to reconcile
            found = await reconcile_once(world.app.bot)
            assert [(m.user_id, m.charge_id, m.credit.kopecks) for m in found.credited] == [(USER, charge, 100_00)]
            await world.tg.wait_for_message(USER, contains="Оплата получена: 100 ⭐")
            await world.tg.wait_for_message(ADMIN_ID, contains="зачислено пропущенных платежей — 1")
            async with world.app.db.connection() as conn:
                assert (await money.get_account(conn, USER)).balance == 100_00
                recorded = await payments.get_stars_payment(conn, charge)
                assert recorded is not None
                order = await payments.get_order(conn, recorded.payload)
            assert order is not None
            assert order.status == "paid"

            again = await reconcile_once(world.app.bot)
            assert (again.scanned, again.credited, again.refunds) == (0, [], [])

            # A refund whose refunded_payment update is lost too.
            await world.stop_app()
            async with httpx.AsyncClient() as http:
                assert world.tg.base_url is not None
                await TelegramClient(http, TOKEN, base_url=world.tg.base_url).refund_star_payment(USER, charge)
            world.tg.state.updates.drop_pending()
            await world.start_app()
            world.app.bot.now = _later
            found = await reconcile_once(world.app.bot)
            assert [(r.charge_id, r.news.status) for r in found.refunds] == [(charge, "recorded")]
            async with world.app.db.connection() as conn:
                assert (await money.get_account(conn, USER)).balance == 0
                refunded = await payments.get_stars_payment(conn, charge)
            assert refunded is not None
            assert refunded.status == "refunded"
            assert (await reconcile_once(world.app.bot)).refunds == []
