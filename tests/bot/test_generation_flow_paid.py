"""Paid generations end to end: not enough money → top-up prompt; with money: held → delivered →
captured, to the kopeck; a double Confirm and a retried Confirm make one job and one hold."""

from __future__ import annotations

import pytest
import trio

from kiebot.bot.guards import RateGuard
from kiebot.store import money
from kiebot.testing.harness import open_world
from tests.support.books import assert_books_balance

USER = 5_200_001
#: google/imagen4-ultra: 12 credits × $0.005 × 78 ₽/$ × markup 2 = 9.36 ₽.
ULTRA = "google/imagen4-ultra"
ULTRA_KOPECKS = 936


async def _ledger_kinds(world, user_id: int) -> list[tuple[str, int, int]]:
    async with world.app.db.connection() as conn:
        entries = await money.recent_ledger(conn, user_id, limit=50)
    return sorted((e.kind, e.amount, e.held_delta) for e in entries)


@pytest.mark.slow
async def test_not_enough_money_then_topped_up_is_held_delivered_and_captured(database_url: str, bot_user) -> None:
    with trio.fail_after(60):
        async with open_world(database_url) as world:
            ann = await bot_user.ready(world, USER)
            summary = await ann.walk(ULTRA, prompt="an old tram in Lisbon, golden hour")
            assert "9,36" in summary.content
            assert "Не хватает" in summary.content
            assert "bal" in summary.callback_data()

            refused = await ann.confirm(summary)
            assert "Не хватает денег" in refused.content
            assert "9,36" in refused.content
            assert "bal" in refused.callback_data()
            assert await ann.jobs() == []

            await ann.credit(1000)
            summary = await ann.press(refused, "К заказу")
            assert "Не хватает" not in summary.content
            assert "10\u00a0₽" in summary.content  # the balance
            progress = await ann.confirm(summary)
            job = await ann.wait_job("queued", "submitting", "submitted", "succeeded", "delivered")
            assert job.quote_kopecks == ULTRA_KOPECKS
            assert progress.message_id == job.progress_message_id
            await ann.wait_for(predicate=lambda m: m.kind == "photo")
            job = await ann.wait_job("delivered")
            account = await ann.account()
            assert (account.balance, account.held) == (1000 - ULTRA_KOPECKS, 0)
            assert await _ledger_kinds(world, USER) == sorted(
                [("topup_manual", 1000, 0), ("hold", 0, ULTRA_KOPECKS), ("capture", -ULTRA_KOPECKS, -ULTRA_KOPECKS)]
            )
            done = await ann.wait_for(contains="Списано")
            assert done.message_id == progress.message_id
            assert "9,36" in done.content
            await assert_books_balance(world.app.db)


@pytest.mark.slow
async def test_double_confirm_makes_one_job_and_one_hold(database_url: str, bot_user) -> None:
    with trio.fail_after(60):
        async with open_world(database_url) as world:
            ann = await bot_user.ready(world, USER, credit=5000)
            summary = await ann.walk(ULTRA)
            confirm = next(d for d in summary.callback_data() if ":ok:" in d)
            await ann.tap_twice(summary, confirm)
            # The same button again once the double-tap window has passed (a restart forgets it):
            world.app.bot.guard = RateGuard()
            stale = await ann.press(summary, confirm, force=True)
            assert any(a.text and "устарело" in a.text for a in world.tg.callback_answers)
            assert stale is not None
            await ann.wait_job("delivered")
            assert len(await ann.jobs()) == 1
            holds = [k for k in await _ledger_kinds(world, USER) if k[0] == "hold"]
            assert holds == [("hold", 0, ULTRA_KOPECKS)]
            await assert_books_balance(world.app.db)


@pytest.mark.slow
async def test_confirm_retried_after_a_telegram_outage_finds_the_first_job(database_url: str, bot_user) -> None:
    """The progress edit fails (Telegram 500), the inbox runs the update again: the idempotency
    key of the confirm button finds the job created the first time — one job, one hold."""
    with trio.fail_after(60):
        async with open_world(database_url) as world:
            ann = await bot_user.ready(world, USER, credit=5000)
            summary = await ann.walk(ULTRA)
            world.app.bot.tg.max_retries = 0
            world.tg.inject("editMessageText", status=500, times=1, chat_id=USER)
            await ann.confirm(summary)
            confirm_update = world.tg.updates[-1]["update_id"]
            await ann.wait_job("delivered")
            async with world.app.db.connection() as conn:
                attempts = await conn.fetchval("SELECT attempts FROM updates WHERE update_id = $1", confirm_update)
            assert attempts == 2  # the first run failed on Telegram's 500 and was retried
            assert len(await ann.jobs()) == 1
            holds = [k for k in await _ledger_kinds(world, USER) if k[0] == "hold"]
            assert holds == [("hold", 0, ULTRA_KOPECKS)]
            job = (await ann.jobs())[0]
            assert job.progress_message_id == summary.message_id
            await assert_books_balance(world.app.db)
