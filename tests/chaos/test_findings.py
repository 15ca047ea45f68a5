"""Regression tests for the bugs the chaos run found (tests/chaos/test_chaos.py), each reproduced
in isolation: the in-process app against the fakes, one fault at a time, real PostgreSQL."""

from __future__ import annotations

import pytest
import trio

from kiebot.generation.request import JobRequest
from kiebot.pricing import quote
from kiebot.store import jobs, money, users
from kiebot.testing.harness import World, eventually, open_world

USER = 6_200_000_001
MODEL = "google/imagen4-ultra"


async def _start(world: World) -> int:
    """The user opens the bot; returns the id of the menu message (used as a progress message)."""
    world.tg.add_user(USER, "Ann", language_code="en")
    world.tg.send_text(USER, "/start")
    menu = await world.tg.wait_for_message(USER, contains="Main menu", timeout=20)
    return menu.message_id


async def _paid_job(world: World, progress_message_id: int | None, key: str = "job-1") -> jobs.Job:
    """A queued paid job, its money held, with ``progress_message_id`` set in the same
    transaction (so the workers never see it without one)."""
    app = world.app
    spec = app.bot.registry.require(MODEL)
    params = {"aspect_ratio": "1:1"}
    price = quote(spec, params, fx=app.bot.fx.current(), markup=app.settings.pricing_markup)
    async with app.db.transaction() as conn:
        await users.touch_user(conn, USER, first_name="Ann", language="en")
        await money.credit(conn, USER, 10_000, kind="topup_manual", key=f"credit:{key}")
        created = await jobs.create_job(
            conn,
            user_id=USER,
            chat_id=USER,
            model_id=spec.id,
            kind=spec.kind,
            params=JobRequest(params=params, prompt="a red fox", lang="en").to_json(),
            quote_kopecks=price.kopecks,
            idempotency_key=key,
            timeout_s=float(spec.timeout_seconds),
        )
        if progress_message_id is not None:
            await jobs.set_progress_message(conn, created.job.id, progress_message_id)
    app.gen.submit_wakeup.signal()
    return created.job


async def _state(world: World, job_id: int) -> str:
    async with world.app.db.connection() as conn:
        job = await jobs.get_job(conn, job_id)
    assert job is not None
    return job.state


async def _books_balance(world: World) -> None:
    async with world.app.db.connection() as conn:
        assert await money.check_invariants(conn) == []
        assert await jobs.job_money_violations(conn) == []


@pytest.mark.slow
async def test_progress_edits_failing_on_telegram_5xx_do_not_stop_the_job(database_url: str) -> None:
    """Every edit of the progress message fails with 502 (after the client's retries): the job
    must still reach Kie, be delivered and be charged — before the fix it stayed ``submitting``,
    never sent to Kie, until its deadline."""
    with trio.fail_after(60):
        async with open_world(database_url) as world:
            progress = await _start(world)
            world.app.gen.tg.max_retries = 0  # the same failure, without waiting out the client's retries
            world.tg.inject("editMessageText", status=502, times=None, chat_id=USER)
            job = await _paid_job(world, progress)

            async def delivered() -> bool:
                return await _state(world, job.id) == "delivered"

            with trio.fail_after(30):
                await eventually(delivered)
            assert world.kie.create_count == 1
            assert [m.kind for m in world.tg.bot_messages(USER) if f"again:{job.id}" in m.callback_data()] == ["photo"]
            await _books_balance(world)
