"""Leader election primitives: a session advisory lock plus an informational ``leadership`` row.

The lock is the truth: ``pg_try_advisory_lock(key)`` on a connection that never returns to the
pool (asyncpg's pool reset runs ``pg_advisory_unlock_all()`` on release, see DESIGN.md
"Concurrency"). PostgreSQL releases it when that session ends, however it ends — so a crashed
leader's lock frees itself and another instance takes over. The ``leadership`` row only tells
operators (``/readyz``, the admin dashboard) who leads, since when, and when it last proved alive.

The service that uses these is :mod:`kiebot.runtime.leader`.
"""

from __future__ import annotations

import hashlib
from datetime import datetime

import msgspec

from kiebot.store.db import Conn

DEFAULT_NAME = "kiebot"


class LeaderInfo(msgspec.Struct, frozen=True):
    """The ``leadership`` row: ``heartbeat_age_s`` is measured by the database clock."""

    name: str
    instance: str
    since: datetime
    heartbeat_at: datetime
    heartbeat_age_s: float


def lock_key(name: str = DEFAULT_NAME) -> int:
    """The advisory lock key for leadership ``name``: a stable signed 64-bit number.

    Different names (and the migration lock) never share a key in practice; advisory locks are
    per database, so two deployments on two databases never contend.
    """
    digest = hashlib.blake2b(f"kiebot-leader:{name}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


async def prepare_session(conn: Conn, *, idle_timeout_s: float) -> None:
    """Make a dead or frozen leader lose its lock within about a minute.

    * TCP keepalives (10 s idle, then 3 probes 5 s apart): the server notices a vanished client
      host in ~25 s instead of the OS default of two hours (ignored on unix sockets).
    * ``idle_session_timeout`` (PostgreSQL ≥ 14): a session that stays idle longer than
      ``idle_timeout_s`` — a leader whose process froze and stopped heartbeating — is closed by
      the server, which releases the lock; ``client_connection_check_interval`` (2 s) ends a
      session whose client vanished while its statement waits (a hung heartbeat we aborted).
    """
    await conn.execute("SET tcp_keepalives_idle = 10; SET tcp_keepalives_interval = 5; SET tcp_keepalives_count = 3")
    if int(await conn.fetchval("SELECT current_setting('server_version_num')::int")) >= 140000:
        await conn.execute("SELECT set_config('idle_session_timeout', $1, false)", f"{max(1, int(idle_timeout_s * 1000))}")
        await conn.execute("SET client_connection_check_interval = 2000")


async def try_acquire(conn: Conn, key: int) -> bool:
    """Take the lock without waiting; True when this session holds it (re-entrant per session)."""
    return bool(await conn.fetchval("SELECT pg_try_advisory_lock($1)", key))


async def release(conn: Conn, key: int) -> bool:
    """Give the lock back (closing the session does it too)."""
    return bool(await conn.fetchval("SELECT pg_advisory_unlock($1)", key))


async def lock_holder_pid(conn: Conn, key: int) -> int | None:
    """The backend pid holding the lock ``key``, or None (diagnostics; tests terminate it)."""
    unsigned = key & 0xFFFF_FFFF_FFFF_FFFF
    pid = await conn.fetchval(
        """
        SELECT pid FROM pg_locks
        WHERE locktype = 'advisory' AND granted AND objsubid = 1
          AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
          AND classid::bigint = $1 AND objid::bigint = $2
        """,
        unsigned >> 32,
        unsigned & 0xFFFF_FFFF,
    )
    return int(pid) if pid is not None else None


async def record_leader(conn: Conn, name: str, instance: str) -> datetime:
    """Write the row for a new term; returns its ``since`` (database time)."""
    since: datetime = await conn.fetchval(
        """
        INSERT INTO leadership (name, instance, since, heartbeat_at) VALUES ($1, $2, now(), now())
        ON CONFLICT (name) DO UPDATE SET instance = EXCLUDED.instance, since = now(), heartbeat_at = now()
        RETURNING since
        """,
        name,
        instance,
    )
    return since


async def heartbeat(conn: Conn, name: str, instance: str, since: datetime) -> None:
    """Prove the leader alive: refresh ``heartbeat_at`` (and restore the row if someone removed it).

    This statement is also the connection probe: it fails or hangs when the session is gone.
    """
    await conn.execute(
        """
        INSERT INTO leadership (name, instance, since, heartbeat_at) VALUES ($1, $2, $3, now())
        ON CONFLICT (name) DO UPDATE SET instance = EXCLUDED.instance, since = EXCLUDED.since, heartbeat_at = now()
        """,
        name,
        instance,
        since,
    )


async def clear_leader(conn: Conn, name: str, instance: str, since: datetime) -> bool:
    """Remove the row on a graceful step-down, if it is still this term's."""
    return bool(
        await conn.fetchval(
            "DELETE FROM leadership WHERE name = $1 AND instance = $2 AND since = $3 RETURNING true",
            name,
            instance,
            since,
        )
    )


async def get_leader(conn: Conn, name: str = DEFAULT_NAME) -> LeaderInfo | None:
    """Who leads (or last led, if ``heartbeat_age_s`` is large: a crashed leader leaves its row)."""
    row = await conn.fetchrow(
        """
        SELECT name, instance, since, heartbeat_at,
               greatest(0, extract(epoch FROM now() - heartbeat_at))::float8 AS heartbeat_age_s
        FROM leadership WHERE name = $1
        """,
        name,
    )
    if row is None:
        return None
    return LeaderInfo(row["name"], row["instance"], row["since"], row["heartbeat_at"], row["heartbeat_age_s"])
