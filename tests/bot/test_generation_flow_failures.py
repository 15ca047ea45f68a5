"""When a generation does not produce a result the money comes back and everyone is told:
a task failed at Kie, a task that never finishes (timeout), a user's cancel while queued."""

from __future__ import annotations

from datetime import timedelta

import pytest
import trio

from kiebot.i18n import t
from kiebot.store import money
from kiebot.testing.harness import ADMIN_ID, open_world
from tests.support.books import assert_books_balance

USER = 5_300_001
ULTRA = "google/imagen4-ultra"
ULTRA_KOPECKS = 936


async def _release_entries(world, user_id: int) -> list[str]:
    async with world.app.db.connection() as conn:
        return sorted(e.kind for e in await money.recent_ledger(conn, user_id, limit=50))


async def _prepared(world, bot_user):
    world.tg.add_user(ADMIN_ID, "Admin")
    return await bot_user.ready(world, USER, credit=2000)


@pytest.mark.slow
async def test_provider_failure_releases_the_hold_and_tells_the_user_and_the_admin(database_url: str, bot_user) -> None:
    with trio.fail_after(60):
        async with open_world(database_url) as world:
            ann = await _prepared(world, bot_user)
            world.kie.script(ULTRA, outcome="fail", message="Content flagged by the safety filter", fail_code="422")
            progress = await ann.confirm(await ann.walk(ULTRA))
            job = await ann.wait_job("failed")
            told = await ann.wait_for(contains="❌", after=progress.message_id - 1)
            assert told.message_id == progress.message_id
            # Kie's words stay with the admins; the user reads one reason in Russian.
            assert t("ru", "generation.reason.content_rules") in told.content
            assert "safety filter" not in told.content
            assert "9,36" in told.content  # "9,36 ₽ вернулись на баланс"
            account = await ann.account()
            assert (account.balance, account.held) == (2000, 0)
            assert await _release_entries(world, USER) == ["hold", "release", "topup_manual"]
            alert = await world.tg.wait_for_message(ADMIN_ID, contains=ULTRA)
            assert str(job.id) in alert.content
            assert "safety filter" in alert.content
            await assert_books_balance(world.app.db)


@pytest.mark.slow
async def test_a_task_that_never_finishes_times_out_with_the_money_back(database_url: str, bot_user) -> None:
    with trio.fail_after(60):
        async with open_world(database_url) as world:
            ann = await _prepared(world, bot_user)
            world.kie.script(ULTRA, outcome="never")
            progress = await ann.confirm(await ann.walk(ULTRA))
            await ann.wait_job("submitted")
            real_now = world.app.gen.now
            # The kind's deadline (10 minutes for pictures) passes on the generation clock.
            world.app.gen.now = lambda: real_now() + timedelta(hours=1)
            await ann.wait_job("timed_out")
            told = await ann.wait_for(contains="⌛", after=progress.message_id - 1)
            assert "9,36" in told.content
            account = await ann.account()
            assert (account.balance, account.held) == (2000, 0)
            alert = await world.tg.wait_for_message(ADMIN_ID, contains="timeout")
            assert ULTRA in alert.content
            await assert_books_balance(world.app.db)


@pytest.mark.slow
async def test_cancel_while_queued_releases_at_once_and_never_reaches_kie(database_url: str, bot_user) -> None:
    """One generation slot, held by a first job whose createTask answer is slow: the second job
    waits in the queue, and its ✖ Cancel releases its hold at once."""
    with trio.fail_after(60):
        async with open_world(database_url, env={"GENERATION_CONCURRENCY": "1"}) as world:
            ann = await _prepared(world, bot_user)
            world.kie.delay_next("create", 3.0)
            await ann.confirm(await ann.walk(ULTRA, prompt="first"))
            await ann.wait_job("submitting")
            second = await ann.confirm(await ann.walk(ULTRA, prompt="second"))
            queued = await ann.wait_job("queued")
            assert any(d == f"jcancel:{queued.id}" for d in second.callback_data())
            cancelled = await ann.press(second, f"jcancel:{queued.id}")
            assert "отменено" in cancelled.content
            assert any(a.text and "Отменено" in a.text for a in world.tg.callback_answers)
            async with world.app.db.connection() as conn:
                kinds = [(e.kind, e.job_id) for e in await money.recent_ledger(conn, USER, limit=50)]
            assert ("release", queued.id) in kinds
            jobs = await ann.jobs()
            assert jobs[0].state == "cancelled"
            first = await ann.wait_job("delivered", job_id=jobs[1].id)
            assert world.kie.create_count == 1
            account = await ann.account()
            assert (account.balance, account.held) == (2000 - first.quote_kopecks, 0)
            await assert_books_balance(world.app.db)
