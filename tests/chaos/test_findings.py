"""Regression tests for the bugs the chaos run found (tests/chaos/test_chaos.py), each reproduced
in isolation: the in-process app against the fakes, one fault at a time, real PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest
import trio

from kiebot.bot.guards import RateGuard
from kiebot.catalog.pricing import quote
from kiebot.generation import workers
from kiebot.generation.request import JobRequest
from kiebot.i18n import t
from kiebot.intake import dispatch as inbox_intake
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


async def _paid_job(world: World, progress_message_id: int | None, key: str = "job-1", *, failed: str | None = None) -> jobs.Job:
    """A queued paid job, its money held, with ``progress_message_id`` set in the same
    transaction (so the workers never see it without one); with ``failed``, ended in that same
    transaction as well (what a crash right after the job's end leaves behind)."""
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
        if failed is not None:
            assert await jobs.transition(conn, created.job.id, "failed", error_code="provider_failed", error_message=failed)
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


def _shift_generation_clock(world: World, seconds: float) -> None:
    real_now = world.app.gen.now
    world.app.gen.now = lambda: real_now() + timedelta(seconds=seconds)


async def _told_events(world: World, job_id: int) -> int:
    async with world.app.db.connection() as conn:
        return int(await conn.fetchval("SELECT count(*) FROM events WHERE kind = 'job.told' AND job_id = $1", job_id))


def _endings(world: World, mark: str) -> list[str]:
    return [m.content for m in world.tg.bot_messages(USER) if m.content.startswith(mark)]


@pytest.mark.slow
async def test_a_user_not_told_of_a_failure_while_telegram_fails_is_told_later(database_url: str) -> None:
    """Kie fails the task while every message to the user fails (5xx): the job ends, the money
    comes back — and once Telegram works again the reconciler tells the user, once. Before the fix
    the failure escaped after the job had ended and nobody ever told them."""
    with trio.fail_after(60):
        async with open_world(database_url) as world:
            progress = await _start(world)
            world.app.gen.tg.max_retries = 0
            for method in ("editMessageText", "sendMessage"):
                world.tg.inject(method, status=500, times=None, chat_id=USER)
            world.kie.script(MODEL, outcome="fail", message="Content flagged by the safety filter", fail_code="422")
            job = await _paid_job(world, progress)

            async def failed() -> bool:
                return await _state(world, job.id) == "failed"

            await eventually(failed)

            def refused_send() -> bool:  # the first attempt: the edit failed, then the message too
                return any(r.status == 500 and str(r.params.get("chat_id")) == str(USER) for r in world.tg.calls("sendMessage"))

            await world.tg.wait_for(refused_send, timeout=10)
            await trio.sleep(0.2)
            assert _endings(world, "❌") == []
            assert await _told_events(world, job.id) == 0

            world.tg.clear_faults()
            _shift_generation_clock(world, 60)  # past the grace the first attempt gets
            told = await world.tg.wait_for_message(USER, contains="❌", timeout=20)
            assert t("en", "generation.reason.content_rules") in told.content  # "safety filter", in words
            assert "9.36" in told.content  # the refund
            await trio.sleep(1.0)  # a few more reconcile rounds: told once, not again
            assert len(_endings(world, "❌")) == 1
            assert await _told_events(world, job.id) == 1
            await _books_balance(world)


@pytest.mark.slow
async def test_a_job_that_ended_just_before_a_crash_is_told_after_the_restart(database_url: str) -> None:
    """The process died between a job's end (committed, money released) and the message to the
    user — reproduced by ending the job in the database directly; the leader tells the user."""
    with trio.fail_after(60):
        async with open_world(database_url) as world:
            await _start(world)
            job = await _paid_job(world, None, failed="task failed at Kie")
            assert await _state(world, job.id) == "failed"
            _shift_generation_clock(world, 60)
            told = await world.tg.wait_for_message(USER, contains="❌", timeout=20)
            assert t("en", "generation.reason.provider_failed") in told.content  # not Kie's own words

            async def recorded() -> bool:
                return await _told_events(world, job.id) == 1

            await eventually(recorded)
            async with world.app.db.connection() as conn:
                account = await money.get_account(conn, USER)
            assert (account.balance, account.held) == (10_000, 0)
            await _books_balance(world)


async def _wait_state(world: World, job_id: int, state: str) -> None:
    async def reached() -> bool:
        return await _state(world, job_id) == state

    await eventually(reached)


def _results(world: World, job_id: int) -> list[str]:
    return [m.kind for m in world.tg.bot_messages(USER) if f"again:{job_id}" in m.callback_data()]


@pytest.mark.slow
async def test_a_result_upload_refused_with_a_5xx_is_retried_within_seconds(database_url: str) -> None:
    """Telegram answers the result's sendPhoto with a 500 (not delivered; the client does not
    repeat a send that may have gone through): the delivery is tried again after a short back-off
    — before the fix it waited out a 10-minute lease."""
    with trio.fail_after(60):
        async with open_world(database_url) as world:
            progress = await _start(world)
            world.tg.inject("sendPhoto", status=500, times=1, chat_id=USER)
            job = await _paid_job(world, progress)
            with trio.fail_after(20):
                await _wait_state(world, job.id, "delivered")
            assert [r.status for r in world.tg.calls("sendPhoto")] == [500, 200]
            assert _results(world, job.id) == ["photo"]
            await _books_balance(world)


@pytest.mark.slow
async def test_a_delivery_longer_than_the_lease_keeps_its_lease_and_sends_once(database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The worker renews the lease while it works: a slow upload (Telegram answers after 4 s)
    with a 1.5 s lease is not taken over by a second delivery — the lease is short so that a
    worker that died is replaced quickly, not so that a live one is."""
    monkeypatch.setattr(workers, "LEASE_S", 1.5)
    with trio.fail_after(60):
        async with open_world(database_url) as world:
            progress = await _start(world)
            world.tg.inject("sendPhoto", status=None, delay=4.0, times=1, chat_id=USER)
            job = await _paid_job(world, progress)
            with trio.fail_after(30):
                await _wait_state(world, job.id, "delivered")
            await trio.sleep(2.0)  # time for a second, overlapping delivery to show up
            assert len(world.tg.calls("sendPhoto")) == 1
            assert _results(world, job.id) == ["photo"]
            await _books_balance(world)



@pytest.mark.slow
async def test_a_handler_slower_than_the_claim_lease_keeps_its_claim_and_runs_once(database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The dispatcher renews an update's claim while its handler runs: /help whose answer takes
    Telegram 3 s, under a 1 s claim lease, is handled once — the lease is short so that a chat
    whose worker died is served again quickly, not so that a live handler is run twice."""
    monkeypatch.setattr(inbox_intake, "CLAIM_LEASE_S", 1.0)
    with trio.fail_after(60):
        async with open_world(database_url) as world:
            await _start(world)
            world.tg.inject("sendMessage", status=None, delay=3.0, times=1, chat_id=USER)
            update = world.tg.send_text(USER, "/help")
            await world.tg.wait_for_message(USER, contains="Help", timeout=20)
            await trio.sleep(2.0)  # time for a second, overlapping run to show up
            assert len([m for m in world.tg.bot_messages(USER) if "Help" in m.content]) == 1
            async with world.app.db.connection() as conn:
                row = await conn.fetchrow("SELECT status, attempts FROM updates WHERE raw::jsonb -> 'message' ->> 'message_id' = $1", str(update["message_id"]))
            assert row is not None
            assert (row["status"], row["attempts"]) == ("done", 1)


@pytest.mark.slow
async def test_a_confirm_tapped_twice_never_replaces_the_jobs_progress_message(database_url: str) -> None:
    """Confirm tapped twice while the bot was down: Telegram delivers both taps once it is back.
    The first makes the job and turns the summary into its progress message; the second is stale
    and gets the "outdated" toast — it used to replace the progress message (here already showing
    the delivered job) with the main menu."""
    with trio.fail_after(60):
        async with open_world(database_url) as world:
            await _start(world)
            tg = world.tg

            async def tap(message_id: int, data: str, then: str) -> int:
                """Tap, then wait for the screen offering a button whose data matches ``then``."""
                tg.tap(USER, message_id, data, force=True)
                shown = await tg.wait_for_message(USER, predicate=lambda m: any(then in d for d in m.callback_data()), timeout=20)
                return shown.message_id

            def data(message_id: int, part: str) -> str:
                return next(d for d in tg.message(USER, message_id).callback_data() if part in d)

            menu = tg.last_bot_message(USER)
            assert menu is not None
            listing = await tap(menu.message_id, "free", "mdl:")
            card = await tap(listing, data(listing, "mdl:"), "go:")
            params = await tap(card, data(card, "go:"), ":nx")
            tg.tap(USER, params, data(params, ":nx"))
            await tg.wait_for_message(USER, contains="✍️", timeout=20)  # the prompt step
            tg.send_text(USER, "a lighthouse on a cliff")
            summary = await tg.wait_for_message(USER, predicate=lambda m: any(":ok:" in d for d in m.callback_data()), timeout=20)
            confirm = next(d for d in summary.callback_data() if ":ok:" in d)
            tg.tap(USER, summary.message_id, confirm)
            await tg.wait_for_message(USER, predicate=lambda m: m.message_id == summary.message_id and m.content.startswith("✅"), timeout=30)

            world.app.bot.guard = RateGuard()  # the second tap came long after the first
            second = tg.tap(USER, summary.message_id, confirm, force=True)
            answer = await tg.wait_for_callback_answer(second, timeout=20)
            assert answer.text is not None
            assert "outdated" in answer.text

            async def handled() -> bool:
                async with world.app.db.connection() as conn:
                    return not await conn.fetchval("SELECT count(*) FROM updates WHERE status <> 'done'")

            await eventually(handled)
            assert tg.message(USER, summary.message_id).content.startswith("✅")
