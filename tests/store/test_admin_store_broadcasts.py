"""Broadcasts: recipients snapshotted once, concurrent senders never share one, and a resumed
broadcast never re-sends to a recipient marked sent or sending."""

from __future__ import annotations

import pytest
import trio

from kiebot.store import broadcasts, users
from kiebot.store.db import Database


@pytest.fixture
async def db(store_db: Database) -> Database:
    async with store_db.connection() as conn:
        for user_id in range(1, 13):
            await users.touch_user(conn, user_id, first_name=f"u{user_id}")
        await users.set_blocked(conn, 11, True)
        await users.set_banned(conn, 12, True)
    return store_db


async def test_resume_after_a_crash_never_resends(db: Database) -> None:
    delivered: list[int] = []  # what the "Telegram side" received, in order
    with trio.fail_after(15):
        async with db.connection() as conn:
            draft = await broadcasts.create_broadcast(conn, 900, "Новые модели!")
            assert await broadcasts.claim_recipients(conn, draft.id, 5) == []  # a draft sends nothing
            started = await broadcasts.start_broadcast(conn, draft.id)
            assert (started.status, started.total) == ("sending", 10)  # blocked and banned users left out
            assert (await broadcasts.start_broadcast(conn, draft.id)).total == 10  # starting twice: no-op

            # First run: claims 4, delivers 3, and "crashes" before marking the fourth.
            batch = await broadcasts.claim_recipients(conn, draft.id, 4)
            assert batch == [1, 2, 3, 4]
            for user_id in batch[:3]:
                delivered.append(user_id)
                assert await broadcasts.mark_recipient(conn, draft.id, user_id, "sent")
            delivered.append(batch[3])  # sent, but the process died before recording it

        # Restart: the sender resumes every active broadcast from the database alone.
        async with db.connection() as conn:
            [active] = await broadcasts.active_broadcasts(conn)
            assert active.id == draft.id
            while batch := await broadcasts.claim_recipients(conn, active.id, 3):
                for user_id in batch:
                    delivered.append(user_id)
                    outcome: broadcasts.RecipientOutcome = "blocked" if user_id == 7 else "sent"
                    assert await broadcasts.mark_recipient(conn, active.id, user_id, outcome)
            assert not await broadcasts.mark_recipient(conn, active.id, 1, "failed")  # already final
            done = await broadcasts.finish_if_complete(conn, active.id)
            assert (done.status, done.sent, done.blocked, done.failed, done.total) == ("done", 8, 1, 0, 10)
            assert await broadcasts.recipient_counts(conn, active.id) == {
                "pending": 0,
                "sending": 1,
                "sent": 8,
                "failed": 0,
                "blocked": 1,
            }
            blocked = await users.get_user(conn, 7)
            assert blocked is not None
            assert blocked.blocked_bot
            with pytest.raises(broadcasts.BroadcastClosed):
                await broadcasts.start_broadcast(conn, active.id)
        assert sorted(delivered) == list(range(1, 11))  # everyone exactly once, user 4 included


@pytest.mark.slow
async def test_concurrent_senders_never_share_a_recipient(db: Database) -> None:
    claimed: list[int] = []
    with trio.fail_after(15):
        async with db.connection() as conn:
            for user_id in range(100, 400):
                await users.touch_user(conn, user_id, first_name="x")
            broadcast = await broadcasts.start_broadcast(
                conn, (await broadcasts.create_broadcast(conn, 1, "hi")).id
            )
            assert broadcast.total == 310

        async def sender() -> None:
            while True:
                async with db.connection() as c:
                    batch = await broadcasts.claim_recipients(c, broadcast.id, 9)
                    if not batch:
                        return
                    for user_id in batch:
                        await broadcasts.mark_recipient(c, broadcast.id, user_id, "sent")
                claimed.extend(batch)

        async with trio.open_nursery() as nursery:
            for _ in range(6):
                nursery.start_soon(sender)
        assert len(claimed) == len(set(claimed)) == 310
        async with db.connection() as conn:
            done = await broadcasts.finish_if_complete(conn, broadcast.id)
            assert (done.status, done.sent) == ("done", 310)


async def test_cancel_stops_claims(db: Database) -> None:
    with trio.fail_after(10):
        async with db.connection() as conn:
            broadcast = await broadcasts.create_broadcast(conn, 1, "promo")
            await broadcasts.start_broadcast(conn, broadcast.id)
            assert await broadcasts.claim_recipients(conn, broadcast.id, 2) == [1, 2]
            assert await broadcasts.cancel_broadcast(conn, broadcast.id)
            assert not await broadcasts.cancel_broadcast(conn, broadcast.id)
            assert await broadcasts.claim_recipients(conn, broadcast.id, 10) == []
            assert await broadcasts.active_broadcasts(conn) == []
            still = await broadcasts.finish_if_complete(conn, broadcast.id)
            assert still.status == "cancelled"
            with pytest.raises(ValueError, match="text"):
                await broadcasts.create_broadcast(conn, 1, "   ")
            with pytest.raises(broadcasts.UnknownBroadcast):
                await broadcasts.start_broadcast(conn, 999)
