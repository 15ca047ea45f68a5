"""Group commit of webhook updates (kiebot.intake.writer) on a real PostgreSQL: concurrent puts share
statements, each caller learns whether its update was new, and one unstorable update fails alone.
(The database going away is proven end to end by tests/app/test_resilience.py: 503, nothing lost.)"""

from __future__ import annotations

import json

import pytest
import trio

from kiebot.intake.writer import InboxWriter
from kiebot.store import inbox
from kiebot.store.db import Database, PostgresError
from kiebot.store.inbox import InboxItem
from kiebot.testing.harness import eventually


def _item(update_id: int, chat: int = 1, body: bytes | None = None) -> InboxItem:
    raw = body if body is not None else json.dumps({"update_id": update_id, "message": {"chat": {"id": chat}}}).encode()
    return InboxItem(update_id, chat, "message", raw, "webhook")


async def test_concurrent_puts_share_statements_and_each_learns_if_it_was_new(store_db: Database) -> None:
    with trio.fail_after(20):
        writer = InboxWriter(store_db, max_batch=50)
        results: dict[int, list[bool]] = {}

        async def put(update_id: int) -> None:
            results.setdefault(update_id, []).append(await writer.put(_item(update_id, chat=update_id % 7)))

        async with trio.open_nursery() as nursery:
            await nursery.start(writer.run)
            async with trio.open_nursery() as senders:
                for update_id in range(1, 201):
                    senders.start_soon(put, update_id)
                for update_id in range(1, 21):  # Telegram re-sending while the first is in flight
                    senders.start_soon(put, update_id)
            assert writer.batches <= 200 // 10, writer.batches  # batched, not one statement each
            assert writer.batches >= 200 // 50
            assert await writer.put(_item(500)) is True  # a lone update on an idle writer
            assert await writer.put(_item(500)) is False
            nursery.cancel_scope.cancel()

        assert sorted(results) == list(range(1, 201))
        for update_id, seen in results.items():
            assert sorted(seen) == ([False, True] if update_id <= 20 else [True]), update_id
        async with store_db.connection() as conn:
            assert (await inbox.stats(conn)).pending == 201


async def test_an_unstorable_update_fails_alone(store_db: Database) -> None:
    with trio.fail_after(20):
        writer = InboxWriter(store_db)
        outcomes: dict[int, object] = {}

        async def put(item: InboxItem) -> None:
            try:
                outcomes[item.update_id] = await writer.put(item)
            except PostgresError as exc:
                outcomes[item.update_id] = exc

        async with trio.open_nursery() as nursery:
            await nursery.start(writer.run)
            async with trio.open_nursery() as senders:
                for update_id in range(1, 31):
                    body = b"{not json" if update_id == 13 else None
                    senders.start_soon(put, _item(update_id, body=body))
            nursery.cancel_scope.cancel()

        assert isinstance(outcomes.pop(13), PostgresError)
        assert outcomes == {u: True for u in range(1, 31) if u != 13}
        async with store_db.connection() as conn:
            assert (await inbox.stats(conn)).pending == 29


def test_batches_have_a_size() -> None:
    with pytest.raises(ValueError, match="max_batch"):
        InboxWriter(None, max_batch=0)  # type: ignore[arg-type]


async def test_the_writer_never_waits_for_a_pool_connection(database_url: str, aio_loop: None) -> None:
    """Every pooled connection taken (a flood of probes, a burst of handlers): updates are still
    stored at once, on the writer's own connection."""
    with trio.fail_after(20):
        async with Database.open(database_url, max_size=2) as db:
            from kiebot.store.migrations import apply_migrations

            await apply_migrations(db)
            writer = InboxWriter(db)
            async with trio.open_nursery() as nursery:
                await nursery.start(writer.run)
                async with db.connection(), db.connection():  # the whole pool, held
                    with trio.fail_after(5):
                        assert await writer.put(_item(1)) is True
                        assert await writer.put(_item(2)) is True
                nursery.cancel_scope.cancel()
            assert writer.connections == 1
            async with db.connection() as conn:
                assert (await inbox.stats(conn)).pending == 2


async def test_a_lost_connection_is_replaced_and_the_batch_stored(store_db: Database) -> None:
    with trio.fail_after(20):
        writer = InboxWriter(store_db)
        async with trio.open_nursery() as nursery:
            await nursery.start(writer.run)
            assert await writer.put(_item(1)) is True
            assert writer._conn is not None
            pid = writer._conn.backend_pid()
            async with store_db.connection() as conn:  # a server restart or a proxy's idle timeout
                assert await conn.fetchval("SELECT pg_terminate_backend($1)", pid) is True
            assert await writer.put(_item(2)) is True  # tried once more on a new connection
            assert writer.connections == 2
            assert writer._conn is not None
            second = writer._conn.backend_pid()
            nursery.cancel_scope.cancel()
        async with store_db.connection() as conn:
            assert (await inbox.stats(conn)).pending == 2

            async def closed() -> bool:  # the writer closes its connection when it stops
                return await conn.fetchval("SELECT count(*) FROM pg_stat_activity WHERE pid = $1", second) == 0

            await eventually(closed, interval=0.05)


async def test_an_idle_connection_is_replaced_before_use(store_db: Database) -> None:
    with trio.fail_after(20):
        writer = InboxWriter(store_db, max_idle_s=0.0)
        async with trio.open_nursery() as nursery:
            await nursery.start(writer.run)
            assert await writer.put(_item(1)) is True
            await trio.sleep(0.01)
            assert await writer.put(_item(2)) is True
            assert writer.connections == 2
            nursery.cancel_scope.cancel()
