"""🏦 Pending manual top-ups: the list, and each request opened with its receipt and the payments
screen's own ✅ Approve / ❌ Reject.

The decision itself belongs to :mod:`kiebot.bot.screens.manual_topup` (routes ``mtv``, ``mtok``,
``mtno``): it re-sends the receipt by file_id, lets the first decision win, credits once, tells the
user, updates every admin's copy and audits ``topup_approve`` / ``topup_reject``. This screen only
finds the requests waiting for someone, so a request whose notification an admin missed (or that
came while no admin could be reached) is never forgotten.
"""

from __future__ import annotations

from kiebot.bot.context import Ctx
from kiebot.bot.router import routes
from kiebot.bot.screens.admin.common import clear_input, nav_row, short_when
from kiebot.bot.screens.manual_topup import view_data
from kiebot.chat.format import Safe, rub
from kiebot.store import payments, users
from kiebot.telegram.types import InlineKeyboardButton as Button

#: Requests listed at once, oldest first (each user may have at most a few pending).
MAX_LISTED = 20


@routes.callback("adm.t", admin=True)
async def pending_topups(ctx: Ctx, args: list[str]) -> None:
    await clear_input(ctx)
    async with ctx.conn() as conn:
        pending = await payments.list_pending(conn, MAX_LISTED)
        people = {t.user_id: await users.get_user(conn, t.user_id) for t in pending}
    lines = [ctx.t("admin.topups.title", n=len(pending), zone=ctx.zone())]
    rows: list[list[Button]] = []
    for topup in pending:
        who = people.get(topup.user_id)
        name = who.first_name if who is not None else str(topup.user_id)
        amount = rub(topup.amount_kopecks, ctx.lang)
        lines.append(
            ctx.t(
                "admin.topups.line",
                id=topup.id,
                name=name,
                user=topup.user_id,
                amount=Safe(amount),
                at=short_when(ctx, topup.created_at),
                receipt=ctx.t("admin.topups.with_receipt")
                if topup.receipt_file_id
                else ctx.t("admin.topups.no_receipt"),
            )
        )
        rows.append(
            [
                Button.callback(
                    ctx.t("admin.topups.open", id=topup.id, amount=amount, name=name), view_data(topup.id)
                )
            ]
        )
    if not pending:
        lines.append(ctx.t("admin.topups.none"))
    rows.append([Button.callback(ctx.t("admin.nav.refresh"), "adm.t")])
    rows.append(nav_row(ctx))
    await ctx.show("\n".join(lines), rows)
