"""Admin tables: audit rows written with their effect, model overrides, circuit breakers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import trio

from kiebot.store import admin, breakers, money, users
from kiebot.store.db import Database

T0 = datetime(2026, 7, 1, 8, 0, tzinfo=UTC)


@pytest.fixture
async def db(store_db: Database) -> Database:
    async with store_db.connection() as conn:
        await users.touch_user(conn, 1, first_name="u1")
    return store_db


async def test_audit_rows_for_admin_actions(db: Database) -> None:
    with trio.fail_after(10):
        async with db.connection() as conn:
            await admin.set_model_enabled(conn, "sora-2", False, admin_id=900)
            override = await admin.set_model_enabled(conn, "sora-2", True, admin_id=901)
            assert (override.enabled, override.updated_by) == (True, 901)
            assert (await admin.model_overrides(conn))["sora-2"].enabled

            posting = await admin.adjust_balance(conn, 900, 1, 5000, key="adj:1", reason="compensation")
            assert posting.balance == 5000
            assert (
                await admin.adjust_balance(conn, 900, 1, 5000, key="adj:1", reason="compensation")
            ).repeated
            with pytest.raises(money.InsufficientFunds):
                await admin.adjust_balance(conn, 900, 1, -6000, key="adj:2", reason="too much")

            assert await admin.set_user_banned(conn, 901, 1, True, reason="spam")
            assert not await admin.set_user_banned(conn, 901, 1, True)
            with pytest.raises(users.UnknownUser):
                await admin.set_user_banned(conn, 901, 404, True)
            await admin.record_admin_action(conn, 900, "broadcast_start", "broadcast:1", after={"total": 3})

            entries = await admin.recent_admin_actions(conn)
            assert [(e.admin_id, e.action, e.target) for e in entries] == [
                (900, "broadcast_start", "broadcast:1"),
                (901, "user_ban", "user:1"),
                (900, "balance_adjust", "user:1"),
                (901, "model_enable", "model:sora-2"),
                (900, "model_disable", "model:sora-2"),
            ]
            ban, adjust, enable, disable = entries[1:]
            assert (ban.before, ban.after) == ({"banned": False}, {"banned": True, "reason": "spam"})
            assert adjust.before == {"balance": 0}
            assert adjust.after == {"balance": 5000, "delta": 5000, "reason": "compensation", "key": "adj:1"}
            assert (enable.before, enable.after) == ({"enabled": False}, {"enabled": True})
            assert disable.before is None
            only_user = await admin.recent_admin_actions(conn, target="user:1")
            assert [e.action for e in only_user] == ["user_ban", "balance_adjust"]
            assert [e.action for e in await admin.recent_admin_actions(conn, admin_id=901)] == [
                "user_ban",
                "model_enable",
            ]


async def test_circuit_breaker_opens_pauses_and_lets_one_trial_through(db: Database) -> None:
    with trio.fail_after(10):
        async with db.connection() as conn:
            assert await breakers.allow_request(conn, "veo3", T0)
            for i in range(4):
                state = await breakers.record_failure(conn, "veo3", T0, threshold=5, open_for_s=300)
                assert (state.state, state.failures) == ("closed", i + 1)
            await breakers.record_success(conn, "veo3")  # a success resets the count
            for _ in range(5):
                state = await breakers.record_failure(conn, "veo3", T0, threshold=5, open_for_s=300)
            assert (state.state, state.opened_at, state.reopen_at) == (
                "open",
                T0,
                T0 + timedelta(seconds=300),
            )
            assert state.blocks(T0 + timedelta(seconds=299))
            assert not await breakers.allow_request(conn, "veo3", T0 + timedelta(seconds=299))
            assert [b.model_id for b in await breakers.open_breakers(conn)] == ["veo3"]

            # The pause is over: exactly one of several concurrent callers gets the trial.
            after = T0 + timedelta(seconds=300)
            grants: list[bool] = []

            async def ask() -> None:
                async with db.connection() as c:
                    grants.append(await breakers.allow_request(c, "veo3", after, trial_s=60))

            async with trio.open_nursery() as nursery:
                for _ in range(6):
                    nursery.start_soon(ask)
            assert sorted(grants) == [False] * 5 + [True]

            # The trial fails: open again, for a new pause.
            state = await breakers.record_failure(conn, "veo3", after, threshold=5, open_for_s=300)
            assert (state.state, state.opened_at, state.reopen_at) == (
                "open",
                T0,
                after + timedelta(seconds=300),
            )
            # The next trial succeeds: closed.
            assert await breakers.allow_request(conn, "veo3", after + timedelta(seconds=300))
            await breakers.record_success(conn, "veo3")
            closed = await breakers.get_breaker(conn, "veo3")
            assert closed is not None
            assert (closed.state, closed.failures, closed.reopen_at) == ("closed", 0, None)
            assert await breakers.open_breakers(conn) == []
