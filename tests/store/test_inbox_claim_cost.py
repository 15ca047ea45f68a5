"""The claim's work does not grow with the backlog (issue 18).

A claim used to work out every chat's head over the whole backlog, so draining a burst of N
updates cost O(N^2): in ``make bench`` 1,000 queued ``/start``s kept PostgreSQL busy for 20 s and
the bot answered 41 a second. The cost is read from PostgreSQL's own count of the buffers a claim
touched (``EXPLAIN (ANALYZE, BUFFERS)``): a count of work, not a timing, so it is the same on a
slow machine. Both plan kinds are checked — a fresh table has no statistics and asyncpg's prepared
statements may run a generic plan made when the table was small.
"""

from __future__ import annotations

import contextlib
import re
from datetime import UTC, datetime, timedelta

import pytest
import trio

from kiebot.store import inbox
from kiebot.store.db import Conn, Database
from kiebot.store.inbox import InboxItem

#: The free tier's window the claim reads the senders' menu figures in.
_WINDOW = (datetime.now(UTC) - timedelta(days=1), datetime.now(UTC))


def _item(update_id: int, chat: int) -> InboxItem:
    raw = {
        "update_id": update_id,
        "message": {"message_id": 1, "chat": {"id": chat, "type": "private"}, "text": "/start"},
    }
    return InboxItem(update_id, chat, "message", raw, "webhook")


async def _fill(conn: Conn, first: int, count: int, *, chats: int | None = None) -> None:
    for start in range(first, first + count, 500):
        ids = range(start, min(start + 500, first + count))
        await inbox.put_many(conn, [_item(u, 9_000_000 + (u % chats if chats else u)) for u in ids])


async def _claim_buffers(conn: Conn, plan_mode: str, limit: int = 16) -> tuple[int, int]:
    """(buffers touched, rows claimed) by one claim, rolled back."""
    plan: list[str] = []
    claimed = 0
    await conn.execute(f"SET plan_cache_mode = {plan_mode}")
    try:
        with contextlib.suppress(_Rollback):
            async with conn.transaction():
                rows = await conn.fetch(
                    "EXPLAIN (ANALYZE, BUFFERS, FORMAT TEXT) " + inbox._CLAIM_TOUCH_SQL, limit, "w", 5, 30.0, *_WINDOW
                )
                plan = [str(r["QUERY PLAN"]) for r in rows]
                claimed = int(await conn.fetchval("SELECT count(*) FROM updates WHERE status = 'claimed'"))
                raise _Rollback
    finally:
        await conn.execute("RESET plan_cache_mode")
    first = re.search(r"Buffers: shared hit=(\d+)(?: read=(\d+))?", "\n".join(plan))
    assert first is not None, plan
    return int(first.group(1)) + int(first.group(2) or 0), claimed


class _Rollback(Exception):
    """Leaves the transaction so that the measured claim changes nothing."""


async def _history(conn: Conn, count: int) -> None:
    """A bot that has been running: ``count`` finished updates, statistics taken while nothing
    waited — the planner then believes pending updates are rare, as they are until a burst."""
    await _fill(conn, 1_000_000, count)
    await conn.execute("UPDATE updates SET status = 'done', finished_at = now() WHERE status = 'pending'")
    await conn.execute("ANALYZE updates")


@pytest.mark.parametrize("history", [0, 20_000], ids=["fresh", "analyzed"])
@pytest.mark.parametrize("plan_mode", ["force_generic_plan", "force_custom_plan"])
async def test_a_claim_costs_the_same_with_a_hundred_or_five_thousand_waiting(
    store_db: Database, plan_mode: str, history: int
) -> None:
    with trio.fail_after(60):
        async with store_db.connection() as conn:
            if history:
                await _history(conn, history)
            await _fill(conn, 1, 100)
            small, claimed_small = await _claim_buffers(conn, plan_mode)
            await _fill(conn, 101, 4900)
            large, claimed_large = await _claim_buffers(conn, plan_mode)
    assert claimed_small == claimed_large == 16
    # The old claim touched ~4 buffers per waiting update (about 20,000 here).
    assert large < 2 * small + 200, (small, large)


async def test_a_claim_passes_over_chats_in_flight_without_reading_the_backlog(store_db: Database) -> None:
    """With every chat of the oldest updates busy, the claim still finds the next free chat's
    head — the walk skips, it does not stop."""
    with trio.fail_after(60):
        async with store_db.connection() as conn:
            await _fill(conn, 1, 40, chats=4)  # 4 chats, 10 updates each
            first = await inbox.claim(conn, "w1", limit=16)
            assert sorted(c.chat_key for c in first) == [9_000_000, 9_000_001, 9_000_002, 9_000_003]
            await _fill(conn, 1000, 1)  # a fifth chat, newest of all
            second = await inbox.claim(conn, "w1", limit=16)
            assert [c.update_id for c in second] == [1000]


async def _executed_buffers(conn: Conn, name: str, args: str) -> int:
    rows = await conn.fetch(f"EXPLAIN (ANALYZE, BUFFERS) EXECUTE {name}({args})")
    plan = "\n".join(str(r["QUERY PLAN"]) for r in rows)
    first = re.search(r"Buffers: shared hit=(\d+)(?: read=(\d+))?", plan)
    assert first is not None
    return int(first.group(1)) + int(first.group(2) or 0)


async def test_the_inbox_statements_keep_a_plan_made_on_an_empty_table(store_db: Database) -> None:
    """The worst case of the connections that plan once (``Database.fixed_plan_connection``): the
    generic plan is made while the table is empty, and kept while the table grows (no ANALYZE
    has run yet). A claim and a finish must still cost about what they cost on the empty table."""
    with trio.fail_after(60):
        async with store_db.fixed_plan_connection() as conn:
            assert await conn.fetchval("SHOW plan_cache_mode") == "force_generic_plan"
            await conn.execute(f"PREPARE kb_claim (int, text, int, float8, timestamptz, timestamptz) AS {inbox._CLAIM_TOUCH_SQL}")
            await conn.execute(f"PREPARE kb_done (bigint[], uuid[]) AS {inbox._DONE_MANY_SQL}")
            async with conn.transaction():
                await _fill(conn, 1, 20)
                small_claim = await _executed_buffers(conn, "kb_claim", "16, 'w', 5, 30.0, now() - interval '1 day', now()")
                claimed = await conn.fetch("SELECT update_id, claim_token::text AS t FROM updates WHERE status = 'claimed'")
                ids = ",".join(str(r["update_id"]) for r in claimed)
                tokens = ",".join(str(r["t"]) for r in claimed)
                small_done = await _executed_buffers(conn, "kb_done", f"'{{{ids}}}', '{{{tokens}}}'")
            await _history(conn, 20_000)  # a long-running bot's finished updates
            await _fill(conn, 1, 5000)  # and a burst (no ANALYZE since the history)
            async with conn.transaction():
                large_claim = await _executed_buffers(conn, "kb_claim", "16, 'w', 5, 30.0, now() - interval '1 day', now()")
                claimed = await conn.fetch("SELECT update_id, claim_token::text AS t FROM updates WHERE status = 'claimed'")
                ids = ",".join(str(r["update_id"]) for r in claimed)
                tokens = ",".join(str(r["t"]) for r in claimed)
                large_done = await _executed_buffers(conn, "kb_done", f"'{{{ids}}}', '{{{tokens}}}'")
    assert large_claim < 3 * small_claim + 300, (small_claim, large_claim)
    assert large_done < 3 * small_done + 300, (small_done, large_done)


async def test_a_claim_in_a_callers_transaction_leaves_its_durability_alone(store_db: Database) -> None:
    """Outside a transaction a claim commits without waiting for the WAL flush (a lost claim only
    means the update is handled again); inside a caller's transaction it must not switch the
    caller's commit to that."""
    with trio.fail_after(20):
        async with store_db.connection() as conn:
            await _fill(conn, 1, 3)
            async with conn.transaction():
                assert len(await inbox.claim(conn, "w", limit=1, touch_senders=True)) == 1
                assert await conn.fetchval("SELECT current_setting('synchronous_commit')") == "on"
            assert len(await inbox.claim(conn, "w", limit=1, touch_senders=True)) == 1
            assert await conn.fetchval("SELECT current_setting('synchronous_commit')") == "on"  # local to its statement
