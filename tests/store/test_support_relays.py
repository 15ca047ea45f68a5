"""The /paysupport relay cap in PostgreSQL (issue 13 item 5): 3 relays per 10 minutes per user, a
banned user 1 per day; rolling windows; race-free across concurrent callers (two instances)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import trio

from kiebot.store import support, users
from kiebot.store.db import Database

USER = 7_400_001
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


async def test_concurrent_relays_of_one_user_stop_exactly_at_the_cap(store_db: Database) -> None:
    verdicts: list[support.RelayVerdict] = []

    async def relay() -> None:
        async with store_db.connection() as conn:  # one connection each, as two instances would
            verdicts.append(await support.take_relay(conn, USER, support.USER_LIMIT))

    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            for _ in range(10):
                nursery.start_soon(relay)
        async with store_db.connection() as conn:
            stored = await conn.fetchval("SELECT count(*) FROM support_relays WHERE user_id = $1", USER)
    assert sum(v.allowed for v in verdicts) == 3
    assert stored == 3
    refused = [v for v in verdicts if not v.allowed]
    assert all(v.used == 3 and v.next_at is not None for v in refused)


async def test_windows_roll_and_a_banned_user_gets_one_a_day(store_db: Database) -> None:
    with trio.fail_after(30):
        async with store_db.connection() as conn:
            await users.touch_user(conn, USER, first_name="Ann")
            for minute in (0, 1, 2):
                assert (await support.take_relay(conn, USER, support.USER_LIMIT, now=T0 + timedelta(minutes=minute))).allowed
            fourth = await support.take_relay(conn, USER, support.USER_LIMIT, now=T0 + timedelta(minutes=3))
            assert not fourth.allowed
            assert fourth.next_at == T0 + timedelta(minutes=10)  # when the first one leaves the window
            peek = await support.relay_allowed(conn, USER, support.USER_LIMIT, now=T0 + timedelta(minutes=3))
            assert not peek.allowed
            assert (await support.take_relay(conn, USER, support.USER_LIMIT, now=T0 + timedelta(minutes=10, seconds=1))).allowed

            banned = support.limit_for(banned=True)
            assert banned == support.BANNED_LIMIT
            later = T0 + timedelta(days=2)
            assert (await support.take_relay(conn, USER, banned, now=later)).allowed
            again = await support.take_relay(conn, USER, banned, now=later + timedelta(hours=23))
            assert not again.allowed
            assert again.next_at == later + timedelta(days=1)
            assert (await support.take_relay(conn, USER, banned, now=later + timedelta(days=1, seconds=1))).allowed
            # Rows older than the longest window were deleted on the way.
            kept = await conn.fetch("SELECT relayed_at FROM support_relays WHERE user_id = $1", USER)
            assert [r["relayed_at"] for r in kept] == [later + timedelta(days=1, seconds=1)]
