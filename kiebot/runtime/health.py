"""What the probes and the scrape show: gauges refreshed from the database before each
``/metrics`` scrape, and the short ``/health`` summary."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from kiebot.catalog.fx import FxCache
from kiebot.metrics import Metrics
from kiebot.runtime.handle import AppHandle
from kiebot.runtime.leader import Leadership
from kiebot.store import inbox, money
from kiebot.store import stats as store_stats
from kiebot.store.db import Database, DatabaseUnavailable


def utcnow() -> datetime:
    return datetime.now(UTC)


async def refresh_gauges(db: Database, metrics: Metrics, leadership: Leadership) -> None:
    metrics.is_leader.set(1 if leadership.is_leader else 0)
    async with db.connection() as conn:
        stats = await inbox.stats(conn)
        depth = await store_stats.queue_depth(conn)
        held = await money.total_held(conn)
    metrics.inbox_pending.set(stats.pending)
    metrics.inbox_lag.set(stats.oldest_pending_age_s)
    for state, count in depth.items():
        metrics.jobs.labels(state=state).set(count)
    metrics.held_kopecks.set(held)


async def summary(handle: AppHandle, fx: FxCache) -> dict[str, Any]:
    revenue: dict[str, Any] | None = None
    try:
        async with handle.db.connection() as conn:
            stats = await inbox.stats(conn)
            depth = await store_stats.queue_depth(conn)
            now = utcnow()
            today = await store_stats.revenue(conn, store_stats.day_start(now), now)
        db_state = "ok"
        revenue = {"stars": today.stars, "stars_kopecks": today.kopecks, "manual_kopecks": today.manual_kopecks, "net_kopecks": today.net_kopecks}
    except DatabaseUnavailable:
        stats, depth, db_state = None, {}, "unreachable"
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
        "fx": {"rub_per_usd": str(rate.rub_per_usd), "date": rate.date.isoformat() if rate.date else None, "source": rate.source},
        "webhook": handle.readiness.webhook,
        "revenue_today": revenue,
    }
