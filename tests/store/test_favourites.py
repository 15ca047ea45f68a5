"""«⭐ Мои модели» in PostgreSQL: starring is idempotent both ways, favourites are per user and
kept in the order starred, the models used last come from jobs (distinct, newest first), and the
last search is kept per user."""

from __future__ import annotations

import pytest
import trio

from kiebot.store import favourites, jobs, money, searches, users
from kiebot.store.db import Conn, Database


@pytest.fixture
async def db(store_db: Database) -> Database:
    return store_db


async def _user(conn: Conn, user_id: int) -> None:
    await users.touch_user(conn, user_id, first_name=f"u{user_id}")


async def test_starring_is_idempotent_per_user_and_removable(db: Database) -> None:
    with trio.fail_after(10):
        async with db.connection() as conn:
            await _user(conn, 1)
            await _user(conn, 2)
            assert await favourites.add(conn, 1, "suno-v4.5") is True
            assert await favourites.add(conn, 1, "suno-v4.5") is False  # a second tap adds nothing
            assert await favourites.add(conn, 1, "veo3.1-fast") is True
            assert await favourites.add(conn, 2, "z-image") is True
            assert await favourites.favourites(conn, 1) == ["suno-v4.5", "veo3.1-fast"]
            assert await favourites.favourites(conn, 2) == ["z-image"]
            assert await favourites.is_favourite(conn, 1, "suno-v4.5")
            assert not await favourites.is_favourite(conn, 2, "suno-v4.5")
            assert await favourites.remove(conn, 1, "suno-v4.5") is True
            assert await favourites.remove(conn, 1, "suno-v4.5") is False
            assert await favourites.favourites(conn, 1) == ["veo3.1-fast"]
            assert not await favourites.is_favourite(conn, 1, "suno-v4.5")


async def test_recent_models_are_distinct_newest_first_and_bounded(db: Database) -> None:
    with trio.fail_after(20):
        async with db.transaction() as conn:
            await _user(conn, 7)
            await _user(conn, 8)
            await money.credit(conn, 7, 1_000_000, kind="topup_manual", key="t7")
            await money.credit(conn, 8, 1_000_000, kind="topup_manual", key="t8")
            assert await favourites.recent_models(conn, 7) == []
            order = ["z-image", "suno-v4.5", "z-image", "veo3.1-fast", "kling-2.6/text-to-video", "suno-v4.5"]
            for i, model_id in enumerate(order):
                await jobs.create_job(
                    conn, user_id=7, chat_id=7, model_id=model_id, kind="x", params={}, quote_kopecks=100,
                    idempotency_key=f"k{i}", timeout_s=600,
                )  # fmt: skip
            await jobs.create_job(
                conn, user_id=8, chat_id=8, model_id="topaz/image-upscale", kind="upscale", params={},
                quote_kopecks=100, idempotency_key="other", timeout_s=600,
            )  # fmt: skip
            assert await favourites.recent_models(conn, 7) == ["suno-v4.5", "kling-2.6/text-to-video", "veo3.1-fast"]
            assert await favourites.recent_models(conn, 7, limit=5) == [
                "suno-v4.5", "kling-2.6/text-to-video", "veo3.1-fast", "z-image",
            ]  # fmt: skip
            assert await favourites.recent_models(conn, 8) == ["topaz/image-upscale"]


async def test_the_last_search_is_kept_per_user_and_replaced(db: Database) -> None:
    with trio.fail_after(10):
        async with db.connection() as conn:
            await _user(conn, 3)
            assert await searches.last(conn, 3) is None
            await searches.remember(conn, 3, "  клинг ")
            assert await searches.last(conn, 3) == "клинг"
            await searches.remember(conn, 3, "музыка" * 100)
            assert await searches.last(conn, 3) == ("музыка" * 100)[: searches.MAX_QUERY_CHARS]
            await searches.remember(conn, 3, "   ")  # nothing to remember: the last one stays
            assert await searches.last(conn, 3) == ("музыка" * 100)[: searches.MAX_QUERY_CHARS]


async def test_stars_in_one_transaction_keep_their_order(db: Database) -> None:
    with trio.fail_after(10):
        async with db.transaction() as conn:
            await _user(conn, 4)
            for model_id in ("veo3.1-fast", "suno-v4.5", "kling-2.6/text-to-video"):
                await favourites.add(conn, 4, model_id)
            assert await favourites.favourites(conn, 4) == ["veo3.1-fast", "suno-v4.5", "kling-2.6/text-to-video"]
