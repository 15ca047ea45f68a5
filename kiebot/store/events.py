"""The ``events`` table: what happened, when, to whom — generation steps and operational events.

Written by the generation pipeline (``job.submitted``, ``job.failed``…), the scheduler
(``fx.updated``, ``kie.low_credits``…) and the supervisor (``service.restarted``…); read by the
admin dashboard and by operators with SQL. Not an audit log (``audit_log`` is kept forever) and not
a ledger: events are kept :data:`RETENTION_DAYS` days, then :func:`cleanup` deletes them.

``job_id`` is the jobs table's id, without a foreign key: events outlive job rows and
operational events have none.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import msgspec

from kiebot.store.db import Conn, Record

RETENTION_DAYS = 30
_MAX_LIMIT = 1000


class Event(msgspec.Struct, frozen=True):
    id: int
    at: datetime
    kind: str
    user_id: int | None
    job_id: int | None
    payload: dict[str, Any]


def _event(row: Record) -> Event:
    return Event(row["id"], row["at"], row["kind"], row["user_id"], row["job_id"], dict(row["payload"]))


async def record_event(
    conn: Conn,
    kind: str,
    *,
    user_id: int | None = None,
    job_id: int | None = None,
    payload: Mapping[str, Any] | None = None,
) -> int:
    """Append one event (in the caller's transaction, if any); returns its id.

    ``payload`` must be JSON-serialisable and must not carry secrets or personal data beyond ids.
    """
    if not kind:
        raise ValueError("event kind must not be empty")
    event_id = await conn.fetchval(
        "INSERT INTO events (kind, user_id, job_id, payload) VALUES ($1, $2, $3, $4) RETURNING id",
        kind,
        user_id,
        job_id,
        dict(payload or {}),
    )
    return int(event_id)


async def recent_events(
    conn: Conn,
    *,
    kind: str | None = None,
    user_id: int | None = None,
    job_id: int | None = None,
    since: datetime | None = None,
    limit: int = 50,
) -> list[Event]:
    """Newest first, optionally filtered by kind, user, job and time (all filters combine)."""
    rows = await conn.fetch(
        """
        SELECT id, at, kind, user_id, job_id, payload FROM events
        WHERE ($1::text IS NULL OR kind = $1)
          AND ($2::bigint IS NULL OR user_id = $2)
          AND ($3::bigint IS NULL OR job_id = $3)
          AND ($4::timestamptz IS NULL OR at >= $4)
        ORDER BY at DESC, id DESC
        LIMIT $5
        """,
        kind,
        user_id,
        job_id,
        since,
        min(max(limit, 1), _MAX_LIMIT),
    )
    return [_event(r) for r in rows]


async def count_events(conn: Conn, kind: str, *, since: datetime) -> int:
    """How many events of ``kind`` happened since ``since`` (dashboard counters)."""
    return int(await conn.fetchval("SELECT count(*) FROM events WHERE kind = $1 AND at >= $2", kind, since))


async def cleanup(conn: Conn, *, older_than_days: float = RETENTION_DAYS, batch: int = 10000) -> int:
    """Delete events older than ``older_than_days`` in batches; returns how many were deleted."""
    total = 0
    while True:
        deleted = int(
            await conn.fetchval(
                """
                WITH gone AS (
                    DELETE FROM events WHERE id IN (
                        SELECT id FROM events WHERE at < now() - make_interval(secs => $1) LIMIT $2
                    )
                    RETURNING 1
                )
                SELECT count(*) FROM gone
                """,
                float(older_than_days) * 86400.0,
                batch,
            )
        )
        total += deleted
        if deleted < batch:
            return total
