"""«⭐ Мои модели»: the models a user starred, and the models they used last.

Favourites are one row per (user, model) in ``favourite_models``: adding twice adds once and
removing twice removes once, so a button tapped twice or an update handled twice (processing is
at-least-once, DESIGN "Invariants") leaves the same state. The bot passes only model ids it
decoded from its own callback codes, never text a user typed.

The models used last come from ``jobs`` (any job the user confirmed, whatever its outcome), read
through ``jobs_user_idx`` and bounded to the user's newest :data:`RECENT_SCAN` jobs, so a user with
thousands of generations costs the same as one with ten.
"""

from __future__ import annotations

from typing import Final

from kiebot.store.db import Conn

#: How many of a user's newest jobs are looked at to find the models they used last.
RECENT_SCAN: Final = 200


async def add(conn: Conn, user_id: int, model_id: str) -> bool:
    """Star a model; False when it was starred already."""
    status = await conn.execute(
        # clock_timestamp(), not now(): two stars in one transaction keep their order.
        "INSERT INTO favourite_models (user_id, model_id, added_at) VALUES ($1, $2, clock_timestamp()) ON CONFLICT DO NOTHING",
        user_id,
        model_id,
    )
    return status == "INSERT 0 1"


async def remove(conn: Conn, user_id: int, model_id: str) -> bool:
    """Unstar a model; False when it was not starred."""
    status = await conn.execute("DELETE FROM favourite_models WHERE user_id = $1 AND model_id = $2", user_id, model_id)
    return status == "DELETE 1"


async def is_favourite(conn: Conn, user_id: int, model_id: str) -> bool:
    found = await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM favourite_models WHERE user_id = $1 AND model_id = $2)", user_id, model_id
    )
    return bool(found)


async def favourites(conn: Conn, user_id: int) -> list[str]:
    """The user's starred model ids, in the order they were starred."""
    rows = await conn.fetch(
        "SELECT model_id FROM favourite_models WHERE user_id = $1 ORDER BY added_at, model_id", user_id
    )
    return [row["model_id"] for row in rows]


async def recent_models(conn: Conn, user_id: int, limit: int = 3) -> list[str]:
    """The ``limit`` distinct models of the user's newest jobs, newest first."""
    rows = await conn.fetch(
        """
        SELECT model_id FROM (
            SELECT model_id, id FROM jobs WHERE user_id = $1 ORDER BY id DESC LIMIT $3
        ) AS newest
        GROUP BY model_id ORDER BY max(id) DESC LIMIT $2
        """,
        user_id,
        limit,
        RECENT_SCAN,
    )
    return [row["model_id"] for row in rows]
