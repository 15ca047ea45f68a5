"""The trio-side pool: connections are reused only when clean; a confused one is never handed out."""

from __future__ import annotations

import pytest
import trio

from kiebot.store.db import Database, DatabaseUnavailable


async def test_clean_connections_are_reused_and_dirty_ones_discarded(database_url: str, aio_loop: None) -> None:
    with trio.fail_after(20):
        async with Database.open(database_url, max_size=3) as db:
            async with db.connection() as conn:
                first = conn.backend_pid()
            async with db.connection() as conn:
                assert conn.backend_pid() == first  # reused

            with pytest.raises(RuntimeError):
                async with db.connection() as conn:
                    raise RuntimeError("a handler bug while holding a connection")
            async with db.connection() as conn:
                assert conn.backend_pid() != first  # the one used by the failing block was dropped

            with trio.move_on_after(0.3) as scope:
                async with db.connection() as conn:
                    await conn.execute("SELECT pg_sleep(5)")
            assert scope.cancelled_caught
            async with db.connection() as conn:  # the cancelled one is gone, a fresh one answers
                assert await conn.fetchval("SELECT 1") == 1


async def test_the_pool_bounds_concurrent_connections(database_url: str, aio_loop: None) -> None:
    with trio.fail_after(20):
        async with Database.open(database_url, max_size=2) as db:
            in_use = 0
            peak = 0

            async def user() -> None:
                nonlocal in_use, peak
                async with db.connection() as conn:
                    in_use += 1
                    peak = max(peak, in_use)
                    await conn.execute("SELECT pg_sleep(0.05)")
                    in_use -= 1

            async with trio.open_nursery() as nursery:
                for _ in range(10):
                    nursery.start_soon(user)
            assert peak == 2
            assert await db.fetchval("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()") <= 2


async def test_a_killed_idle_connection_is_not_handed_out_twice(database_url: str, aio_loop: None) -> None:
    with trio.fail_after(20):
        async with Database.open(database_url, max_size=2) as db:
            async with db.connection() as conn:
                victim = conn.backend_pid()
            async with db.dedicated() as admin:
                await admin.execute("SELECT pg_terminate_backend($1)", victim)
            await trio.sleep(0.2)
            answers = []
            for _ in range(2):
                try:
                    answers.append(await db.fetchval("SELECT 1"))
                except DatabaseUnavailable:
                    answers.append(None)
            assert answers[-1] == 1
