"""Dashboard queries over real rows written by the real operations, timestamps pinned to fixed
instants so "today" and "7 days" are exact."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import trio

from kiebot.store import breakers, jobs, money, payments, stats, users
from kiebot.store.db import Conn, Database

NOW = datetime(2026, 8, 10, 12, 0, tzinfo=UTC)
TODAY = datetime(2026, 8, 10, 1, 0, tzinfo=UTC)
LAST_WEEK = datetime(2026, 8, 6, 9, 0, tzinfo=UTC)
LONG_AGO = datetime(2026, 7, 1, tzinfo=UTC)


@pytest.fixture
async def db(store_db: Database) -> Database:
    return store_db


async def _job(conn: Conn, key: str, kind: str, quote: int = 100) -> jobs.Job:
    created = await jobs.create_job(
        conn,
        user_id=1,
        chat_id=1,
        model_id="m",
        kind=kind,
        params={},
        quote_kopecks=quote,
        idempotency_key=key,
        timeout_s=600,
    )
    return created.job


async def _deliver(conn: Conn, job: jobs.Job, created: datetime, seconds: float) -> None:
    await jobs.transition(conn, job.id, "submitting")
    await jobs.transition(conn, job.id, "submitted", kie_task_id=f"t{job.id}")
    await jobs.transition(conn, job.id, "succeeded", result={"urls": ["u"]})
    await jobs.transition(conn, job.id, "delivered")
    await conn.execute(
        "UPDATE jobs SET created_at = $2, delivered_at = $3 WHERE id = $1",
        job.id,
        created,
        created + timedelta(seconds=seconds),
    )


async def test_dashboard(db: Database) -> None:
    with trio.fail_after(15):
        async with db.connection() as conn:
            await users.touch_user(conn, 1, first_name="a")
            await users.touch_user(conn, 2, first_name="b")
            for charge, stars, paid_at in (("c1", 100, TODAY), ("c2", 50, LAST_WEEK), ("c3", 70, LONG_AGO)):
                await payments.record_stars_payment(
                    conn, user_id=1, charge_id=charge, payload="p", stars=stars, kopecks=stars * 100
                )
                await conn.execute(
                    "UPDATE stars_payments SET paid_at = $2 WHERE telegram_payment_charge_id = $1",
                    charge,
                    paid_at,
                )
            await payments.mark_refunded(conn, "c2")
            await conn.execute(
                "UPDATE stars_payments SET refunded_at = $1 WHERE telegram_payment_charge_id = 'c2'", TODAY
            )
            approved = await payments.create_request(conn, 2, 1234, None)
            await payments.decide(conn, approved.id, 900, True)
            await conn.execute("UPDATE manual_topups SET decided_at = $1 WHERE id = $2", TODAY, approved.id)
            await payments.create_request(conn, 2, 99, None)  # still pending

            image_a = await _job(conn, "a", "text_to_image")
            image_b = await _job(conn, "b", "text_to_image")
            video = await _job(conn, "v", "text_to_video")
            await _deliver(conn, image_a, TODAY, 10)
            await _deliver(conn, image_b, TODAY, 30)
            await _deliver(conn, video, LAST_WEEK, 200)
            failed = await _job(conn, "f", "text_to_image")
            await jobs.transition(conn, failed.id, "failed", error_code="E")
            queued = await _job(conn, "q", "text_to_image")
            submitting = await _job(conn, "s", "text_to_image")
            await jobs.transition(conn, submitting.id, "submitting")
            for job in (failed, queued, submitting):
                await conn.execute("UPDATE jobs SET created_at = $2 WHERE id = $1", job.id, TODAY)
            for _ in range(3):
                await breakers.record_failure(conn, "veo3", NOW, threshold=3)

            board = await stats.dashboard(conn, NOW)

        assert board.revenue_today == stats.Revenue(
            payments=1,
            stars=100,
            kopecks=10_000,
            refunds=1,
            refunded_stars=50,
            refunded_kopecks=5_000,
            manual_topups=1,
            manual_kopecks=1234,
        )
        assert board.revenue_today.net_kopecks == 10_000 - 5_000 + 1234
        assert (board.revenue_7d.payments, board.revenue_7d.stars) == (2, 150)
        assert board.jobs_today.by_state == {"delivered": 2, "failed": 1, "queued": 1, "submitting": 1}
        assert board.jobs_today.median_seconds_by_kind == {"text_to_image": 20.0}
        assert board.jobs_7d.median_seconds_by_kind == {"text_to_image": 20.0, "text_to_video": 200.0}
        assert board.queue == {"queued": 1, "submitting": 1, "submitted": 0, "succeeded": 0}
        assert board.total_held == 200  # the two unfinished jobs' quotes
        assert board.pending_topups == 1
        assert board.open_breakers == 1
        assert board.users.total == 2
        async with db.connection() as conn:
            assert await money.check_invariants(conn) == []
