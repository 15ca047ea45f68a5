"""Broadcasts: an admin's message to every reachable user, resumable after a restart without ever
sending twice to anyone.

Starting a broadcast snapshots its recipients (users who neither blocked the bot nor are banned)
into ``broadcast_recipients``. A sender claims a batch (``pending`` → ``sending``, SKIP LOCKED so
several senders never share a recipient), sends, and marks each ``sent``, ``failed`` or
``blocked``. After a crash, a recipient left in ``sending`` may or may not have received the
message, so it is never claimed again: delivery is at most once per recipient, which is what a
user expects of an announcement. Pace the sends with the Telegram limiter (~30 messages/s overall,
https://core.telegram.org/bots/faq#my-bot-is-hitting-limits-how-do-i-avoid-this).
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import msgspec

from kiebot.store.db import Conn, Record

RecipientOutcome = Literal["sent", "failed", "blocked"]


class Broadcast(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    admin_id: int
    text: str
    status: str  # draft | sending | done | cancelled
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    total: int
    sent: int
    failed: int
    blocked: int


class UnknownBroadcast(LookupError):
    def __init__(self, broadcast_id: int) -> None:
        super().__init__(f"no broadcast {broadcast_id}")
        self.broadcast_id = broadcast_id


class BroadcastClosed(Exception):
    """The broadcast is done or cancelled; it cannot be started again."""

    def __init__(self, broadcast_id: int, status: str) -> None:
        super().__init__(f"broadcast {broadcast_id} is {status}")
        self.broadcast_id = broadcast_id
        self.status = status


_COLUMNS = "id, admin_id, text, status, created_at, started_at, finished_at, total, sent, failed, blocked"


def _broadcast(row: Record) -> Broadcast:
    return Broadcast(**{k: row[k] for k in Broadcast.__struct_fields__})


async def create_broadcast(conn: Conn, admin_id: int, text: str) -> Broadcast:
    """A draft; nothing is sent until :func:`start_broadcast`."""
    if not text.strip():
        raise ValueError("a broadcast needs a text")
    row = await conn.fetchrow(
        f"INSERT INTO broadcasts (admin_id, text) VALUES ($1, $2) RETURNING {_COLUMNS}", admin_id, text
    )
    assert row is not None
    return _broadcast(row)


async def get_broadcast(conn: Conn, broadcast_id: int) -> Broadcast | None:
    row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM broadcasts WHERE id = $1", broadcast_id)
    return None if row is None else _broadcast(row)


async def start_broadcast(conn: Conn, broadcast_id: int) -> Broadcast:
    """Snapshot the recipients and switch to ``sending``; starting it again changes nothing."""
    async with conn.transaction():
        row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM broadcasts WHERE id = $1 FOR UPDATE", broadcast_id)
        if row is None:
            raise UnknownBroadcast(broadcast_id)
        broadcast = _broadcast(row)
        if broadcast.status == "sending":
            return broadcast
        if broadcast.status != "draft":
            raise BroadcastClosed(broadcast_id, broadcast.status)
        status = await conn.execute(
            """
            INSERT INTO broadcast_recipients (broadcast_id, user_id)
            SELECT $1, user_id FROM users WHERE NOT blocked_bot AND NOT banned
            """,
            broadcast_id,
        )
        total = int(status.rsplit(" ", 1)[1])
        started = await conn.fetchrow(
            f"""
            UPDATE broadcasts SET status = 'sending', started_at = now(), total = $2 WHERE id = $1
            RETURNING {_COLUMNS}
            """,
            broadcast_id,
            total,
        )
        assert started is not None
        return _broadcast(started)


async def claim_recipients(conn: Conn, broadcast_id: int, limit: int) -> list[int]:
    """Up to ``limit`` pending recipients, now marked ``sending`` (ordered by user id).

    Nothing is returned for a broadcast that is not ``sending`` (e.g. cancelled).
    """
    rows = await conn.fetch(
        """
        WITH c AS (
            SELECT r.user_id FROM broadcast_recipients r
            JOIN broadcasts b ON b.id = r.broadcast_id AND b.status = 'sending'
            WHERE r.broadcast_id = $1 AND r.status = 'pending'
            ORDER BY r.user_id LIMIT $2
            FOR UPDATE OF r SKIP LOCKED
        )
        UPDATE broadcast_recipients r SET status = 'sending', at = now()
        FROM c WHERE r.broadcast_id = $1 AND r.user_id = c.user_id
        RETURNING r.user_id
        """,
        broadcast_id,
        limit,
    )
    return sorted(int(r["user_id"]) for r in rows)


async def mark_recipient(conn: Conn, broadcast_id: int, user_id: int, outcome: RecipientOutcome) -> bool:
    """Record the send's outcome (only for a recipient in ``sending``); ``blocked`` also marks the
    user as having blocked the bot. False when the recipient was not in ``sending``."""
    async with conn.transaction():
        changed = await conn.fetchval(
            """
            UPDATE broadcast_recipients SET status = $3, at = now()
            WHERE broadcast_id = $1 AND user_id = $2 AND status = 'sending'
            RETURNING user_id
            """,
            broadcast_id,
            user_id,
            outcome,
        )
        if changed is None:
            return False
        await conn.execute(
            """
            UPDATE broadcasts SET sent = sent + ($2 = 'sent')::int, failed = failed + ($2 = 'failed')::int,
                                  blocked = blocked + ($2 = 'blocked')::int
            WHERE id = $1
            """,
            broadcast_id,
            outcome,
        )
        if outcome == "blocked":
            await conn.execute("UPDATE users SET blocked_bot = true WHERE user_id = $1", user_id)
        return True


async def finish_if_complete(conn: Conn, broadcast_id: int) -> Broadcast:
    """Mark a ``sending`` broadcast ``done`` once no recipient is pending (those left in
    ``sending`` by a crash count as possibly sent); returns the broadcast as it now is."""
    row = await conn.fetchrow(
        f"""
        UPDATE broadcasts SET status = 'done', finished_at = now()
        WHERE id = $1 AND status = 'sending'
          AND NOT EXISTS (SELECT 1 FROM broadcast_recipients WHERE broadcast_id = $1 AND status = 'pending')
        RETURNING {_COLUMNS}
        """,
        broadcast_id,
    )
    if row is not None:
        return _broadcast(row)
    current = await get_broadcast(conn, broadcast_id)
    if current is None:
        raise UnknownBroadcast(broadcast_id)
    return current


async def cancel_broadcast(conn: Conn, broadcast_id: int) -> bool:
    """Stop a draft or sending broadcast: pending recipients are never claimed. False if closed."""
    status = await conn.execute(
        """
        UPDATE broadcasts SET status = 'cancelled', finished_at = now()
        WHERE id = $1 AND status IN ('draft', 'sending')
        """,
        broadcast_id,
    )
    return status == "UPDATE 1"


async def active_broadcasts(conn: Conn) -> list[Broadcast]:
    """Broadcasts in ``sending``: what a (re)started sender resumes."""
    rows = await conn.fetch(f"SELECT {_COLUMNS} FROM broadcasts WHERE status = 'sending' ORDER BY id")
    return [_broadcast(r) for r in rows]


async def recipient_counts(conn: Conn, broadcast_id: int) -> dict[str, int]:
    """Recipients by status (pending, sending, sent, failed, blocked), zeros included."""
    rows = await conn.fetch(
        "SELECT status, count(*) AS n FROM broadcast_recipients WHERE broadcast_id = $1 GROUP BY status",
        broadcast_id,
    )
    counts = dict.fromkeys(("pending", "sending", "sent", "failed", "blocked"), 0)
    counts.update({r["status"]: int(r["n"]) for r in rows})
    return counts
