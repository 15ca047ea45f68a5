"""The test database fixture gives a real, empty PostgreSQL database reachable from trio."""

import trio
import triopg


async def test_fresh_database_is_reachable_from_trio(database_url: str, aio_loop: None) -> None:
    with trio.fail_after(10):
        async with triopg.connect(database_url) as conn:
            assert await conn.fetchval("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'") == 0
            assert await conn.fetchval("SELECT 40 + 2") == 42
