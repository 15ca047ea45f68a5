"""Referrals: once per referred user, never oneself, only new users, and the bonus reaches the
referrer's free tier."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
import trio

from kiebot.store import free_tier, referrals, users
from kiebot.store.db import Conn, Database


@pytest.fixture
async def db(store_db: Database) -> Database:
    return store_db


async def _new(conn: Conn, user_id: int) -> datetime:
    touched = await users.touch_user(conn, user_id, first_name=f"u{user_id}")
    assert touched.created
    return touched.user.created_at


async def test_referral_is_recorded_once_and_grants_the_bonus(db: Database) -> None:
    with trio.fail_after(10):
        async with db.connection() as conn:
            await _new(conn, 10)
            await _new(conn, 11)
            now = await _new(conn, 20)
            result = await referrals.record_referral(conn, 10, 20, 3, now=now)
            assert result == referrals.ReferralResult(outcome="recorded", bonus_uses=3)
            again = await referrals.record_referral(conn, 10, 20, 3, now=now)
            other = await referrals.record_referral(conn, 11, 20, 3, now=now)
            assert again.outcome == other.outcome == "already_referred"
            referred = await users.get_user(conn, 20)
            referrer = await users.get_user(conn, 10)
            assert referred is not None
            assert referrer is not None
            assert referred.referrer_id == 10
            assert referrer.free_bonus_uses == 3
            assert await referrals.referral_stats(conn, 10) == referrals.ReferralStats(
                invited=1, bonus_uses_earned=3, bonus_uses_left=3
            )
            assert await referrals.referral_stats(conn, 11) == referrals.ReferralStats(
                invited=0, bonus_uses_earned=0, bonus_uses_left=0
            )
            status = await free_tier.free_status(conn, 10, now, free_tier.FreeLimits(daily=5, hourly=2))
            assert status.bonus_left == 3


async def test_no_self_referral_no_old_users_no_strangers(db: Database) -> None:
    with trio.fail_after(10):
        async with db.connection() as conn:
            await _new(conn, 10)
            created = await _new(conn, 30)
            assert (await referrals.record_referral(conn, 30, 30, 3, now=created)).outcome == "self"
            late = created + timedelta(hours=2)
            assert (await referrals.record_referral(conn, 10, 30, 3, now=late)).outcome == "not_new"
            assert (
                await referrals.record_referral(conn, 999, 30, 3, now=created)
            ).outcome == "unknown_referrer"
            assert (await referrals.record_referral(conn, 10, 998, 3, now=created)).outcome == "unknown_user"
            assert int(await conn.fetchval("SELECT count(*) FROM referrals")) == 0
            assert int(await conn.fetchval("SELECT sum(free_bonus_uses) FROM users")) == 0


async def test_concurrent_referrals_of_one_user_record_one(db: Database) -> None:
    outcomes: list[str] = []
    with trio.fail_after(10):
        async with db.connection() as conn:
            for referrer in range(1, 6):
                await _new(conn, referrer)
            now = await _new(conn, 50)

        async def refer(referrer: int) -> None:
            async with db.connection() as c:
                outcomes.append((await referrals.record_referral(c, referrer, 50, 2, now=now)).outcome)

        async with trio.open_nursery() as nursery:
            for referrer in range(1, 6):
                nursery.start_soon(refer, referrer)
        assert sorted(outcomes) == ["already_referred"] * 4 + ["recorded"]
        async with db.connection() as conn:
            assert int(await conn.fetchval("SELECT sum(free_bonus_uses) FROM users")) == 2


async def test_crossing_referrals_do_not_deadlock(db: Database) -> None:
    outcomes: list[str] = []
    with trio.fail_after(10):
        async with db.connection() as conn:
            await _new(conn, 61)
            now = await _new(conn, 62)

        async def refer(referrer: int, referred: int) -> None:
            async with db.connection() as c:
                outcomes.append((await referrals.record_referral(c, referrer, referred, 1, now=now)).outcome)

        async with trio.open_nursery() as nursery:
            for _ in range(3):
                nursery.start_soon(refer, 61, 62)
                nursery.start_soon(refer, 62, 61)
        assert outcomes.count("recorded") == 2
        assert len(outcomes) == 6
