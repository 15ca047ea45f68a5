"""Billed credits in the store (issue 15): the figure on the job, variant pauses checked in the
confirm's own transaction (nothing held, and no hold after a pause committed, even racing), the
audited resume, the once-a-day drift claim, and the margin per model."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import trio

from kiebot.store import admin, billing, free_tier, jobs, money, users, variant_pauses
from kiebot.store.db import Conn, Database

SKU = "resolution=1K"
MODEL = "z-image"


@pytest.fixture
async def db(store_db: Database) -> Database:
    async with store_db.connection() as conn:
        for user_id in (1, 2):
            await users.touch_user(conn, user_id, first_name=f"u{user_id}")
            await money.credit(conn, user_id, 10_000, kind="welcome", key=f"welcome:{user_id}")
    return store_db


async def _create(conn: Conn, key: str, *, user_id: int = 1, quote: int = 300, sku_key: str = SKU, **kw: Any) -> jobs.CreatedJob:
    return await jobs.create_job(
        conn,
        user_id=user_id,
        chat_id=user_id,
        model_id=MODEL,
        kind="text_to_image",
        params={"prompt": "a cat"},
        quote_kopecks=quote,
        idempotency_key=key,
        timeout_s=600,
        credits=kw.pop("credits", 10.0),
        fx_rate=kw.pop("fx_rate", 78.0),
        markup=2.0,
        sku_key=sku_key,
        **kw,
    )


async def _deliver(conn: Conn, job_id: int) -> None:
    await jobs.transition(conn, job_id, "submitting")
    await jobs.transition(conn, job_id, "submitted", kie_task_id=f"t-{job_id}")
    await jobs.transition(conn, job_id, "succeeded", result={"urls": ["https://x/a.png"]})
    await jobs.transition(conn, job_id, "delivered")


async def _pause(conn: Conn, sku: str = SKU) -> bool:
    return await variant_pauses.pause(conn, MODEL, sku, job_id=None, quoted_credits=10, billed_credits=100)


async def test_the_sku_key_is_frozen_on_the_job_and_billed_credits_start_unknown(db: Database) -> None:
    with trio.fail_after(10):
        async with db.connection() as conn:
            job = (await _create(conn, "k1")).job
        assert (job.sku_key, job.billed_credits, job.billed_at) == (SKU, None, None)


async def test_record_billed_stores_the_figure_and_a_repeat_changes_nothing(db: Database) -> None:
    with trio.fail_after(10):
        async with db.connection() as conn:
            job = (await _create(conn, "k1")).job
            first = await billing.record_billed(conn, job.id, 3.5)
            again = await billing.record_billed(conn, job.id, 3.5)
            later = await billing.record_billed(conn, job.id, 4.0)
            assert await billing.record_billed(conn, 999_999, 1.0) is None
        assert first is not None
        assert again is not None
        assert later is not None
        assert (first.previous, first.job.billed_credits, first.changed) == (None, 3.5, True)
        assert first.job.billed_at is not None
        assert (again.changed, again.job.billed_at) == (False, first.job.billed_at)
        # "When a run reports a different figure, the billed figure wins": the latest one.
        assert (later.previous, later.job.billed_credits, later.changed) == (3.5, 4.0, True)


async def test_a_paused_variant_refuses_the_confirm_and_holds_nothing(db: Database) -> None:
    with trio.fail_after(10):
        async with db.connection() as conn:
            assert await _pause(conn)
            assert not await _pause(conn)  # already paused
            with pytest.raises(variant_pauses.VariantPaused) as refused:
                await _create(conn, "k1")
            assert refused.value.pause.sku_key == SKU
            account = await money.get_account(conn, 1)
            assert (account.balance, account.held) == (10_000, 0)
            assert await conn.fetchval("SELECT count(*) FROM jobs") == 0
            # Another variant of the same model is still on sale.
            other = await _create(conn, "k2", sku_key="resolution=2K")
            assert other.created


async def test_a_double_tap_after_the_pause_finds_the_job_confirmed_before_it(db: Database) -> None:
    with trio.fail_after(10):
        async with db.connection() as conn:
            first = await _create(conn, "k1")
            await _pause(conn)
            again = await _create(conn, "k1")
        assert not again.created
        assert again.job.id == first.job.id


async def test_a_pause_waits_for_a_confirm_in_flight_and_a_later_confirm_sees_it(db: Database) -> None:
    """A confirm has passed its check (its shared lock is held until it commits): the pause waits
    for it, and the job keeps its hold at its quoted price. Once the pause has committed, the
    next confirm is refused with nothing held."""
    with trio.fail_after(20):
        paused = trio.Event()
        async with db.connection() as confirming, db.connection() as pausing, trio.open_nursery() as nursery:

            async def pause_now() -> None:
                await _pause(pausing)
                paused.set()

            async with confirming.transaction():
                in_flight = await _create(confirming, "in-flight")
                nursery.start_soon(pause_now)
                with trio.move_on_after(0.5):
                    await paused.wait()
                assert not paused.is_set(), "the pause did not wait for the confirm in flight"
            await paused.wait()
        async with db.connection() as conn:
            kept = await jobs.get_job(conn, in_flight.job.id)
            assert kept is not None
            assert kept.quote_kopecks == 300
            assert (await money.get_account(conn, 1)).held == 300
            with pytest.raises(variant_pauses.VariantPaused):
                await _create(conn, "late", user_id=2)
            assert (await money.get_account(conn, 2)).held == 0


async def test_resume_puts_the_variant_back_on_sale_and_is_audited(db: Database) -> None:
    with trio.fail_after(10):
        async with db.connection() as conn:
            await _pause(conn)
            assert [p.sku_key for p in await variant_pauses.paused_variants(conn, MODEL)] == [SKU]
            gone = await variant_pauses.resume(conn, MODEL, SKU, admin_id=77)
            assert gone is not None
            assert gone.billed_credits == 100
            assert await variant_pauses.resume(conn, MODEL, SKU, admin_id=77) is None
            assert await variant_pauses.paused_variants(conn) == []
            audit = await admin.recent_admin_actions(conn, target=f"model:{MODEL}:{SKU}")
            assert [(a.admin_id, a.action) for a in audit] == [(77, "variant_resume")]
            assert audit[0].before["billed_credits"] == 100
            assert (await _create(conn, "k1")).created


async def test_the_drift_alert_is_claimed_once_per_variant_per_day(db: Database) -> None:
    with trio.fail_after(10):
        day = date(2026, 12, 7)
        async with db.connection() as conn:
            claim = lambda sku, d: variant_pauses.claim_drift_alert(  # noqa: E731
                conn, MODEL, sku, d, job_id=None, quoted_credits=10, billed_credits=11
            )
            assert await claim(SKU, day)
            assert not await claim(SKU, day)
            assert await claim("resolution=2K", day)
            assert await claim(SKU, day + timedelta(days=1))


async def test_margin_per_model_is_revenue_minus_billed_cost_at_each_jobs_rate(db: Database) -> None:
    with trio.fail_after(20):
        async with db.connection() as conn:
            # Paid, delivered, billed 10 credits at 78 ₽/$: cost 10 × 0.005 × 78 = 3.90 ₽.
            a = (await _create(conn, "a", quote=780)).job
            await _deliver(conn, a.id)
            await billing.record_billed(conn, a.id, 10)
            # Paid, delivered, billed 25.5 credits at 80 ₽/$: 10.20 ₽.
            b = (await _create(conn, "b", quote=780, fx_rate=80.0)).job
            await _deliver(conn, b.id)
            await billing.record_billed(conn, b.id, 25.5)
            # Delivered, Kie never said what it billed: revenue counts, cost unknown.
            c = (await _create(conn, "c", quote=500)).job
            await _deliver(conn, c.id)
            # Failed but billed anyway: a cost without revenue.
            d = (await _create(conn, "d", quote=780)).job
            await jobs.transition(conn, d.id, "failed", error_code="provider_failed")
            await billing.record_billed(conn, d.id, 2)
            # Failed and not billed: not in the report.
            e = (await _create(conn, "e", quote=780)).job
            await jobs.transition(conn, e.id, "failed", error_code="provider_failed")
            # Another model, free: no revenue, real cost.
            f = (
                await jobs.create_job(
                    conn,
                    user_id=2,
                    chat_id=2,
                    model_id="google/nano-banana",
                    kind="text_to_image",
                    params={},
                    quote_kopecks=0,
                    idempotency_key="f",
                    timeout_s=600,
                    credits=4,
                    fx_rate=78.0,
                    markup=2.0,
                    free=True,
                    free_limits=_free_limits(),
                )
            ).job
            await _deliver(conn, f.id)
            await billing.record_billed(conn, f.id, 4)
            now = datetime.now(UTC) + timedelta(seconds=1)
            report = await billing.margin(conn, now, days=7)
            assert (await billing.margin(conn, now + timedelta(days=8), days=7)).models == []
        by_model = {m.model_id: m for m in report.models}
        z = by_model[MODEL]
        assert (z.jobs, z.delivered, z.unbilled) == (4, 3, 1)
        assert z.revenue_kopecks == 780 + 780 + 500
        assert z.billed_credits == pytest.approx(37.5)
        assert z.cost_kopecks == 390 + 1020 + 78  # d: 2 × 0.005 × 78 = 0.78 ₽
        assert z.margin_kopecks == 2060 - 1488
        nb = by_model["google/nano-banana"]
        assert (nb.revenue_kopecks, nb.cost_kopecks, nb.margin_kopecks) == (0, 156, -156)
        assert [m.model_id for m in report.models] == ["google/nano-banana", MODEL]  # worst first
        assert report.margin_kopecks == 2060 - 1488 - 156
        with pytest.raises(ValueError):
            await billing.margin(conn, now, days=0)


def _free_limits() -> free_tier.FreeLimits:
    return free_tier.FreeLimits(daily=5, hourly=5)
