"""Variants paused for sale, and the once-a-day drift alarm per variant (migration 0008_billed_credits).

A variant is one priced combination of a model (``catalog.pricing.sku_key``:
``duration=10,sound=true``, or ``default``). When Kie bills a task of a variant at or above what
users pay for it (issue 15 item 2), selling it again loses money on every job, so it is paused at
once and stays paused until an admin resumes it — a breaker that closes by itself would sell the
loss again.

Race with confirm: :func:`check_for_sale` runs inside the confirm's transaction (before the hold)
and takes a *shared* transaction-level advisory lock on the variant; :func:`pause` takes the
*exclusive* one. So a pause waits for confirms already past their check to commit (those jobs were
sold before the pause and keep their quoted price), and every confirm that starts its check after
the pause committed sees the pause row and refuses — never a hold for a paused variant after the
pause committed. The lock uses the two-key form (namespace, ``hashtext``), a key space distinct
from the single-key leadership and migration locks; a hash collision only makes two variants wait
for each other for a moment.
"""

from __future__ import annotations

from datetime import date, datetime

import msgspec

from kiebot.store import admin
from kiebot.store.db import Conn, Record

#: First key of the variant locks: "kv" (kiebot variant).
LOCK_NAMESPACE = 0x6B76

_COLUMNS = "model_id, sku_key, reason, job_id, quoted_credits, billed_credits, paused_at"


class VariantPause(msgspec.Struct, frozen=True, kw_only=True):
    model_id: str
    sku_key: str
    reason: str
    job_id: int | None
    quoted_credits: float
    billed_credits: float
    paused_at: datetime


class VariantPaused(Exception):
    """Confirm refused: the variant is paused for sale (nothing was written)."""

    def __init__(self, pause: VariantPause) -> None:
        super().__init__(f"{pause.model_id} [{pause.sku_key}] is paused for sale")
        self.pause = pause


def _pause(row: Record) -> VariantPause:
    return VariantPause(**{k: row[k] for k in VariantPause.__struct_fields__})


def _variant_text(model_id: str, sku_key: str) -> str:
    # U+001F (unit separator) cannot occur in a model id or a SKU key.
    return f"{model_id}\x1f{sku_key}"


async def check_for_sale(conn: Conn, model_id: str, sku_key: str) -> None:
    """Inside a confirm's transaction: raise :class:`VariantPaused` if the variant is paused.

    Holds a shared lock on the variant until the transaction ends (see the module docstring).
    """
    await conn.execute(
        "SELECT pg_advisory_xact_lock_shared($1, hashtext($2))", LOCK_NAMESPACE, _variant_text(model_id, sku_key)
    )
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM variant_pauses WHERE model_id = $1 AND sku_key = $2", model_id, sku_key
    )
    if row is not None:
        raise VariantPaused(_pause(row))


async def pause(
    conn: Conn,
    model_id: str,
    sku_key: str,
    *,
    job_id: int | None,
    quoted_credits: float,
    billed_credits: float,
    reason: str = "billed_over_price",
) -> bool:
    """Pause the variant for sale; True when this call paused it (False: it already was)."""
    async with conn.transaction():
        await conn.execute(
            "SELECT pg_advisory_xact_lock($1, hashtext($2))", LOCK_NAMESPACE, _variant_text(model_id, sku_key)
        )
        inserted = await conn.fetchval(
            """
            INSERT INTO variant_pauses (model_id, sku_key, reason, job_id, quoted_credits, billed_credits)
            VALUES ($1, $2, $3, $4, $5, $6)
            ON CONFLICT (model_id, sku_key) DO NOTHING
            RETURNING model_id
            """,
            model_id,
            sku_key,
            reason,
            job_id,
            float(quoted_credits),
            float(billed_credits),
        )
    return inserted is not None


async def resume(conn: Conn, model_id: str, sku_key: str, admin_id: int) -> VariantPause | None:
    """Put the variant back on sale, audit-logged in the same transaction; None if not paused."""
    async with conn.transaction():
        row = await conn.fetchrow(
            f"DELETE FROM variant_pauses WHERE model_id = $1 AND sku_key = $2 RETURNING {_COLUMNS}",
            model_id,
            sku_key,
        )
        if row is None:
            return None
        gone = _pause(row)
        await admin.record_admin_action(
            conn,
            admin_id,
            "variant_resume",
            f"model:{model_id}:{sku_key}",
            before={
                "paused_at": gone.paused_at.isoformat(),
                "reason": gone.reason,
                "job_id": gone.job_id,
                "quoted_credits": gone.quoted_credits,
                "billed_credits": gone.billed_credits,
            },
            after={"paused": False},
        )
    return gone


async def paused_variants(conn: Conn, model_id: str | None = None) -> list[VariantPause]:
    """Every paused variant (of ``model_id`` when given), oldest pause first."""
    if model_id is None:
        rows = await conn.fetch(f"SELECT {_COLUMNS} FROM variant_pauses ORDER BY paused_at, model_id, sku_key")
    else:
        rows = await conn.fetch(
            f"SELECT {_COLUMNS} FROM variant_pauses WHERE model_id = $1 ORDER BY paused_at, sku_key", model_id
        )
    return [_pause(r) for r in rows]


async def claim_drift_alert(
    conn: Conn,
    model_id: str,
    sku_key: str,
    day: date,
    *,
    job_id: int | None,
    quoted_credits: float,
    billed_credits: float,
) -> bool:
    """True for the first claim of (variant, UTC day): that caller sends the day's drift alarm.

    Shared by every instance through the table, so "one message per variant per day" holds
    however many instances receive callbacks.
    """
    claimed = await conn.fetchval(
        """
        INSERT INTO drift_alerts (model_id, sku_key, day, job_id, quoted_credits, billed_credits)
        VALUES ($1, $2, $3, $4, $5, $6)
        ON CONFLICT (model_id, sku_key, day) DO NOTHING
        RETURNING model_id
        """,
        model_id,
        sku_key,
        day,
        job_id,
        float(quoted_credits),
        float(billed_credits),
    )
    return claimed is not None


async def release_drift_alert(conn: Conn, model_id: str, sku_key: str, day: date) -> None:
    """Give the day's claim back when its message reached no admin, so the next drifting job of
    the variant alarms again instead of the day passing in silence."""
    await conn.execute(
        "DELETE FROM drift_alerts WHERE model_id = $1 AND sku_key = $2 AND day = $3", model_id, sku_key, day
    )
