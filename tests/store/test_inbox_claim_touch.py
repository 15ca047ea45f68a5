"""A claim that also upserts the senders (issue 18: one statement instead of two per update) must
do exactly what ``users.touch_user`` does, for exactly the senders ``kiebot.bot.router`` upserts,
and must never fail a claim because of what a sender looks like."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import trio

from kiebot.store import conversations, free_tier, inbox, jobs, menu, money, users
from kiebot.store.db import Conn, Database
from kiebot.store.inbox import InboxItem


def _message(update_id: int, sender: dict[str, Any] | None, *, chat_type: str = "private", chat: int | None = None) -> dict[str, Any]:
    message: dict[str, Any] = {
        "message_id": update_id,
        "date": 1,
        "chat": {"id": chat if chat is not None else (sender or {}).get("id", 1), "type": chat_type},
        "text": "hi",
    }
    if sender is not None:
        message["from"] = sender
    return {"update_id": update_id, "message": message}


def _tap(update_id: int, sender: dict[str, Any], chat: int) -> dict[str, Any]:
    return {
        "update_id": update_id,
        "callback_query": {"id": str(update_id), "from": sender, "chat_instance": "c", "data": "menu",
                           "message": {"message_id": 1, "date": 1, "chat": {"id": chat, "type": "group"}}},
    }


def _who(user_id: int, first: str = "Ann", **extra: Any) -> dict[str, Any]:
    return {"id": user_id, "is_bot": False, "first_name": first, **extra}


async def _store(db: Database, raws: list[tuple[dict[str, Any], int]]) -> None:
    items = [
        InboxItem(raw["update_id"], chat, "message" if "message" in raw else "callback_query", json.dumps(raw).encode(), "test")
        for raw, chat in raws
    ]
    async with db.connection() as conn:
        await inbox.put_many(conn, items)


async def test_senders_are_upserted_like_touch_user(store_db: Database) -> None:
    with trio.fail_after(20):
        async with store_db.connection() as conn:
            # An existing user keeps her language; names and last_seen are refreshed; blocked_bot cleared.
            await users.touch_user(conn, 11, first_name="Old", language="ru")
            await users.set_blocked(conn, 11, True)
        await _store(
            store_db,
            [
                (_message(1, _who(11, "Ann", last_name="Lee", username="ann", language_code="en")), 11),
                (_message(2, _who(12, "Бо", language_code="en-GB")), 12),
                (_message(3, _who(13, "Ru", language_code="uk")), 13),
                (_message(4, _who(14, "Bot", is_bot=True)), 14),  # bots are not users
                (_message(5, _who(15, "Grp"), chat_type="group", chat=-100), -100),  # groups are not handled
                (_message(6, None, chat=16), 16),  # no sender
                (_tap(7, _who(17, "Tap", language_code="en"), chat=-200), -200),  # a tap anywhere is
                (_message(8, _who(18, "Nul\u0000l")), 18),  # JSON PostgreSQL cannot turn into text
                (_message(9, {"id": "x1", "first_name": "Odd"}, chat=19), 19),  # not an id
            ],
        )
        async with store_db.connection() as conn:
            claimed = {c.update_id: c for c in await inbox.claim(conn, "w", limit=20, touch_senders=True)}
            assert sorted(claimed) == list(range(1, 10))
            senders = {u: (c.sender.user_id if c.sender else None) for u, c in claimed.items()}
            assert senders == {1: 11, 2: 12, 3: 13, 4: None, 5: None, 6: None, 7: 17, 8: None, 9: None}
            for update_id, c in claimed.items():
                if c.sender is not None:
                    assert c.sender == await users.get_user(conn, c.sender.user_id), update_id
            ann = claimed[1].sender
            assert ann is not None
            assert (ann.first_name, ann.last_name, ann.username, ann.language, ann.blocked_bot) == ("Ann", "Lee", "ann", "ru", False)
            assert claimed[2].sender is not None
            assert claimed[2].sender.language == "en"
            assert claimed[3].sender is not None
            assert claimed[3].sender.language == "ru"
            assert claimed[7].sender is not None
            assert claimed[7].sender.first_name == "Tap"
            for user_id in (14, 15, 18):
                assert await users.get_user(conn, user_id) is None


async def test_one_user_in_two_chats_of_one_claim_is_upserted_once(store_db: Database) -> None:
    with trio.fail_after(20):
        await _store(store_db, [(_message(1, _who(21, "Ann")), 21), (_tap(2, _who(21, "Ann"), chat=-300), -300)])
        async with store_db.connection() as conn:
            claimed = await inbox.claim(conn, "w", limit=20, touch_senders=True)
            assert [c.sender.user_id if c.sender else None for c in claimed] == [21, 21]


async def test_the_claim_reads_each_senders_menu_figures_as_the_menu_does(store_db: Database) -> None:
    """The figures a claim hands the handler (``ClaimedUpdate.menu``) are the ones
    ``menu.menu_figures`` reads on its own, on the app's clock: balance, bonus uses, the free uses
    of the last 24 h (returned ones and older ones left out) — and whether a state must be cleared."""
    now = datetime(2026, 5, 10, 12, 0, tzinfo=UTC)
    limits = free_tier.FreeLimits(daily=5, hourly=2)
    keys = iter(range(1000))

    async def free_job(conn: Conn, user_id: int, at: datetime) -> int:
        created = await jobs.create_job(
            conn, user_id=user_id, chat_id=user_id, model_id="z-image", kind="text_to_image", params={},
            quote_kopecks=0, idempotency_key=f"k{next(keys)}", timeout_s=600, free=True, free_limits=limits, now=at,
        )
        return created.job.id

    with trio.fail_after(30):
        async with store_db.connection() as conn:
            for uid in (21, 22, 23):
                await users.touch_user(conn, uid, first_name="U")
            async with conn.transaction():
                await money.credit(conn, 21, 123_45, kind="topup_manual", key="t21")
            await conn.execute("UPDATE users SET free_bonus_uses = 3 WHERE user_id = 21")
            await free_job(conn, 21, now - timedelta(hours=30))  # outside the window
            await free_job(conn, 21, now - timedelta(hours=5))
            returned = await free_job(conn, 21, now - timedelta(minutes=30))
            await free_tier.return_free_use(conn, returned, now=now - timedelta(minutes=20))
            await free_job(conn, 21, now - timedelta(minutes=10))
            await conversations.set_state(conn, 22, "wizard", {"model": "z-image"}, ttl_s=600, expected_version=conversations.ANY_VERSION)
        await _store(store_db, [(_message(30 + uid, _who(uid)), uid) for uid in (21, 22, 23)])
        async with store_db.connection() as conn:
            claimed = await inbox.claim(conn, "w", limit=10, touch_senders=True, now=now)
            assert len(claimed) == 3
            for item in claimed:
                assert item.menu is not None
                assert item.sender is not None
                alone = await menu.menu_figures(conn, item.sender.user_id, now, limits)
                assert item.menu.figures(now, limits) == alone, item.sender.user_id
                assert item.menu.has_state == (item.sender.user_id == 22)
    by_user = {c.chat_key: c.menu for c in claimed}
    assert by_user[21] is not None
    assert by_user[21].balance == 123_45
    assert by_user[21].bonus_left == 3
    assert by_user[21].figures(now, limits).free.left_today == 3  # two regular uses in the window
