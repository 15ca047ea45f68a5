"""The typed database wrapper: queries, transactions, jsonb, dedicated connections, unavailability."""

import pytest
import trio

from kiebot.store.db import Database, DatabaseUnavailable


async def test_pool_queries_transactions_and_jsonb(database_url: str, aio_loop: None) -> None:
    with trio.fail_after(10):
        async with Database.open(database_url, max_size=4) as db:
            await db.execute("CREATE TABLE t (id int PRIMARY KEY, doc jsonb)")
            async with db.transaction() as tx:
                await tx.execute("INSERT INTO t VALUES ($1, $2)", 1, {"a": [1, 2]})
            assert await db.fetchval("SELECT doc FROM t WHERE id = 1") == {"a": [1, 2]}

            with pytest.raises(ZeroDivisionError):
                async with db.transaction() as tx:
                    await tx.execute("INSERT INTO t VALUES (2, NULL)")
                    raise ZeroDivisionError
            assert await db.fetchval("SELECT count(*) FROM t") == 1
            row = await db.fetchrow("SELECT id, doc FROM t")
            assert row is not None
            assert row["id"] == 1


async def test_dedicated_connection_keeps_advisory_lock(database_url: str, aio_loop: None) -> None:
    with trio.fail_after(10):
        async with Database.open(database_url) as db, db.dedicated() as conn:
            assert await conn.fetchval("SELECT pg_try_advisory_lock(42)") is True
            assert await db.fetchval("SELECT pg_try_advisory_lock(42)") is False


async def test_unreachable_database_raises_unavailable(aio_loop: None) -> None:
    with trio.fail_after(10), pytest.raises(DatabaseUnavailable):
        async with Database.open("postgresql://nobody@127.0.0.1:1/none"):
            pass


async def test_a_bad_query_argument_is_a_bug_not_an_outage(database_url: str, aio_loop: None) -> None:
    import asyncpg

    with trio.fail_after(10):
        async with Database.open(database_url) as db:
            await db.execute("CREATE TABLE t (id int PRIMARY KEY)")
            with pytest.raises(asyncpg.exceptions.DataError):
                await db.execute("INSERT INTO t VALUES ($1)", "not a number")
