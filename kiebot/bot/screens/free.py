"""🎁 Free: how many free generations are left today, when the next one frees up, which models.

The limits are the store's (``FREE_DAILY_LIMIT`` per rolling 24 h, ``FREE_HOURLY_LIMIT`` per
rolling hour, plus bonus uses earned by inviting friends) and are enforced in the same
transaction as the job (:mod:`kiebot.store.free_tier`); this screen only shows them, so a user
knows what they have before they start — the counter and refill timer users of peer bots asked
for (reference/peers-and-style.md A.4).
"""

from __future__ import annotations

from kiebot.bot.context import Ctx
from kiebot.bot.router import routes
from kiebot.bot.screens.catalog import listed, model_button
from kiebot.chat.callback_data import cb
from kiebot.chat.format import duration
from kiebot.store import free_tier
from kiebot.telegram.types import InlineKeyboardButton as Button


async def free_text(ctx: Ctx) -> str:
    s = ctx.deps.settings
    async with ctx.conn() as conn:
        status = await free_tier.free_status(conn, ctx.user_id, ctx.deps.now(), free_tier.FreeLimits(s.free_daily_limit, s.free_hourly_limit))
    lines = [ctx.t("free.title"), ctx.t("free.left", left=status.left_today, limit=status.limit, hourly=status.hourly_limit)]
    if status.bonus_left:
        lines.append(ctx.t("free.bonus", n=status.bonus_left))
    if not status.available_now:
        if status.next_at is None:
            lines.append(ctx.t("free.none"))
        else:
            wait = max(0.0, (status.next_at - ctx.deps.now()).total_seconds())
            lines.append(ctx.t("free.next", wait=duration(wait, ctx.lang)))
    lines += ["", ctx.t("free.models")]
    return "\n".join(lines)


@routes.callback("free")
async def free_screen(ctx: Ctx, args: list[str]) -> None:
    models = [ctx.deps.registry.require(model_id) for model_id in ctx.deps.free_tier]
    rows = [[model_button(ctx, spec, status, "f")] for spec, status in await listed(ctx, models)]
    rows.append([Button.callback(ctx.t("free.invite"), cb("ref"))])
    rows.append([Button.callback(ctx.t("common.menu"), cb("menu"))])
    await ctx.show(await free_text(ctx), rows)
