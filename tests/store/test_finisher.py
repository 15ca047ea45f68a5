"""Finished updates marked done together (kiebot/intake/finisher.py), on a real PostgreSQL: one
statement for the finishes that arrive together, each caller told whether its chat has more
waiting or that its claim was lost, and a finish written even when the writer task is gone."""

from __future__ import annotations

import json

import trio

from kiebot.intake.finisher import Finisher
from kiebot.store import inbox
from kiebot.store.db import Database
from kiebot.store.inbox import InboxItem


def _item(update_id: int, chat: int) -> InboxItem:
    raw = {"update_id": update_id, "message": {"message_id": 1, "date": 1, "chat": {"id": chat, "type": "private"}, "text": "x"}}
    return InboxItem(update_id, chat, "message", json.dumps(raw).encode(), "test")


async def test_finishes_arriving_together_share_a_statement(store_db: Database) -> None:
    with trio.fail_after(20):
        async with store_db.connection() as conn:
            # 20 chats; chat 100 has a second update waiting behind the first.
            await inbox.put_many(conn, [_item(i, 100 + i) for i in range(20)] + [_item(50, 100)])
            claimed = await inbox.claim(conn, "w", limit=50)
        assert len(claimed) == 20
        finisher = Finisher(store_db)
        results: dict[int, bool | None] = {}

        async def finish(update_id: int, token: str) -> None:
            results[update_id] = await finisher.done(update_id, token)

        async with trio.open_nursery() as nursery:
            await nursery.start(finisher.run)
            async with trio.open_nursery() as finishes:
                for c in claimed:
                    finishes.start_soon(finish, c.update_id, c.token)
                finishes.start_soon(finish, 999, "00000000-0000-0000-0000-000000000000")  # not a claim of ours
            nursery.cancel_scope.cancel()
        assert finisher.statements <= 3  # the first alone, the rest together
        assert results[0] is True  # chat 100: update 50 waits
        assert all(results[c.update_id] is False for c in claimed if c.update_id != 0)
        assert results[999] is None
        async with store_db.connection() as conn:
            stats = await inbox.stats(conn)
        assert (stats.pending, stats.claimed) == (1, 0)


async def test_a_finish_is_written_when_the_writer_task_is_not_running(store_db: Database) -> None:
    with trio.fail_after(20):
        async with store_db.connection() as conn:
            await inbox.put_many(conn, [_item(1, 7)])
            (claim,) = await inbox.claim(conn, "w", limit=5)
        finisher = Finisher(store_db)
        assert await finisher.done(claim.update_id, claim.token) is False
        async with store_db.connection() as conn:
            assert await conn.fetchval("SELECT status FROM updates WHERE update_id = 1") == "done"
