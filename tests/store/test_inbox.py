"""The updates inbox on a real PostgreSQL: idempotent intake, per-chat order under many workers,
lease expiry, parking of poisoned updates, NOTIFY wake-ups and the retention clean-up."""

from __future__ import annotations

import json
import random
from collections import defaultdict

import pytest
import trio

from kiebot.store import inbox
from kiebot.store.db import Database, DatabaseUnavailable
from kiebot.store.inbox import InboxItem


def _raw(update_id: int, chat: int) -> dict[str, object]:
    return {"update_id": update_id, "message": {"message_id": update_id, "chat": {"id": chat, "type": "private"}, "text": "hi"}}


async def test_put_is_idempotent_and_keeps_the_json(store_db: Database) -> None:
    with trio.fail_after(10):
        async with store_db.connection() as conn:
            body = json.dumps(_raw(10, 7)).encode()
            assert await inbox.put(conn, 10, 7, "message", body, "webhook") is True
            assert await inbox.put(conn, 10, 7, "message", body, "webhook") is False
            assert await inbox.put(conn, 11, 7, "message", _raw(11, 7), "polling") is True
            batch = [InboxItem(u, 8, "message", _raw(u, 8), "polling") for u in (11, 12, 13)]
            assert await inbox.put_many(conn, batch) == 2
            assert await inbox.put_many(conn, []) == 0

            claimed = await inbox.claim(conn, "w1", limit=10)
            assert [(c.update_id, c.chat_key) for c in claimed] == [(10, 7), (12, 8)]
            assert json.loads(claimed[0].raw) == _raw(10, 7)
            assert claimed[0].source == "webhook"
            assert claimed[0].attempts == 1
            assert all(c.lease_expires_at > c.received_at for c in claimed)


async def test_invalid_json_is_refused(store_db: Database) -> None:
    with trio.fail_after(10):
        async with store_db.connection() as conn:
            with pytest.raises(Exception, match="json"):
                await inbox.put(conn, 1, 1, "message", b"{not json", "webhook")
            assert (await inbox.stats(conn)).pending == 0


@pytest.mark.slow
async def test_many_workers_process_each_update_once_in_chat_order(store_db: Database) -> None:
    """8 workers, 3,000 updates of 300 chats stored in shuffled order: each handled exactly once,
    each chat's updates in update_id order, never two of one chat in flight together."""
    rng = random.Random(20240601)
    chats = 300
    updates = [(1000 + i, 5_000_000 + rng.randrange(chats)) for i in range(3000)]
    shuffled = updates[:]
    rng.shuffle(shuffled)
    with trio.fail_after(90):
        async with store_db.connection() as conn:
            for start in range(0, len(shuffled), 250):
                chunk = shuffled[start : start + 250]
                await inbox.put_many(conn, [InboxItem(u, c, "message", _raw(u, c), "test") for u, c in chunk])

        processed: dict[int, list[int]] = defaultdict(list)
        handled: list[int] = []
        in_flight: set[int] = set()
        claims_per_worker: dict[str, int] = defaultdict(int)
        finished = trio.Event()

        async def worker(name: str, seed: int) -> None:
            wrng = random.Random(seed)
            while not finished.is_set():
                async with store_db.connection() as conn:
                    batch = await inbox.claim(conn, name, limit=8)
                if not batch:
                    if len(handled) == len(updates):
                        finished.set()
                    await trio.sleep(0.005)
                    continue
                claims_per_worker[name] += 1
                assert len({c.chat_key for c in batch}) == len(batch), "one batch holds distinct chats"
                for item in batch:
                    assert item.chat_key not in in_flight, f"chat {item.chat_key} already in flight"
                    in_flight.add(item.chat_key)
                for item in batch:
                    if wrng.random() < 0.2:
                        await trio.lowlevel.checkpoint()  # let other workers interleave mid-batch
                    processed[item.chat_key].append(item.update_id)
                    handled.append(item.update_id)
                    in_flight.discard(item.chat_key)
                    async with store_db.connection() as conn:
                        assert await inbox.done(conn, item.update_id, item.token)

        async with trio.open_nursery() as nursery:
            for n in range(8):
                nursery.start_soon(worker, f"w{n}", n)

    assert sorted(handled) == sorted(u for u, _ in updates), "each update exactly once"
    expected: dict[int, list[int]] = defaultdict(list)
    for update_id, chat in updates:
        expected[chat].append(update_id)
    for chat, ids in expected.items():
        assert processed[chat] == sorted(ids), f"chat {chat} out of order"
    assert sum(1 for n in claims_per_worker.values() if n > 0) >= 4, "work was shared between workers"
    async with store_db.connection() as conn:
        stats = await inbox.stats(conn)
    assert (stats.pending, stats.claimed, stats.parked) == (0, 0, 0)


async def test_expired_lease_hands_the_claim_to_another_worker(store_db: Database) -> None:
    with trio.fail_after(15):
        async with store_db.connection() as conn:
            await inbox.put(conn, 1, 42, "message", _raw(1, 42), "test")
            await inbox.put(conn, 2, 42, "message", _raw(2, 42), "test")
            (first,) = await inbox.claim(conn, "dead-worker", limit=5, lease_s=0.5)
            assert first.update_id == 1
            # While the lease runs, the chat is blocked: neither update is handed out.
            assert await inbox.claim(conn, "other", limit=5) == []
            await trio.sleep(0.7)
            (retaken,) = await inbox.claim(conn, "other", limit=5)
            assert retaken.update_id == 1
            assert retaken.attempts == 2
            assert retaken.token != first.token
            # The dead worker wakes up late: its token no longer finishes anything.
            assert await inbox.done(conn, 1, first.token) is False
            assert await inbox.fail(conn, 1, first.token, "late") == "lost"
            assert await inbox.claim(conn, "third", limit=5) == []
            assert await inbox.extend_lease(conn, 1, retaken.token, 30) is True
            assert await inbox.done(conn, 1, retaken.token) is True
            (second,) = await inbox.claim(conn, "third", limit=5)
            assert second.update_id == 2


async def test_poisoned_update_is_parked_and_does_not_block_its_chat(store_db: Database) -> None:
    with trio.fail_after(15):
        async with store_db.connection() as conn:
            for update_id in (1, 2, 3):
                await inbox.put(conn, update_id, 9, "message", _raw(update_id, 9), "test")
            outcomes = []
            for _ in range(3):
                (item,) = await inbox.claim(conn, "w", limit=5, max_attempts=3)
                assert item.update_id == 1, "a retried update keeps its chat's turn"
                outcomes.append(await inbox.fail(conn, item.update_id, item.token, "boom: KeyError", max_attempts=3))
            assert outcomes == ["retry", "retry", "parked"]

            (nxt,) = await inbox.claim(conn, "w", limit=5, max_attempts=3)
            assert nxt.update_id == 2
            parked = await inbox.list_parked(conn)
            assert [(p.update_id, p.attempts, p.last_error) for p in parked] == [(1, 3, "boom: KeyError")]
            stats = await inbox.stats(conn)
            assert (stats.pending, stats.claimed, stats.parked) == (1, 1, 1)

            # A worker that dies on every attempt (lease expiry, no fail call) is parked too.
            await inbox.done(conn, nxt.update_id, nxt.token)
            for attempt in (1, 2):
                (crashing,) = await inbox.claim(conn, "w", limit=5, lease_s=0.2, max_attempts=2)
                assert (crashing.update_id, crashing.attempts) == (3, attempt)
                await trio.sleep(0.3)
            assert await inbox.claim(conn, "w", limit=5, max_attempts=2) == []
            assert {p.update_id for p in await inbox.list_parked(conn)} == {1, 3}
            assert "lease expired" in ((await inbox.list_parked(conn))[0].last_error or "")

            # An operator can give a parked update another chance.
            assert await inbox.requeue(conn, 1) is True
            assert await inbox.requeue(conn, 1) is False
            (again,) = await inbox.claim(conn, "w", limit=5)
            assert (again.update_id, again.attempts) == (1, 1)


async def test_retry_delay_keeps_the_chat_waiting(store_db: Database) -> None:
    with trio.fail_after(15):
        async with store_db.connection() as conn:
            await inbox.put(conn, 1, 5, "message", _raw(1, 5), "test")
            await inbox.put(conn, 2, 5, "message", _raw(2, 5), "test")
            await inbox.put(conn, 3, 6, "message", _raw(3, 6), "test")
            first = await inbox.claim(conn, "w", limit=1)
            assert [c.update_id for c in first] == [1]
            assert await inbox.fail(conn, 1, first[0].token, "flood wait", retry_delay_s=0.5) == "retry"
            # Chat 5 waits for its update 1; chat 6 is unaffected.
            assert [c.update_id for c in await inbox.claim(conn, "w", limit=5)] == [3]
            await trio.sleep(0.6)
            assert [c.update_id for c in await inbox.claim(conn, "w", limit=5)] == [1]


async def test_late_older_update_waits_for_the_claimed_newer_one(store_db: Database) -> None:
    """An older update stored after a newer one of the same chat was claimed must not run beside it."""
    with trio.fail_after(10):
        async with store_db.connection() as conn:
            await inbox.put(conn, 20, 3, "message", _raw(20, 3), "test")
            (newer,) = await inbox.claim(conn, "w", limit=5)
            await inbox.put(conn, 19, 3, "message", _raw(19, 3), "test")
            await inbox.put(conn, 30, 4, "message", _raw(30, 4), "test")
            # Chat 3 is busy with 20, so 19 waits; chat 4 is served in the same claim.
            assert [c.update_id for c in await inbox.claim(conn, "w", limit=5)] == [30]
            assert await inbox.claim(conn, "w", limit=5) == []
            assert await inbox.done(conn, newer.update_id, newer.token)
            assert [c.update_id for c in await inbox.claim(conn, "w", limit=5)] == [19]
            # The database itself refuses two claimed updates of one chat.
            await inbox.put(conn, 21, 3, "message", _raw(21, 3), "test")
            with pytest.raises(Exception, match="updates_one_claim_per_chat"):
                await conn.execute(
                    "UPDATE updates SET status = 'claimed', claim_token = gen_random_uuid(), "
                    "lease_expires_at = now() + interval '1 minute' WHERE update_id = 21"
                )


async def test_notify_wakes_an_idle_listener(store_db: Database) -> None:
    with trio.fail_after(15):
        async with inbox.open_wakeups(store_db) as wakeups:
            assert await wakeups.wait(0.2) is False  # nothing stored: times out
            woken: list[tuple[bool, float]] = []

            async def idle_dispatcher() -> None:
                start = trio.current_time()
                woken.append((await wakeups.wait(10), trio.current_time() - start))

            async with trio.open_nursery() as nursery:
                nursery.start_soon(idle_dispatcher)
                nursery.start_soon(idle_dispatcher)
                await trio.sleep(0.1)
                async with store_db.transaction() as conn:
                    await inbox.put(conn, 1, 1, "message", _raw(1, 1), "webhook")
                    await trio.sleep(0.2)  # NOTIFY is delivered on commit, not before
                    assert woken == []
            assert [w for w, _ in woken] == [True, True]
            assert all(elapsed < 2 for _, elapsed in woken), woken
            # A redelivery inserts nothing and wakes nobody.
            async with store_db.connection() as conn:
                await inbox.put(conn, 1, 1, "message", _raw(1, 1), "webhook")
            assert await wakeups.wait(0.3) is False


async def test_lost_listener_connection_raises_unavailable(store_db: Database) -> None:
    with trio.fail_after(15):
        async with inbox.open_wakeups(store_db) as wakeups:
            pid = await store_db.fetchval(
                "SELECT pid FROM pg_stat_activity WHERE query ILIKE 'LISTEN%' AND datname = current_database()"
            )
            assert pid is not None
            await store_db.execute("SELECT pg_terminate_backend($1)", pid)
            with pytest.raises(DatabaseUnavailable):
                await wakeups.wait(10)
            with pytest.raises(DatabaseUnavailable):
                await wakeups.wait(10)


async def test_stats_report_pending_and_lag(store_db: Database) -> None:
    with trio.fail_after(10):
        async with store_db.connection() as conn:
            assert await inbox.stats(conn) == inbox.InboxStats(0, 0, 0, 0.0)
            await inbox.put(conn, 1, 1, "message", _raw(1, 1), "test")
            await inbox.put(conn, 2, 2, "message", _raw(2, 2), "test")
            await conn.execute("UPDATE updates SET received_at = now() - interval '90 seconds' WHERE update_id = 1")
            await inbox.claim(conn, "w", limit=1)
            stats = await inbox.stats(conn)
            assert (stats.pending, stats.claimed, stats.parked) == (1, 1, 0)
            assert 89 <= stats.oldest_pending_age_s < 120


async def test_cleanup_removes_only_old_finished_rows(store_db: Database) -> None:
    with trio.fail_after(10):
        async with store_db.connection() as conn:
            for update_id in range(1, 7):
                await inbox.put(conn, update_id, update_id, "message", _raw(update_id, update_id), "test")
            for item in await inbox.claim(conn, "w", limit=4):
                if item.update_id == 4:
                    await inbox.fail(conn, item.update_id, item.token, "x", max_attempts=1)
                else:
                    await inbox.done(conn, item.update_id, item.token)
            # 1 done long ago, 2 done recently, 3 done long ago, 4 parked long ago,
            # 5 pending received long ago, 6 pending.
            await conn.execute("UPDATE updates SET finished_at = now() - interval '8 days' WHERE update_id IN (1, 3, 4)")
            await conn.execute("UPDATE updates SET received_at = now() - interval '30 days' WHERE update_id = 5")
            assert await inbox.cleanup(conn, batch=1) == 3
            remaining = await conn.fetch("SELECT update_id, status FROM updates ORDER BY update_id")
            assert [(r["update_id"], r["status"]) for r in remaining] == [(2, "done"), (5, "pending"), (6, "pending")]
            assert await inbox.cleanup(conn) == 0


async def test_done_commits_asynchronously_only_when_standing_alone(store_db: Database) -> None:
    """A lost stand-alone ``done`` only means a re-run; inside a caller's transaction (say, with a
    ledger write) the caller's durable commit must not be weakened."""
    with trio.fail_after(10):
        async with store_db.connection() as conn:
            for update_id in (1, 2):
                await inbox.put(conn, update_id, update_id, "message", _raw(update_id, update_id), "test")
            first, second = await inbox.claim(conn, "w", limit=5)
            async with conn.transaction():
                assert await inbox.done(conn, first.update_id, first.token)
                assert await conn.fetchval("SHOW synchronous_commit") == "on"
            # The stand-alone statement really switches its own commit to asynchronous.
            async with conn.transaction():
                assert await conn.fetchval(inbox._DONE_ASYNC_COMMIT_SQL, second.update_id, second.token)
                assert await conn.fetchval("SHOW synchronous_commit") == "off"
            assert await conn.fetchval("SHOW synchronous_commit") == "on", "and only for that transaction"
            assert (await inbox.stats(conn)).claimed == 0


async def test_raw_body_is_kept_byte_for_byte_even_with_nul_escapes(store_db: Database) -> None:
    """jsonb would refuse ``\\u0000`` and lone surrogates; the inbox must store any valid JSON, or
    Telegram would retry that update forever."""
    body = b'{"update_id": 5, "message": {"text": "a\\u0000b \\ud800 \\u00e9 \xd0\xbf\xd1\x80\xd0\xb8"}}'
    with trio.fail_after(10):
        async with store_db.connection() as conn:
            assert await inbox.put(conn, 5, 1, "message", body, "webhook")
            (item,) = await inbox.claim(conn, "w", limit=1)
            assert item.raw == body


async def test_notification_between_claim_and_wait_is_not_missed(store_db: Database) -> None:
    with trio.fail_after(10):
        async with inbox.open_wakeups(store_db) as wakeups, store_db.connection() as conn:
            assert await inbox.claim(conn, "w") == []
            # An insert lands after the empty claim but before the dispatcher starts waiting.
            await inbox.put(conn, 1, 1, "message", _raw(1, 1), "webhook")
            await trio.sleep(0.2)
            start = trio.current_time()
            assert await wakeups.wait(5) is True
            assert trio.current_time() - start < 1
            assert wakeups.generation == 1
