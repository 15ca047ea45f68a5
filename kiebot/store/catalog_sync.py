"""What the catalogue sync and the model health keep (tables of migration ``0007_catalog_sync``).

* ``catalog_sync_reports`` — every sync's report as JSON (the ``catalog sync --json`` document);
  the admin panel shows the newest, the next daily run compares its missing models with it;
* ``catalog_price_texts`` — each sold model's ``pricingDesc`` as last seen, so a change reaches
  the admins with the text before and after;
* ``model_health`` — the last hour at Kie per model (``/success-rate``), read by the model card,
  the order summary and the circuit breaker.

A model missing from Kie's catalogue is paused through ``model_overrides`` (the admin's own switch,
so "Enable" in the Models screen resumes it), written by :data:`SYSTEM_ACTOR` and audited in the
same transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any, Final

import msgspec

from kiebot.store.admin import record_admin_action
from kiebot.store.db import Conn

#: ``admin_id`` of changes the bot makes by itself (the daily sync's pause of a missing model).
SYSTEM_ACTOR: Final = 0
#: Reports kept; older ones are deleted by :func:`save_report`.
KEEP_REPORTS: Final = 30
#: A health reading older than this is not shown (the 15-minute job has stopped, or lost leadership).
HEALTH_MAX_AGE: Final = timedelta(hours=1)


class StoredReport(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    checked_at: datetime
    drift_count: int
    report: dict[str, Any]

    def drift_of(self, kind: str) -> list[str]:
        return [str(d.get("model")) for d in self.report.get("drift", []) if isinstance(d, dict) and d.get("kind") == kind]


class ModelHealth(msgspec.Struct, frozen=True, kw_only=True):
    model_id: str
    success_rate: float | None
    buckets: int
    troubled: bool
    checked_at: datetime


# ---- reports ------------------------------------------------------------------------------------


async def save_report(conn: Conn, report: Mapping[str, Any], *, checked_at: datetime, drift_count: int) -> int:
    """Store one report and prune to the newest :data:`KEEP_REPORTS`; returns its id."""
    report_id = await conn.fetchval(
        "INSERT INTO catalog_sync_reports (checked_at, drift_count, report) VALUES ($1, $2, $3) RETURNING id",
        checked_at,
        drift_count,
        dict(report),
    )
    await conn.execute(
        "DELETE FROM catalog_sync_reports WHERE id NOT IN (SELECT id FROM catalog_sync_reports ORDER BY id DESC LIMIT $1)",
        KEEP_REPORTS,
    )
    return int(report_id)


async def last_report(conn: Conn) -> StoredReport | None:
    row = await conn.fetchrow("SELECT id, checked_at, drift_count, report FROM catalog_sync_reports ORDER BY id DESC LIMIT 1")
    if row is None:
        return None
    report = row["report"] if isinstance(row["report"], dict) else {}
    return StoredReport(id=row["id"], checked_at=row["checked_at"], drift_count=row["drift_count"], report=report)


# ---- price texts --------------------------------------------------------------------------------


async def price_texts(conn: Conn) -> dict[str, str]:
    rows = await conn.fetch("SELECT model_id, pricing_desc FROM catalog_price_texts")
    return {r["model_id"]: r["pricing_desc"] for r in rows}


async def save_price_texts(conn: Conn, texts: Mapping[str, str], now: datetime) -> None:
    """Remember each text as seen now; ``changed_at`` moves only when the text differs."""
    for model_id, text in texts.items():
        await conn.execute(
            """
            INSERT INTO catalog_price_texts AS t (model_id, pricing_desc, seen_at) VALUES ($1, $2, $3)
            ON CONFLICT (model_id) DO UPDATE SET
                changed_at = CASE WHEN t.pricing_desc <> EXCLUDED.pricing_desc THEN EXCLUDED.seen_at ELSE t.changed_at END,
                pricing_desc = EXCLUDED.pricing_desc,
                seen_at = EXCLUDED.seen_at
            """,
            model_id,
            text,
            now,
        )


# ---- pausing a model that left Kie's catalogue --------------------------------------------------


async def pause_missing(conn: Conn, model_id: str) -> bool:
    """Switch the model off (as :data:`SYSTEM_ACTOR`), audited; False when it was already off."""
    async with conn.transaction():
        before = await conn.fetchval("SELECT enabled FROM model_overrides WHERE model_id = $1 FOR UPDATE", model_id)
        if before is False:
            return False
        await conn.execute(
            """
            INSERT INTO model_overrides (model_id, enabled, updated_by) VALUES ($1, false, $2)
            ON CONFLICT (model_id) DO UPDATE SET enabled = false, updated_by = EXCLUDED.updated_by, updated_at = now()
            """,
            model_id,
            SYSTEM_ACTOR,
        )
        await record_admin_action(
            conn,
            SYSTEM_ACTOR,
            "catalog_missing_pause",
            f"model:{model_id}",
            before=None if before is None else {"enabled": before},
            after={"enabled": False, "reason": "absent from Kie's catalogue"},
        )
    return True


# ---- health -------------------------------------------------------------------------------------


async def save_health(conn: Conn, readings: Iterable[tuple[str, float | None, int, bool]], now: datetime) -> None:
    """``(model_id, success_rate, buckets, troubled)`` per model, checked ``now``."""
    for model_id, rate, buckets, troubled in readings:
        await conn.execute(
            """
            INSERT INTO model_health (model_id, success_rate, buckets, troubled, checked_at) VALUES ($1, $2, $3, $4, $5)
            ON CONFLICT (model_id) DO UPDATE SET success_rate = EXCLUDED.success_rate, buckets = EXCLUDED.buckets,
                troubled = EXCLUDED.troubled, checked_at = EXCLUDED.checked_at
            """,
            model_id,
            rate,
            buckets,
            troubled,
            now,
        )


async def all_health(conn: Conn) -> dict[str, ModelHealth]:
    rows = await conn.fetch("SELECT model_id, success_rate, buckets, troubled, checked_at FROM model_health")
    return {r["model_id"]: ModelHealth(**{k: r[k] for k in ModelHealth.__struct_fields__}) for r in rows}


async def troubled(conn: Conn, model_id: str, now: datetime, *, max_age: timedelta = HEALTH_MAX_AGE) -> bool:
    """Whether Kie reported problems with this model within the last reading (not older than ``max_age``)."""
    value = await conn.fetchval(
        "SELECT troubled FROM model_health WHERE model_id = $1 AND checked_at > $2", model_id, now - max_age
    )
    return bool(value)
