"""Users: the upsert on every update, lookups, flags and the dashboard counts."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import trio

from kiebot.store import users
from kiebot.store.db import Database


@pytest.fixture
async def db(store_db: Database) -> Database:
    return store_db


async def test_touch_creates_then_refreshes(db: Database) -> None:
    with trio.fail_after(10):
        async with db.connection() as conn:
            first = await users.touch_user(
                conn, 7_000_000_001, first_name="Анна", username="Anna_K", language="en"
            )
            assert first.created
            assert (first.user.language, first.user.free_bonus_uses, first.user.banned) == ("en", 0, False)
            await users.set_blocked(conn, 7_000_000_001, True)
            await users.set_language(conn, 7_000_000_001, "ru")
            second = await users.touch_user(
                conn, 7_000_000_001, first_name="Anna", last_name="K", language="en"
            )
            assert not second.created
            assert second.user.first_name == "Anna"
            assert second.user.last_name == "K"
            assert second.user.username is None  # Telegram sent none this time
            assert second.user.language == "ru"  # the user's own choice survives
            assert not second.user.blocked_bot  # writing to the bot means it is not blocked
            assert second.user.last_seen_at >= first.user.last_seen_at
            assert second.user.created_at == first.user.created_at
            assert await users.get_user(conn, 7_000_000_001) == second.user
            assert await users.get_user(conn, 1) is None


async def test_lookup_by_username_and_flags(db: Database) -> None:
    with trio.fail_after(10):
        async with db.connection() as conn:
            await users.touch_user(conn, 5, first_name="B", username="BobTheBuilder")
            for query in ("bobthebuilder", "@BobTheBuilder", " @BOBTHEBUILDER "):
                found = await users.find_by_username(conn, query)
                assert found is not None
                assert found.user_id == 5
            assert await users.find_by_username(conn, "@") is None
            assert await users.find_by_username(conn, "nobody") is None
            await users.set_banned(conn, 5, True)
            banned = await users.get_user(conn, 5)
            assert banned is not None
            assert banned.banned
            with pytest.raises(users.UnknownUser):
                await users.set_banned(conn, 6, True)
            with pytest.raises(ValueError, match="language"):
                await users.set_language(conn, 5, "de")  # type: ignore[arg-type]


def test_language_from_telegram() -> None:
    assert users.language_from_telegram(None) == "ru"
    assert users.language_from_telegram("ru") == "ru"
    assert users.language_from_telegram("uk") == "ru"
    assert users.language_from_telegram("en-US") == "en"
    assert users.language_from_telegram("de") == "en"


async def test_counts_for_the_dashboard(db: Database) -> None:
    now = datetime(2026, 6, 1, 15, 0, tzinfo=UTC)
    with trio.fail_after(10):
        async with db.connection() as conn:
            for user_id in range(1, 6):
                await users.touch_user(conn, user_id, first_name=str(user_id))
            await conn.executemany(
                "UPDATE users SET created_at = $2, last_seen_at = $3 WHERE user_id = $1",
                [
                    (1, datetime(2026, 6, 1, 0, 0, tzinfo=UTC), datetime(2026, 6, 1, 14, 0, tzinfo=UTC)),
                    (2, datetime(2026, 5, 31, 23, 59, tzinfo=UTC), datetime(2026, 5, 31, 15, 30, tzinfo=UTC)),
                    (3, datetime(2026, 5, 1, tzinfo=UTC), datetime(2026, 5, 31, 14, 59, tzinfo=UTC)),
                    (4, datetime(2026, 5, 1, tzinfo=UTC), datetime(2026, 5, 2, tzinfo=UTC)),
                    (5, datetime(2026, 6, 1, 14, 0, tzinfo=UTC), datetime(2026, 6, 1, 14, 0, tzinfo=UTC)),
                ],
            )
            await users.set_blocked(conn, 4, True)
            await users.set_banned(conn, 3, True)
            counts = await users.user_counts(conn, now)
            assert counts == users.UserCounts(total=5, new_today=2, active_24h=3, blocked_bot=1, banned=1)
