"""Admin actions: the audit log and the operations an admin performs, each audited in the same
transaction as its effect (so there is never an effect without its audit row, or the reverse).

``audit_log`` is never cleaned up: it is the record of who changed money, users and models.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec

from kiebot.store import money, users
from kiebot.store.db import Conn, Record


class AuditEntry(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    admin_id: int
    action: str
    target: str
    before: Any
    after: Any
    at: datetime


class ModelOverride(msgspec.Struct, frozen=True, kw_only=True):
    model_id: str
    enabled: bool
    updated_by: int
    updated_at: datetime


_AUDIT_COLUMNS = "id, admin_id, action, target, before, after, at"


def _audit(row: Record) -> AuditEntry:
    return AuditEntry(**{k: row[k] for k in AuditEntry.__struct_fields__})


async def record_admin_action(
    conn: Conn, admin_id: int, action: str, target: str, *, before: Any = None, after: Any = None
) -> int:
    """Append one audit row (``before``/``after`` are JSON values); returns its id."""
    value = await conn.fetchval(
        "INSERT INTO audit_log (admin_id, action, target, before, after) VALUES ($1, $2, $3, $4, $5) RETURNING id",
        admin_id,
        action,
        target,
        before,
        after,
    )
    return int(value)


async def recent_admin_actions(
    conn: Conn, limit: int = 50, *, admin_id: int | None = None, target: str | None = None
) -> list[AuditEntry]:
    """Newest first, optionally for one admin or one target (e.g. ``user:123``)."""
    rows = await conn.fetch(
        f"""
        SELECT {_AUDIT_COLUMNS} FROM audit_log
        WHERE ($2::bigint IS NULL OR admin_id = $2) AND ($3::text IS NULL OR target = $3)
        ORDER BY id DESC LIMIT $1
        """,
        limit,
        admin_id,
        target,
    )
    return [_audit(r) for r in rows]


# ---- models ---------------------------------------------------------------------------------------


async def set_model_enabled(conn: Conn, model_id: str, enabled: bool, admin_id: int) -> ModelOverride:
    """Switch a model on or off for everyone (overrides the registry's ``enabled``), audited."""
    async with conn.transaction():
        before = await conn.fetchval(
            "SELECT enabled FROM model_overrides WHERE model_id = $1 FOR UPDATE", model_id
        )
        row = await conn.fetchrow(
            """
            INSERT INTO model_overrides (model_id, enabled, updated_by) VALUES ($1, $2, $3)
            ON CONFLICT (model_id) DO UPDATE SET enabled = EXCLUDED.enabled, updated_by = EXCLUDED.updated_by,
                                                 updated_at = now()
            RETURNING model_id, enabled, updated_by, updated_at
            """,
            model_id,
            enabled,
            admin_id,
        )
        assert row is not None
        await record_admin_action(
            conn,
            admin_id,
            "model_enable" if enabled else "model_disable",
            f"model:{model_id}",
            before=None if before is None else {"enabled": before},
            after={"enabled": enabled},
        )
        return ModelOverride(**{k: row[k] for k in ModelOverride.__struct_fields__})


async def model_overrides(conn: Conn) -> dict[str, ModelOverride]:
    rows = await conn.fetch("SELECT model_id, enabled, updated_by, updated_at FROM model_overrides")
    return {r["model_id"]: ModelOverride(**{k: r[k] for k in ModelOverride.__struct_fields__}) for r in rows}


# ---- users and money ------------------------------------------------------------------------------


async def adjust_balance(
    conn: Conn, admin_id: int, user_id: int, delta: int, *, key: str, reason: str
) -> money.Posting:
    """An admin's balance correction (see :func:`money.adjust`), audited once per ``key``."""
    async with conn.transaction():
        posting = await money.adjust(conn, user_id, delta, key=key, admin_id=admin_id, reason=reason)
        if not posting.repeated:
            await record_admin_action(
                conn,
                admin_id,
                "balance_adjust",
                f"user:{user_id}",
                before={"balance": posting.balance - delta},
                after={"balance": posting.balance, "delta": delta, "reason": reason, "key": key},
            )
        return posting


async def set_user_banned(conn: Conn, admin_id: int, user_id: int, banned: bool, *, reason: str = "") -> bool:
    """Ban or unban a user, audited; False (and no audit row) when nothing changed."""
    async with conn.transaction():
        before = await conn.fetchval("SELECT banned FROM users WHERE user_id = $1 FOR NO KEY UPDATE", user_id)
        if before is None:
            raise users.UnknownUser(user_id)
        if before == banned:
            return False
        await users.set_banned(conn, user_id, banned)
        await record_admin_action(
            conn,
            admin_id,
            "user_ban" if banned else "user_unban",
            f"user:{user_id}",
            before={"banned": before},
            after={"banned": banned, "reason": reason},
        )
        return True
