"""The broadcast sender alone (no app): 1,000 recipients through the real Telegram client and its
flood limiter, against the fake Bot API server with Telegram-like flood rules on, on a real
PostgreSQL database — in virtual time running ten times faster than the wall clock, so the 40-odd
seconds a 1,000-user broadcast takes at 25 messages a second pass in a few real seconds.

What it proves: the fake never sees more than 25 broadcast messages (30 messages of any kind) in
any one second, answers no 429, every reachable user gets exactly one message, users who blocked
the bot are counted and marked, and the admin's progress message is edited along the way and
shows the final counts.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator

import httpx
import pytest
import trio
import trio.testing

from kiebot.chat.broadcast import BroadcastSender, ProgressTarget, remember_progress
from kiebot.store import broadcasts, money, users
from kiebot.store.db import Database
from kiebot.store.migrations import apply_migrations
from kiebot.telegram.client import TelegramClient
from kiebot.testing.telegram.server import FakeTelegram, FloodRules

TOKEN = "123456789:AAHfakeTokenForKiebotTests_abcdefghij"
ADMIN = 900_000_001
RECIPIENTS = tuple(range(6_000_000, 6_001_000))
BLOCKED = frozenset(RECIPIENTS[::100])  # 10 users blocked the bot since they last wrote
TEXT = "📣 <b>Новости</b>: теперь есть видео!"

pytestmark = pytest.mark.slow


@pytest.fixture
def fast_clock() -> trio.testing.MockClock:
    """Virtual time 10× the wall clock (jumping ahead when everything waits): the limiter's
    sleeps shrink, real sockets keep working (their waits are milliseconds of real time)."""
    return trio.testing.MockClock(rate=10.0, autojump_threshold=0.1)


@pytest.fixture
async def db(database_url: str, aio_loop: None) -> AsyncIterator[Database]:
    async with Database.open(database_url, max_size=12) as database:
        await apply_migrations(database)
        yield database
        async with database.connection() as conn:
            assert await money.check_invariants(conn) == []


def busiest_second(times: list[float]) -> int:
    """The most events in any half-open window of one second."""
    times = sorted(times)
    best, start = 0, 0
    for end, moment in enumerate(times):
        while times[start] <= moment - 1.0:
            start += 1
        best = max(best, end - start + 1)
    return best


async def test_a_thousand_recipients_within_flood_limits(
    fast_clock: trio.testing.MockClock, db: Database
) -> None:
    fake = FakeTelegram(token=TOKEN, flood_rules=FloodRules())
    with trio.fail_after(1100):  # virtual seconds: under two real minutes
        async with trio.open_nursery() as nursery:
            base = await nursery.start(fake.serve)
            fake.add_user(ADMIN, "Boss")
            for user_id in RECIPIENTS:
                fake.add_user(user_id, f"U{user_id}")
            for user_id in BLOCKED:
                fake.block_bot(user_id)
            async with db.connection() as conn:
                for user_id in RECIPIENTS:
                    await users.touch_user(conn, user_id, first_name=f"U{user_id}")
                draft = await broadcasts.create_broadcast(conn, ADMIN, TEXT)
                started = await broadcasts.start_broadcast(conn, draft.id)
            assert started.total == len(RECIPIENTS)

            async with httpx.AsyncClient() as http:
                tg = TelegramClient(http, TOKEN, base_url=base)
                progress = await tg.send_message(ADMIN, "📣 …")
                await remember_progress(db, draft.id, ProgressTarget(ADMIN, progress.message_id, "ru"))
                sender = BroadcastSender(db, tg)
                began = trio.current_time()
                ended = await sender.run_pending()
                took = trio.current_time() - began
            nursery.cancel_scope.cancel()

    assert [b.id for b in ended] == [draft.id]
    final = ended[0]
    assert final.status == "done"
    assert (final.sent, final.blocked, final.failed) == (len(RECIPIENTS) - len(BLOCKED), len(BLOCKED), 0)

    sends = [r for r in fake.requests if r.method == "sendMessage" and r.params["chat_id"] != ADMIN]
    delivered = Counter(r.params["chat_id"] for r in sends if r.status == 200)
    assert set(delivered) == set(RECIPIENTS) - BLOCKED
    assert max(delivered.values()) == 1  # nobody twice
    assert all(r.params["text"] == TEXT and r.params["parse_mode"] == "HTML" for r in sends)
    assert [r for r in fake.requests if r.status == 429] == []

    counted = [r.at for r in fake.requests if r.method in ("sendMessage", "editMessageText")]
    assert busiest_second([r.at for r in sends]) <= 25
    assert busiest_second(counted) <= 30
    # Paced: 1,000 messages at 25/s take at least 40 s. (How much longer depends on the machine:
    # the fast clock stretches the milliseconds each request is in flight tenfold, and the limiter
    # counts a message from its start to one second after its answer; 47-61 s on an idle machine.)
    assert took >= 39.0, took

    async with db.connection() as conn:
        counts = await broadcasts.recipient_counts(conn, draft.id)
        marked = [u for u in RECIPIENTS if (await users.get_user(conn, u)).blocked_bot]  # type: ignore[union-attr]
    assert counts == {"pending": 0, "sending": 0, "sent": 990, "failed": 0, "blocked": 10}
    assert set(marked) == BLOCKED

    edits = [r for r in fake.requests if r.method == "editMessageText" and r.params["chat_id"] == ADMIN]
    assert len(edits) >= 8  # every ~3 s over ~40 s
    shown = fake.message(ADMIN, progress.message_id).content
    assert "завершена" in shown
    assert "1000 из 1000" in shown
    assert "доставлено 990" in shown
    assert "заблокировали бота 10" in shown
