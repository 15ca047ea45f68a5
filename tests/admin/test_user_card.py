"""The user card end to end (real app, real PostgreSQL, fake Telegram): find a user, ban and unban
them (their actions are refused while banned), adjust their balance with a mandatory reason
(never below zero), and refund a Stars payment they made through the fake — twice.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import pytest
import trio

from kiebot.bot.screens.admin.refunds import refund_stars_payment
from kiebot.i18n import t
from kiebot.store import admin, money, payments
from kiebot.testing.harness import ADMIN_ID, World

Driver = Any  # tests/admin/conftest.py's Driver (conftest modules are not importable)
WorldFactory = Callable[..., AbstractAsyncContextManager[World]]
DriverFactory = Callable[..., AbstractAsyncContextManager[Driver]]  # conftest.py's admin_driver

ANN = 5_000_001

pytestmark = pytest.mark.slow


async def start_users(d: Driver) -> None:
    d.tg.add_user(ADMIN_ID, "Boss", username="boss")
    await d.start(ANN, "Ann", username="ann_k")
    await d.send(ADMIN_ID, "/admin")


async def open_card(d: Driver, query: str = "@ann_k") -> int:
    """Dashboard → 🔍 → the query → the user card; returns the card's message id."""
    dash = d.last(ADMIN_ID)
    await d.tap(ADMIN_ID, dash.message_id, "adm.s")
    reaction = await d.send(ADMIN_ID, query)
    card = d.screen(ADMIN_ID, reaction)
    assert "Ann" in card.content, card.content
    assert str(ANN) in card.content
    return card.message_id


async def account(world: World, user_id: int = ANN) -> money.Account:
    async with world.app.db.connection() as conn:
        return await money.get_account(conn, user_id)


async def test_ban_refuses_the_users_actions_and_unban_restores_them(
    admin_world: WorldFactory, driver_for: Callable[[World], Driver]
) -> None:
    with trio.fail_after(60):
        async with admin_world() as world:
            d = driver_for(world)
            await start_users(d)
            card = await open_card(d)
            menu = d.last(ANN)

            reaction = await d.tap(ADMIN_ID, card, f"adm.ban:{ANN}:1")
            assert "Забанен" in d.tg.message(ADMIN_ID, card).content
            assert f"adm.ban:{ANN}:0" in d.tg.message(ADMIN_ID, card).callback_data()

            refused = await d.send(ANN, "/menu")
            assert refused.texts == [t("ru", "common.banned")]
            tap = await d.tap(ANN, menu.message_id, "bal")
            assert tap.answer is not None
            assert tap.answer.text == t("ru", "common.banned")
            assert tap.answer.show_alert
            assert tap.screens == []

            # A repeated ban changes nothing and writes no second audit row (the double-tap guard
            # is off, so the repeat reaches the handler).
            d.allow_repeated_taps()
            again = await d.tap(ADMIN_ID, card, f"adm.ban:{ANN}:1")
            assert again.answer is None or again.answer.text != t("ru", "common.wait")
            assert "Забанен" in d.tg.message(ADMIN_ID, card).content
            reaction = await d.tap(ADMIN_ID, card, f"adm.ban:{ANN}:0")
            assert reaction.texts[-1].startswith(t("ru", "admin.user.unbanned_now"))
            restored = await d.send(ANN, "/menu")
            assert any("Главное меню" in text for text in restored.texts)

            async with world.app.db.connection() as conn:
                audit = await admin.recent_admin_actions(conn, 10, target=f"user:{ANN}")
            assert [(e.action, e.admin_id) for e in audit] == [
                ("user_unban", ADMIN_ID),
                ("user_ban", ADMIN_ID),
            ]
            assert audit[1].before == {"banned": False}

            # An admin cannot ban another admin (or themselves).
            self_ban = await d.tap(ADMIN_ID, card, f"adm.ban:{ADMIN_ID}:1")
            assert self_ban.texts[-1].startswith(t("ru", "admin.user.cannot_ban_admin"))


async def test_adjustment_needs_a_reason_and_never_goes_below_zero(
    admin_world: WorldFactory, driver_for: Callable[[World], Driver]
) -> None:
    with trio.fail_after(60):
        async with admin_world() as world:
            d = driver_for(world)
            await start_users(d)
            card = await open_card(d, str(ANN))

            await d.tap(ADMIN_ID, card, f"adm.adj:{ANN}")
            below = await d.send(ADMIN_ID, "-50")
            assert "минус" in below.texts[0], below.texts
            bad = await d.send(ADMIN_ID, "fifty")
            assert "Не понял сумму" in bad.texts[0]
            asked = await d.send(ADMIN_ID, "+150,50")
            assert "Теперь причина" in asked.texts[0]
            assert "+150,50" in asked.texts[0]
            short = await d.send(ADMIN_ID, "ok")
            assert "Причина обязательна" in short.texts[0]
            confirm = await d.send(ADMIN_ID, "compensation for job #7")
            screen = d.screen(ADMIN_ID, confirm)
            assert "0 ₽ → 150,50 ₽" in screen.content.replace("\u00a0", " ")
            assert (await account(world)).balance == 0  # nothing before the confirmation

            apply = next(data for data in screen.callback_data() if data.startswith("adm.adjok:"))
            done = await d.tap(ADMIN_ID, screen.message_id, apply)
            assert "Баланс изменён на +150,50" in done.texts[-1].replace("\u00a0", " "), done.texts
            assert (await account(world)).balance == 15050
            # A double tap is swallowed by the router's 2-second de-duplication (or, on a machine so
            # busy that the first tap took longer, finds the adjustment applied by its key); a later
            # tap of the same button changes nothing either.
            double = await d.tap(ADMIN_ID, screen.message_id, apply)
            swallowed = double.answer is not None and double.answer.text == t("ru", "common.wait")
            assert swallowed or double.texts[-1].startswith(t("ru", "admin.adjust.already"))
            await trio.sleep(2.1)
            again = await d.tap(ADMIN_ID, screen.message_id, apply)
            assert again.texts[-1].startswith(t("ru", "admin.adjust.already"))
            assert (await account(world)).balance == 15050

            async with world.app.db.connection() as conn:
                entry = (await money.recent_ledger(conn, ANN, 1))[0]
                audit = await admin.recent_admin_actions(conn, 5, target=f"user:{ANN}")
            assert (entry.kind, entry.amount, entry.admin_id, entry.reason) == (
                "admin_adjust",
                15050,
                ADMIN_ID,
                "compensation for job #7",
            )
            assert audit[0].action == "balance_adjust"
            assert audit[0].after["reason"] == "compensation for job #7"

            # A debit that was fine when typed but is not by the time it is confirmed (a generation
            # held money in between) is refused cleanly: the balance never goes negative.
            await d.tap(ADMIN_ID, screen.message_id, f"adm.adj:{ANN}")
            await d.send(ADMIN_ID, "-150,50")
            confirm = await d.send(ADMIN_ID, "taking it back")
            screen = d.screen(ADMIN_ID, confirm)
            async with world.app.db.connection() as conn:
                await money.hold(conn, ANN, 100, ref="racing-generation")
            apply = next(data for data in screen.callback_data() if data.startswith("adm.adjok:"))
            refused = await d.tap(ADMIN_ID, screen.message_id, apply)
            assert "минус" in refused.texts[-1]
            assert (await account(world)) == money.Account(user_id=ANN, balance=14950, held=100)


async def pay_stars(d: Driver, world: World, stars: int) -> str:
    """Ann buys ``stars`` through the payments screens and the fake; returns the charge id."""
    balance = await d.send(ANN, "/balance")
    shown = d.screen(ANN, balance)
    invoice_reaction = await d.tap(ANN, shown.message_id, f"stars:{stars}")
    invoice = next(m for m in reversed(d.tg.bot_messages(ANN)) if m.kind == "invoice")
    assert invoice_reaction.answer is not None
    result = await d.tg.pay_invoice(ANN, invoice.message_id)
    assert result.status == "paid", result
    charge = result.telegram_payment_charge_id
    with trio.fail_after(10):
        while True:
            async with world.app.db.connection() as conn:
                recorded = await payments.get_stars_payment(conn, charge)
            if recorded is not None:
                return charge
            await trio.sleep(0.02)


async def test_stars_refund_from_the_user_card_and_a_second_refund(admin_driver: DriverFactory) -> None:
    with trio.fail_after(90):
        async with admin_driver() as d:
            world = d.world
            await start_users(d)
            first = await pay_stars(d, world, 100)
            assert (await account(world)).balance == 10000

            card = await open_card(d)
            listing = d.screen(ADMIN_ID, await d.tap(ADMIN_ID, card, f"adm.pay:{ANN}"))
            refund = next(data for data in listing.callback_data() if data.startswith("adm.rf:"))
            confirm = d.screen(ADMIN_ID, await d.tap(ADMIN_ID, listing.message_id, refund))
            assert "100 ⭐" in confirm.content
            do = next(data for data in confirm.callback_data() if data.startswith("adm.rfok:"))
            done = await d.tap(ADMIN_ID, confirm.message_id, do)
            assert "вернулись" in done.texts[-1], done.texts

            assert len(d.tg.calls("refundStarPayment")) == 1
            assert world.app.metrics.registry.get_sample_value("kiebot_stars_refunds_total") == 1.0
            assert d.tg.state.stars.by_charge[first].status == "refunded"
            assert (await account(world)).balance == 0
            async with world.app.db.connection() as conn:
                recorded = await payments.get_stars_payment(conn, first)
                audit = await admin.recent_admin_actions(conn, 5, target=f"user:{ANN}")
            assert recorded is not None
            assert recorded.status == "refunded"
            assert audit[0].action == "stars_refund"
            assert audit[0].after["stars"] == 100

            # The second refund of the same charge: "already refunded", Telegram not asked again,
            # nothing debited twice (the refunded_payment message the fake sent changes nothing).
            again = await d.tap(ADMIN_ID, confirm.message_id, do)
            assert "уже возвращён" in again.texts[-1]
            assert len(d.tg.calls("refundStarPayment")) == 1
            assert (await account(world)).balance == 0

            # Telegram says CHARGE_ALREADY_REFUNDED (it refunded before, the answer was lost):
            # treated as done — the rubles leave the balance once.
            second = await pay_stars(d, world, 50)
            d.tg.inject("refundStarPayment", status=400, description="Bad Request: CHARGE_ALREADY_REFUNDED")
            listing = d.screen(ADMIN_ID, await d.tap(ADMIN_ID, confirm.message_id, f"adm.pay:{ANN}"))
            refund = next(data for data in listing.callback_data() if data.startswith("adm.rf:"))
            await d.tap(ADMIN_ID, listing.message_id, refund)
            done = await d.tap(ADMIN_ID, listing.message_id, refund.replace("adm.rf:", "adm.rfok:"))
            assert "вернулись" in done.texts[-1], done.texts
            async with world.app.db.connection() as conn:
                recorded = await payments.get_stars_payment(conn, second)
            assert recorded is not None
            assert recorded.status == "refunded"
            assert (await account(world)).balance == 0

            # Spent money cannot be refunded: refused before Telegram is asked.
            third = await pay_stars(d, world, 50)
            async with world.app.db.connection() as conn:
                await money.hold(conn, ANN, 1000, ref="spent")
            calls = len(d.tg.calls("refundStarPayment"))
            listing = d.screen(ADMIN_ID, await d.tap(ADMIN_ID, listing.message_id, f"adm.pay:{ANN}"))
            refund = next(data for data in listing.callback_data() if data.startswith("adm.rf:"))
            shown = d.screen(ADMIN_ID, await d.tap(ADMIN_ID, listing.message_id, refund))
            assert "нельзя" in shown.content
            assert not any(x.startswith("adm.rfok:") for x in shown.callback_data())
            forced = await d.tap(ADMIN_ID, listing.message_id, refund.replace("adm.rf:", "adm.rfok:"))
            assert "нельзя" in forced.texts[-1]
            assert len(d.tg.calls("refundStarPayment")) == calls
            async with world.app.db.connection() as conn:
                recorded = await payments.get_stars_payment(conn, third)
            assert recorded is not None
            assert recorded.status == "paid"
            assert (await account(world)) == money.Account(user_id=ANN, balance=4000, held=1000)


async def test_refund_when_telegram_refuses_or_does_not_answer(admin_driver: DriverFactory) -> None:
    """Refused, or unanswered and not listed by getStarTransactions: nothing is debited. Refunded
    but the answer lost: the ledger lookup finds it, the debit is kept, and the rubles leave once."""
    with trio.fail_after(60):
        async with admin_driver() as d:
            world = d.world
            await start_users(d)
            charge = await pay_stars(d, world, 100)
            db, tg = world.app.db, world.app.bot.tg

            d.tg.inject("refundStarPayment", status=400, description="Bad Request: CHARGE_NOT_FOUND")
            refused = await refund_stars_payment(db, tg, admin_id=ADMIN_ID, charge_id=charge)
            assert (refused.outcome, refused.detail) == ("telegram_refused", "Bad Request: CHARGE_NOT_FOUND")
            assert (await account(world)).balance == 10_000

            # Telegram never got to it (the call hangs before taking effect): its Stars ledger lists
            # no refund, so the debit is rolled back — "not refunded", not a guess.
            d.tg.inject("refundStarPayment", status=None, hang=True)
            silent = await refund_stars_payment(db, tg, admin_id=ADMIN_ID, charge_id=charge, timeout_s=0.5)
            assert silent.outcome == "not_refunded"
            assert (await account(world)).balance == 10_000
            assert d.tg.state.stars.by_charge[charge].status == "paid"
            assert len(d.tg.calls("getStarTransactions")) >= 1

            # Telegram refunds, then its answer is lost (issue 13 item 10): the charge is looked up
            # with getStarTransactions before the debit is kept or rolled back — it is listed, so
            # the debit is kept, audited, and the admin told "refunded".
            d.tg.clear_faults()
            d.tg.inject("refundStarPayment", status=None, hang=True, after=True)
            lost = await refund_stars_payment(db, tg, admin_id=ADMIN_ID, charge_id=charge, timeout_s=0.5)
            assert lost.outcome == "refunded"
            assert lost.balance == 0
            assert d.tg.state.stars.by_charge[charge].status == "refunded"
            assert (await account(world)).balance == 0
            async with world.app.db.connection() as conn:
                recorded = await payments.get_stars_payment(conn, charge)
                audit = await admin.recent_admin_actions(conn, 5, target=f"user:{ANN}")
                ledger = await money.recent_ledger(conn, ANN, 10)
            assert recorded is not None
            assert recorded.status == "refunded"
            assert [e.action for e in audit] == ["stars_refund"]
            assert audit[0].after["telegram"] == "refunded (answer lost, confirmed by getStarTransactions)"
            # The refunded_payment update Telegram sent waits for the refund's lock, then finds the
            # charge recorded: the rubles leave once.
            await d.tg.wait_for_message(ANN, contains="Возврат 100 ⭐")
            async with world.app.db.connection() as conn:
                ledger = await money.recent_ledger(conn, ANN, 10)
            assert [e.kind for e in ledger].count("stars_refund") == 1
            d.tg.clear_faults()
            again = await refund_stars_payment(db, tg, admin_id=ADMIN_ID, charge_id=charge)
            assert again.outcome == "already_refunded"
            assert (await account(world)).balance == 0


async def test_a_refund_whose_answer_is_lost_is_settled_from_the_panel(admin_driver: DriverFactory) -> None:
    """Issue 13 item 10 through the panel: Telegram refunds, its answer never comes; the refund
    transaction looks the charge up with getStarTransactions, keeps the debit and says "refunded"."""
    with trio.fail_after(60):
        async with admin_driver(env={"KIEBOT_LIMITS": '{"stars_refund_timeout_s": 1.0}'}) as d:
            world = d.world
            await start_users(d)
            charge = await pay_stars(d, world, 100)
            card = await open_card(d)
            listing = d.screen(ADMIN_ID, await d.tap(ADMIN_ID, card, f"adm.pay:{ANN}"))
            refund = next(data for data in listing.callback_data() if data.startswith("adm.rf:"))
            confirm = d.screen(ADMIN_ID, await d.tap(ADMIN_ID, listing.message_id, refund))
            do = next(data for data in confirm.callback_data() if data.startswith("adm.rfok:"))

            d.tg.inject("refundStarPayment", status=None, hang=True, after=True, times=None)
            done = await d.tap(ADMIN_ID, confirm.message_id, do)
            assert "вернулись" in done.texts[-1], done.texts
            assert d.tg.state.stars.by_charge[charge].status == "refunded"
            assert len(d.tg.calls("getStarTransactions")) >= 1
            assert (await account(world)).balance == 0
            await d.tg.wait_for_message(ANN, contains="Возврат 100 ⭐")
            async with world.app.db.connection() as conn:
                ledger = await money.recent_ledger(conn, ANN, 10)
                audit = await admin.recent_admin_actions(conn, 5, target=f"user:{ANN}")
            assert [e.kind for e in ledger].count("stars_refund") == 1
            assert audit[0].action == "stars_refund"
            assert "getStarTransactions" in audit[0].after["telegram"]
