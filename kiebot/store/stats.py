"""Dashboard queries for the admin panel: users, revenue, jobs by outcome, typical durations,
the queue and the money held in flight. Read-only; "today" is the calendar day of ``now`` on the clock the caller names (UTC by default).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, tzinfo

import msgspec

from kiebot.store import money, users
from kiebot.store.db import Conn
from kiebot.store.jobs import ACTIVE_STATES


class Revenue(msgspec.Struct, frozen=True, kw_only=True):
    """Money in over a period: Stars charges (gross), their refunds, approved manual top-ups."""

    payments: int
    stars: int
    kopecks: int
    refunds: int
    refunded_stars: int
    refunded_kopecks: int
    manual_topups: int
    manual_kopecks: int

    @property
    def net_kopecks(self) -> int:
        return self.kopecks - self.refunded_kopecks + self.manual_kopecks


class JobsOverview(msgspec.Struct, frozen=True, kw_only=True):
    """Jobs created in a period by their current state, and how long deliveries took per kind."""

    by_state: dict[str, int]
    free: int
    median_seconds_by_kind: dict[str, float]


class Dashboard(msgspec.Struct, frozen=True, kw_only=True):
    users: users.UserCounts
    revenue_today: Revenue
    revenue_7d: Revenue
    jobs_today: JobsOverview
    jobs_7d: JobsOverview
    queue: dict[str, int]
    total_held: int
    pending_topups: int
    open_breakers: int


def day_start(now: datetime, zone: tzinfo = UTC) -> datetime:
    """Midnight of ``now``'s day on the deployment's clock (``TIMEZONE``), so the panel's "today"
    is the day its times are written in."""
    return now.astimezone(zone).replace(hour=0, minute=0, second=0, microsecond=0)


async def revenue(conn: Conn, since: datetime, until: datetime) -> Revenue:
    row = await conn.fetchrow(
        """
        SELECT
            (SELECT count(*) FROM stars_payments WHERE paid_at >= $1 AND paid_at < $2) AS payments,
            (SELECT coalesce(sum(stars), 0) FROM stars_payments WHERE paid_at >= $1 AND paid_at < $2) AS stars,
            (SELECT coalesce(sum(kopecks), 0) FROM stars_payments WHERE paid_at >= $1 AND paid_at < $2) AS kopecks,
            (SELECT count(*) FROM stars_payments WHERE refunded_at >= $1 AND refunded_at < $2) AS refunds,
            (SELECT coalesce(sum(stars), 0) FROM stars_payments
              WHERE refunded_at >= $1 AND refunded_at < $2) AS refunded_stars,
            (SELECT coalesce(sum(kopecks), 0) FROM stars_payments
              WHERE refunded_at >= $1 AND refunded_at < $2) AS refunded_kopecks,
            (SELECT count(*) FROM manual_topups
              WHERE status = 'approved' AND decided_at >= $1 AND decided_at < $2) AS manual_topups,
            (SELECT coalesce(sum(amount_kopecks), 0) FROM manual_topups
              WHERE status = 'approved' AND decided_at >= $1 AND decided_at < $2) AS manual_kopecks
        """,
        since,
        until,
    )
    assert row is not None
    return Revenue(**{k: int(row[k]) for k in Revenue.__struct_fields__})


async def jobs_overview(conn: Conn, since: datetime, until: datetime) -> JobsOverview:
    states = await conn.fetch(
        """
        SELECT state, count(*) AS n, count(*) FILTER (WHERE free) AS free FROM jobs
        WHERE created_at >= $1 AND created_at < $2 GROUP BY state
        """,
        since,
        until,
    )
    durations = await conn.fetch(
        """
        SELECT kind, percentile_cont(0.5) WITHIN GROUP (
                   ORDER BY extract(epoch FROM delivered_at - created_at)) AS median
        FROM jobs
        WHERE state = 'delivered' AND delivered_at >= $1 AND delivered_at < $2
        GROUP BY kind
        """,
        since,
        until,
    )
    return JobsOverview(
        by_state={r["state"]: int(r["n"]) for r in states},
        free=sum(int(r["free"]) for r in states),
        median_seconds_by_kind={r["kind"]: float(r["median"]) for r in durations},
    )


async def queue_depth(conn: Conn) -> dict[str, int]:
    """Unfinished jobs by state (zeros included): the generation pipeline's backlog."""
    rows = await conn.fetch(
        "SELECT state, count(*) AS n FROM jobs WHERE state = ANY($1::text[]) GROUP BY state",
        list(ACTIVE_STATES),
    )
    depth: dict[str, int] = dict.fromkeys(ACTIVE_STATES, 0)
    depth.update({r["state"]: int(r["n"]) for r in rows})
    return depth


async def queue_depth_by_kind(conn: Conn) -> dict[tuple[str, str], int]:
    """Unfinished jobs by (state, kind), only the pairs that have some (for the metrics scrape)."""
    rows = await conn.fetch(
        "SELECT state, kind, count(*) AS n FROM jobs WHERE state = ANY($1::text[]) GROUP BY state, kind",
        list(ACTIVE_STATES),
    )
    return {(r["state"], r["kind"]): int(r["n"]) for r in rows}


async def dashboard(conn: Conn, now: datetime, zone: tzinfo = UTC) -> Dashboard:
    """Everything the admin panel's first screen shows, as of ``now``; "today" on ``zone``'s clock."""
    today = day_start(now, zone)
    week = now - timedelta(days=7)
    return Dashboard(
        users=await users.user_counts(conn, now, zone),
        revenue_today=await revenue(conn, today, now),
        revenue_7d=await revenue(conn, week, now),
        jobs_today=await jobs_overview(conn, today, now),
        jobs_7d=await jobs_overview(conn, week, now),
        queue=await queue_depth(conn),
        total_held=await money.total_held(conn),
        pending_topups=int(
            await conn.fetchval("SELECT count(*) FROM manual_topups WHERE status = 'pending'")
        ),
        open_breakers=int(await conn.fetchval("SELECT count(*) FROM circuit_breakers WHERE state = 'open'")),
    )


# ---- look-ups for the admin panel (search, broadcasts) -----------------------------------------------


async def job_ids_by_request_id(conn: Conn, request_id: str, limit: int = 10) -> list[int]:
    """Jobs created under ``request_id`` (the id a user quotes from an error message), newest first.

    Not indexed: an admin's occasional search scans ``jobs``; add an index if that ever shows up.
    """
    if not request_id:
        return []
    rows = await conn.fetch(
        "SELECT id FROM jobs WHERE request_id = $1 ORDER BY id DESC LIMIT $2", request_id, limit
    )
    return [int(r["id"]) for r in rows]


async def reachable_users(conn: Conn) -> int:
    """Users a broadcast started now would go to: neither blocked the bot nor banned."""
    return int(await conn.fetchval("SELECT count(*) FROM users WHERE NOT blocked_bot AND NOT banned"))


async def recent_broadcast_ids(conn: Conn, limit: int = 5) -> list[int]:
    """The newest broadcasts (any status), for the admin's broadcast screen."""
    rows = await conn.fetch("SELECT id FROM broadcasts ORDER BY id DESC LIMIT $1", limit)
    return [int(r["id"]) for r in rows]
