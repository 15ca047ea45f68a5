"""What the private operations endpoints show: gauges refreshed from the database while a
``/metrics`` page is rendered, and the short ``/health`` summary.

``/health`` says nothing about money (no revenue, no balances, no prices): it is for a human
checking the service, who has no need of them. ``/metrics`` does carry money (held, top-ups) for
the operator's dashboard, one reason both are private (``METRICS_TOKEN``). Both run at
most once per few seconds however often they are asked (:mod:`kiebot.runtime.probes`), and their
database work is bounded by ``Limits.probe_db_s``: when the pool is busy or the database away they
answer with what they have instead of queueing for a connection.
"""

from __future__ import annotations

import time
from typing import Any

import trio

from kiebot.catalog.fx import FxCache
from kiebot.metrics import Metrics
from kiebot.runtime.handle import AppHandle
from kiebot.runtime.leader import Leadership
from kiebot.store import inbox, money
from kiebot.store import stats as store_stats
from kiebot.store.db import Database, DatabaseUnavailable


async def refresh_gauges(db: Database, metrics: Metrics, leadership: Leadership, *, db_s: float) -> None:
    """Set the database-derived gauges; past ``db_s`` they keep their last values."""
    metrics.is_leader.set(1 if leadership.is_leader else 0)
    with trio.fail_after(db_s):
        async with db.connection() as conn:
            stats = await inbox.stats(conn)
            depth = await store_stats.queue_depth(conn)
            by_kind = await store_stats.queue_depth_by_kind(conn)
            held = await money.total_held(conn)
    metrics.inbox_pending.set(stats.pending)
    metrics.inbox_lag.set(stats.oldest_pending_age_s)
    for state, count in depth.items():
        metrics.jobs.labels(state=state).set(count)
    metrics.jobs_by_kind.clear()  # a pair that emptied must not keep its last count
    for (state, kind), count in by_kind.items():
        metrics.jobs_by_kind.labels(state=state, kind=kind).set(count)
    metrics.held_kopecks.set(held)


async def summary(handle: AppHandle, fx: FxCache) -> dict[str, Any]:
    """Mode, uptime, database, inbox, jobs by state, webhook: nothing about money."""
    try:
        with trio.fail_after(handle.settings.limits.probe_db_s):
            async with handle.db.connection() as conn:
                stats = await inbox.stats(conn)
                depth = await store_stats.queue_depth(conn)
        db_state = "ok"
    except DatabaseUnavailable:
        stats, depth, db_state = None, {}, "unreachable"
    except trio.TooSlowError:
        stats, depth, db_state = None, {}, "busy"
    rate = fx.current()
    return {
        "status": "ok",
        "instance": handle.settings.instance_name,
        "mode": handle.leadership.mode,
        "bot_mode": handle.settings.bot_mode,
        "uptime_s": round(time.time() - handle.started_at, 1),
        "db": db_state,
        "inbox_pending": stats.pending if stats else None,
        "inbox_lag_s": round(stats.oldest_pending_age_s, 3) if stats else None,
        "jobs": depth,
        # Where the exchange rate comes from and how fresh it is; the rate itself is a price input.
        "fx": {"date": rate.date.isoformat() if rate.date else None, "source": rate.source},
        "webhook": handle.readiness.webhook,
    }
