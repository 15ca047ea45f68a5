"""How many ``/paysupport`` questions a user has had relayed to the admins, and whether one more may go.

Each relay messages every admin, so without a cap one user (or a banned one, who keeps
/paysupport because Telegram requires it) could flood the admins' chats. The cap is a rolling
window per user — 3 relays per 10 minutes, a banned user 1 per day — counted in PostgreSQL, so it
survives restarts and holds across instances. :func:`take_relay` counts and records in one
transaction under a per-user advisory lock: two questions of one user arriving at two instances at
once cannot both slip under the cap.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Final

import msgspec

from kiebot.store.db import Conn


class RelayLimit(msgspec.Struct, frozen=True):
    """At most ``count`` relays within any ``window``."""

    count: int
    window: timedelta


#: A user with a payment problem may write a few times in a row, not keep the admins busy.
USER_LIMIT: Final = RelayLimit(3, timedelta(minutes=10))
#: A banned user keeps /paysupport (Telegram's rule) but gets one question a day.
BANNED_LIMIT: Final = RelayLimit(1, timedelta(days=1))
#: Rows older than this count for no window and are deleted.
_KEEP: Final = max(USER_LIMIT.window, BANNED_LIMIT.window)
#: Namespace of the per-user advisory lock (the text is hashed with the user id).
_LOCK_PREFIX: Final = "kiebot:support:"


class RelayVerdict(msgspec.Struct, frozen=True, kw_only=True):
    """``allowed``: the relay was recorded (send it). Otherwise ``next_at`` is when one frees up."""

    allowed: bool
    used: int
    limit: int
    next_at: datetime | None = None


def limit_for(*, banned: bool) -> RelayLimit:
    return BANNED_LIMIT if banned else USER_LIMIT


async def _count(conn: Conn, user_id: int, limit: RelayLimit, now: datetime) -> tuple[int, datetime | None]:
    row = await conn.fetchrow(
        """
        SELECT count(*) AS used, min(relayed_at) AS oldest FROM support_relays
        WHERE user_id = $1 AND relayed_at > $2
        """,
        user_id,
        now - limit.window,
    )
    assert row is not None  # an aggregate always returns its one row
    oldest: datetime | None = row["oldest"]
    return int(row["used"]), (oldest + limit.window if oldest is not None else None)


async def relay_allowed(conn: Conn, user_id: int, limit: RelayLimit, *, now: datetime | None = None) -> RelayVerdict:
    """Whether a relay would be allowed now, recording nothing (the /paysupport prompt asks first,
    so a user over the cap is told before typing a question that would not be sent)."""
    now = now or await conn.fetchval("SELECT clock_timestamp()")
    used, next_at = await _count(conn, user_id, limit, now)
    allowed = used < limit.count
    return RelayVerdict(allowed=allowed, used=used, limit=limit.count, next_at=None if allowed else next_at)


async def take_relay(conn: Conn, user_id: int, limit: RelayLimit, *, now: datetime | None = None) -> RelayVerdict:
    """Record one relay if the user is under ``limit``, atomically; see the module docstring."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", f"{_LOCK_PREFIX}{user_id}")
        now = now or await conn.fetchval("SELECT clock_timestamp()")
        await conn.execute(
            "DELETE FROM support_relays WHERE user_id = $1 AND relayed_at <= $2", user_id, now - _KEEP
        )
        used, next_at = await _count(conn, user_id, limit, now)
        if used >= limit.count:
            return RelayVerdict(allowed=False, used=used, limit=limit.count, next_at=next_at)
        await conn.execute("INSERT INTO support_relays (user_id, relayed_at) VALUES ($1, $2)", user_id, now)
        return RelayVerdict(allowed=True, used=used + 1, limit=limit.count)
