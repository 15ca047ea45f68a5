"""The last text each user searched the catalogue with (``model_searches``, one row per user).

A model card opened from search results has a Back button; callback data cannot carry the
query (64 bytes, ASCII only, https://core.telegram.org/bots/api#inlinekeyboardbutton), so Back
reads it from here and searches again. Queries are cut to :data:`MAX_QUERY_CHARS`.
"""

from __future__ import annotations

from typing import Final

from kiebot.store.db import Conn

MAX_QUERY_CHARS: Final = 200


async def remember(conn: Conn, user_id: int, query: str) -> None:
    text = query.strip()[:MAX_QUERY_CHARS]
    if not text:
        return
    await conn.execute(
        """
        INSERT INTO model_searches (user_id, query) VALUES ($1, $2)
        ON CONFLICT (user_id) DO UPDATE SET query = EXCLUDED.query, searched_at = now()
        """,
        user_id,
        text,
    )


async def last(conn: Conn, user_id: int) -> str | None:
    found = await conn.fetchval("SELECT query FROM model_searches WHERE user_id = $1", user_id)
    return str(found) if found is not None else None
