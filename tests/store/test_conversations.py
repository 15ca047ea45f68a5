"""Conversation state: set/get/expiry/clear and the optimistic version check against real races."""

from __future__ import annotations

import pytest
import trio

from kiebot.store import conversations as cs
from kiebot.store.db import Database


async def test_set_get_clear(store_db: Database) -> None:
    with trio.fail_after(10):
        async with store_db.connection() as conn:
            assert await cs.get_state(conn, 1) is None
            first = await cs.set_state(conn, 1, "await_prompt", {"model": "flux", "n": 2}, ttl_s=60, expected_version=None)
            assert (first.state, first.data, first.version) == ("await_prompt", {"model": "flux", "n": 2}, 1)
            got = await cs.get_state(conn, 1)
            assert got == first
            assert 59 <= (got.expires_at - got.updated_at).total_seconds() <= 61

            second = await cs.set_state(conn, 1, "confirm", {"model": "flux"}, ttl_s=60, expected_version=first.version)
            assert second.version == 2
            assert await cs.get_state(conn, 2) is None, "states are per user"

            assert await cs.clear_state(conn, 1) is True
            assert await cs.get_state(conn, 1) is None
            assert await cs.clear_state(conn, 1) is False
            # After a clear, a writer who saw "no state" may start again; versions keep growing.
            third = await cs.set_state(conn, 1, "menu", {}, ttl_s=60, expected_version=None)
            assert third.version == 4


async def test_expired_state_reads_as_none_and_can_be_replaced(store_db: Database) -> None:
    with trio.fail_after(10):
        async with store_db.connection() as conn:
            await cs.set_state(conn, 1, "await_prompt", {}, ttl_s=0.3, expected_version=None)
            assert await cs.get_state(conn, 1) is not None
            await trio.sleep(0.4)
            assert await cs.get_state(conn, 1) is None
            fresh = await cs.set_state(conn, 1, "menu", {"a": 1}, ttl_s=60, expected_version=None)
            assert fresh.version == 2
            assert await cs.clear_state(conn, 1) is True


async def test_stale_writer_gets_a_conflict_and_writes_nothing(store_db: Database) -> None:
    with trio.fail_after(10):
        async with store_db.connection() as conn:
            seen = await cs.set_state(conn, 7, "pick_model", {}, ttl_s=60, expected_version=None)
            # Another handler moves the state on.
            moved = await cs.set_state(conn, 7, "pick_params", {"model": "veo"}, ttl_s=60, expected_version=seen.version)
            with pytest.raises(cs.StateConflict):
                await cs.set_state(conn, 7, "await_prompt", {"model": "kling"}, ttl_s=60, expected_version=seen.version)
            with pytest.raises(cs.StateConflict):
                await cs.set_state(conn, 7, "await_prompt", {}, ttl_s=60, expected_version=None)
            with pytest.raises(cs.StateConflict):
                await cs.clear_state(conn, 7, expected_version=seen.version)
            assert await cs.get_state(conn, 7) == moved

            # No ABA: clear (v3) then a new state (v4); the holder of v2 still conflicts.
            await cs.clear_state(conn, 7, expected_version=moved.version)
            await cs.set_state(conn, 7, "menu", {}, ttl_s=60, expected_version=None)
            with pytest.raises(cs.StateConflict):
                await cs.set_state(conn, 7, "await_prompt", {}, ttl_s=60, expected_version=moved.version)

            forced = await cs.set_state(conn, 7, "start", {}, ttl_s=60, expected_version=cs.ANY_VERSION)
            assert forced.state == "start"
            assert forced.version == 5


async def test_concurrent_writers_from_one_version_exactly_one_wins(store_db: Database) -> None:
    with trio.fail_after(20):
        async with store_db.connection() as conn:
            base = await cs.set_state(conn, 3, "confirm", {}, ttl_s=60, expected_version=None)
        wins: list[str] = []
        conflicts: list[str] = []

        async def writer(name: str) -> None:
            async with store_db.transaction() as conn:
                try:
                    await cs.set_state(conn, 3, name, {"by": name}, ttl_s=60, expected_version=base.version)
                    await trio.sleep(0.05)  # hold the row while the others try
                    wins.append(name)
                except cs.StateConflict:
                    conflicts.append(name)

        async with trio.open_nursery() as nursery:
            for n in range(8):
                nursery.start_soon(writer, f"w{n}")
        assert len(wins) == 1
        assert len(conflicts) == 7
        async with store_db.connection() as conn:
            final = await cs.get_state(conn, 3)
        assert final is not None
        assert (final.state, final.version) == (wins[0], base.version + 1)

        # Two first writers racing from "no state": one wins, one conflicts.
        firsts: list[bool] = []

        async def first_writer(name: str) -> None:
            async with store_db.connection() as conn:
                try:
                    await cs.set_state(conn, 4, name, {}, ttl_s=60, expected_version=None)
                    firsts.append(True)
                except cs.StateConflict:
                    firsts.append(False)

        async with trio.open_nursery() as nursery:
            for n in range(4):
                nursery.start_soon(first_writer, f"f{n}")
        assert sorted(firsts) == [False, False, False, True]


async def test_cleanup_deletes_long_inactive_rows_only(store_db: Database) -> None:
    with trio.fail_after(10):
        async with store_db.connection() as conn:
            await cs.set_state(conn, 1, "a", {}, ttl_s=60, expected_version=None)
            await cs.set_state(conn, 2, "b", {}, ttl_s=60, expected_version=None)
            await conn.execute("UPDATE conversation_state SET expires_at = now() - interval '31 days' WHERE user_id = 2")
            assert await cs.cleanup(conn) == 1
            assert await cs.get_state(conn, 1) is not None
            assert await conn.fetchval("SELECT count(*) FROM conversation_state") == 1
