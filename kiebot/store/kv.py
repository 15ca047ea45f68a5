"""The ``kv`` table: small facts worth keeping across restarts and sharing between instances.

Examples: the Bank of Russia USD rate with its date (``fx.usd_rub``), Kie credits left
(``kie.credits``), the webhook registration (``telegram.webhook``). Values are JSON; read them back
into a msgspec type with :func:`get_as`, so a malformed or outdated value is an error at the
reader, not a crash three calls later. Not for anything that must not be lost — money and jobs
have their own tables.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypeVar

import msgspec

from kiebot.store.db import Conn

T = TypeVar("T")

_encoder = msgspec.json.Encoder()


class KvEntry(msgspec.Struct, frozen=True):
    key: str
    value: Any
    updated_at: datetime


async def get(conn: Conn, key: str) -> KvEntry | None:
    """The stored value and when it was written, or None."""
    row = await conn.fetchrow("SELECT key, value, updated_at FROM kv WHERE key = $1", key)
    return KvEntry(row["key"], row["value"], row["updated_at"]) if row is not None else None


async def get_as(conn: Conn, key: str, type_: type[T]) -> T | None:
    """The stored value converted to ``type_`` (a msgspec Struct, ``int``, ``dict[str, float]``…).

    Raises:
        msgspec.ValidationError: the stored value does not match ``type_``.
    """
    entry = await get(conn, key)
    if entry is None:
        return None
    return msgspec.convert(entry.value, type_)


async def put(conn: Conn, key: str, value: Any) -> datetime:
    """Store ``value`` (a msgspec Struct or anything msgspec can encode as JSON); returns ``updated_at``."""
    if not key:
        raise ValueError("kv key must not be empty")
    updated_at: datetime = await conn.fetchval(
        """
        INSERT INTO kv (key, value, updated_at) VALUES ($1, $2::text::jsonb, now())
        ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, updated_at = now()
        RETURNING updated_at
        """,
        key,
        _encoder.encode(value).decode("utf-8"),
    )
    return updated_at


async def put_if_absent(conn: Conn, key: str, value: Any) -> bool:
    """Store ``value`` unless ``key`` exists; True for the one caller (of any instance) that stored it.

    For "once ever" facts, such as an admin alert that must not repeat across restarts.
    """
    if not key:
        raise ValueError("kv key must not be empty")
    return bool(
        await conn.fetchval(
            "INSERT INTO kv (key, value, updated_at) VALUES ($1, $2::text::jsonb, now()) ON CONFLICT (key) DO NOTHING RETURNING true",
            key,
            _encoder.encode(value).decode("utf-8"),
        )
    )


async def delete(conn: Conn, key: str) -> bool:
    """Forget ``key``; True if it existed."""
    return bool(await conn.fetchval("DELETE FROM kv WHERE key = $1 RETURNING true", key))
