"""The free tier: rolling hourly and daily limits, bonus uses, giving a use back, the status with
the next-available time — all at explicit instants, never the wall clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import trio

from kiebot.store import free_tier, jobs, users
from kiebot.store.db import Conn, Database

T0 = datetime(2026, 5, 10, 9, 0, tzinfo=UTC)
LIMITS = free_tier.FreeLimits(daily=5, hourly=2)
MIN = timedelta(minutes=1)


@pytest.fixture
async def db(store_db: Database) -> Database:
    """A fresh database with every migration applied by the real runner (tests/store/conftest.py)."""
    async with store_db.connection() as conn:
        await users.touch_user(conn, 1, first_name="Ann")
    return store_db


_keys = iter(range(10**6))


async def _use(conn: Conn, at: datetime, limits: free_tier.FreeLimits = LIMITS, user_id: int = 1) -> jobs.Job:
    """A free generation confirmed at ``at`` (the real path: job insert + claim in one transaction)."""
    created = await jobs.create_job(
        conn,
        user_id=user_id,
        chat_id=user_id,
        model_id="z-image",
        kind="text_to_image",
        params={},
        quote_kopecks=0,
        idempotency_key=f"free-{next(_keys)}",
        timeout_s=600,
        free=True,
        free_limits=limits,
        now=at,
    )
    return created.job


async def _bonus(conn: Conn, job_id: int) -> bool:
    return bool(await conn.fetchval("SELECT bonus FROM free_usage WHERE job_id = $1", job_id))


async def test_hourly_limit_with_next_available_time(db: Database) -> None:
    with trio.fail_after(10):
        async with db.connection() as conn:
            await _use(conn, T0)
            await _use(conn, T0 + 10 * MIN)
            with pytest.raises(free_tier.FreeLimitReached) as info:
                await _use(conn, T0 + 20 * MIN)
            assert info.value.window == "hourly"
            assert info.value.next_available_at == T0 + 60 * MIN
            assert int(await conn.fetchval("SELECT count(*) FROM jobs")) == 2  # the refused job is gone
            status = await free_tier.free_status(conn, 1, T0 + 20 * MIN, LIMITS)
            assert (status.available_now, status.next_at, status.left_this_hour, status.left_today) == (
                False,
                T0 + 60 * MIN,
                0,
                3,
            )
            # The window is rolling: the first use leaves it exactly one hour later.
            with pytest.raises(free_tier.FreeLimitReached):
                await _use(conn, T0 + 60 * MIN - timedelta(seconds=1))
            await _use(conn, T0 + 60 * MIN)


async def test_daily_limit_then_bonus_uses(db: Database) -> None:
    with trio.fail_after(10):
        async with db.connection() as conn:
            for i in range(5):
                await _use(conn, T0 + i * 2 * 60 * MIN)  # 09:00, 11:00, ... 17:00
            at = T0 + 10 * 60 * MIN
            with pytest.raises(free_tier.FreeLimitReached) as info:
                await _use(conn, at)
            assert info.value.window == "daily"
            assert info.value.next_available_at == T0 + timedelta(hours=24)
            status = await free_tier.free_status(conn, 1, at, LIMITS)
            assert (status.left_today, status.bonus_left, status.available_now, status.next_at) == (
                0,
                0,
                False,
                T0 + timedelta(hours=24),
            )

            # Two referral bonus uses extend the day, still under the hourly guard.
            await conn.execute("UPDATE users SET free_bonus_uses = 2 WHERE user_id = 1")
            first = await _use(conn, at)
            second = await _use(conn, at + MIN)
            assert await _bonus(conn, first.id)
            assert await _bonus(conn, second.id)
            assert (await users.get_user(conn, 1)).free_bonus_uses == 0  # type: ignore[union-attr]
            with pytest.raises(free_tier.FreeLimitReached) as info:
                await _use(conn, at + 2 * MIN)
            assert info.value.window == "hourly"

            # A failed bonus generation gives the bonus back, once.
            assert await jobs.transition(conn, second.id, "failed", error_code="kie_fail")
            assert not await free_tier.return_free_use(conn, second.id)
            assert (await users.get_user(conn, 1)).free_bonus_uses == 1  # type: ignore[union-attr]
            status = await free_tier.free_status(conn, 1, at + 2 * MIN, LIMITS)
            assert (status.available_now, status.bonus_left, status.left_this_hour) == (True, 1, 1)

            # The next day the regular uses come back one by one.
            assert (await _use(conn, T0 + timedelta(hours=24, minutes=1))).id > 0
            status = await free_tier.free_status(conn, 1, T0 + timedelta(hours=24, minutes=1), LIMITS)
            assert status.left_today == 0  # 11:00..17:00 of yesterday and the 09:01 use today


async def test_giving_a_use_back_frees_the_slot(db: Database) -> None:
    with trio.fail_after(10):
        async with db.connection() as conn:
            a = await _use(conn, T0)
            await _use(conn, T0 + MIN)
            with pytest.raises(free_tier.FreeLimitReached):
                await _use(conn, T0 + 2 * MIN)
            assert await jobs.transition(conn, a.id, "cancelled")
            assert await free_tier.free_status(conn, 1, T0 + 2 * MIN, LIMITS) == free_tier.FreeStatus(
                left_today=4,
                limit=5,
                left_this_hour=1,
                hourly_limit=2,
                bonus_left=0,
                available_now=True,
                next_at=None,
            )
            await _use(conn, T0 + 2 * MIN)


async def test_zero_limits_mean_no_free_tier(db: Database) -> None:
    with trio.fail_after(10):
        async with db.connection() as conn:
            with pytest.raises(free_tier.FreeLimitReached) as info:
                await _use(conn, T0, free_tier.FreeLimits(daily=5, hourly=0))
            assert info.value.next_available_at is None
            with pytest.raises(free_tier.FreeLimitReached) as info:
                await _use(conn, T0, free_tier.FreeLimits(daily=0, hourly=2))
            assert info.value.next_available_at is None
            status = await free_tier.free_status(conn, 1, T0, free_tier.FreeLimits(daily=0, hourly=2))
            assert (status.available_now, status.next_at) == (False, None)


async def test_concurrent_confirmations_cannot_exceed_the_limit(db: Database) -> None:
    outcomes: list[bool] = []

    async def confirm() -> None:
        async with db.connection() as c:
            try:
                await _use(c, T0)
            except free_tier.FreeLimitReached:
                outcomes.append(False)
            else:
                outcomes.append(True)

    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            for _ in range(6):
                nursery.start_soon(confirm)
        assert sorted(outcomes) == [False] * 4 + [True] * 2
        async with db.connection() as conn:
            assert int(await conn.fetchval("SELECT count(*) FROM free_usage")) == 2


async def test_claim_is_once_per_job_and_needs_a_known_user(db: Database) -> None:
    with trio.fail_after(10):
        async with db.connection() as conn:
            job = await _use(conn, T0)
            again = await free_tier.claim_free_use(conn, 1, "z-image", job.id, T0 + MIN, 5, 2)
            assert again == free_tier.FreeClaim(job_id=job.id, bonus=False)
            assert int(await conn.fetchval("SELECT count(*) FROM free_usage")) == 1
            with pytest.raises(users.UnknownUser):
                await free_tier.claim_free_use(conn, 404, "z-image", job.id, T0, 5, 2)
