"""📜 The audit log: the last admin actions — who, what, on whom, before → after.

Every action of the panel writes its row in the same transaction as its effect (bans, balance
adjustments, Stars refunds, model switches, breaker resets, broadcasts; manual top-up decisions
are recorded by the payments screens). ``audit_log`` is never cleaned up.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from kiebot.bot.context import Ctx
from kiebot.bot.router import routes
from kiebot.bot.screens.admin.common import clear_input, nav_row, pager_row, short_when
from kiebot.chat.callback_data import int_arg
from kiebot.store import admin

PAGE = 10
#: The screen reads the newest entries only; older ones are for SQL.
MAX_ENTRIES = 200
_MAX_VALUE_CHARS = 120


def _value(value: Any) -> str:
    if value is None:
        return "—"
    text = json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    return text if len(text) <= _MAX_VALUE_CHARS else text[:_MAX_VALUE_CHARS] + "…"


def audit_lines(ctx: Ctx, entries: Sequence[admin.AuditEntry]) -> list[str]:
    """One line per entry: ``05-01 12:34 · 900000001 · user_ban user:5 · {…} → {…}``."""
    return [
        ctx.t(
            "admin.audit.line",
            at=short_when(ctx, e.at),
            admin=e.admin_id,
            action=ctx.t(f"admin.audit.action.{e.action}") if e.action in KNOWN_ACTIONS else e.action,
            target=e.target,
            before=_value(e.before),
            after=_value(e.after),
        )
        for e in entries
    ]


#: Actions with a human name in the locale files; others (added later by other screens) show raw.
KNOWN_ACTIONS = frozenset(
    (
        "user_ban",
        "user_unban",
        "balance_adjust",
        "stars_refund",
        "model_enable",
        "model_disable",
        "breaker_reset",
        "broadcast_start",
        "broadcast_cancel",
        "topup_approve",
        "topup_reject",
    )
)


@routes.callback("adm.a", admin=True)
async def audit_screen(ctx: Ctx, args: list[str]) -> None:
    await clear_input(ctx)
    page = int_arg(args, 0, maximum=MAX_ENTRIES // PAGE)
    async with ctx.conn() as conn:
        entries = await admin.recent_admin_actions(conn, MAX_ENTRIES)
    pages = max(1, -(-len(entries) // PAGE))
    page = min(page, pages - 1)
    shown = entries[page * PAGE : (page + 1) * PAGE]
    lines = [ctx.t("admin.audit.title", zone=ctx.zone())]
    lines += audit_lines(ctx, shown) or [ctx.t("admin.audit.empty")]
    await ctx.show("\n".join(lines), [pager_row(ctx, "adm.a", page, pages), nav_row(ctx)])
