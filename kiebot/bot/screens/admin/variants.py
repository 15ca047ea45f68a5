"""💸 Paused variants: the variants Kie billed at or above what users pay, and "resume".

A variant is paused by the drift check (:mod:`kiebot.generation.billing`) and stays paused until
an admin resumes it here or on the model's card in 🎨 Models — deliberately not by itself: the
price in the registry is wrong until someone fixes it (or Kie's bill was a one-off). Resuming is
``store.variant_pauses.resume`` (deleted and audit-logged in one transaction) followed by
``availability.invalidate()``.

Callback data: ``adm.vp`` (the list), ``adm.vr:<model code>:<variant hash>:<back>`` where the
hash is 8 hex digits of the SKU key (keys can be longer than the 64 bytes Telegram allows) and
``back`` is ``v`` (this list) or the Models page the card was opened from.
"""

from __future__ import annotations

import hashlib

from kiebot.bot.context import Ctx
from kiebot.bot.router import routes
from kiebot.bot.screens.admin.common import clear_input, nav_row, with_notice, zoned_when
from kiebot.catalog import title, variant_label
from kiebot.chat.callback_data import cb, str_arg
from kiebot.chat.format import credits_text
from kiebot.store import variant_pauses
from kiebot.store.variant_pauses import VariantPause
from kiebot.telegram.types import InlineKeyboardButton as Button


def variant_hash(sku_key: str) -> str:
    return hashlib.blake2s(sku_key.encode(), digest_size=4).hexdigest()


def shown_variant(ctx: Ctx, pause: VariantPause) -> str:
    spec = ctx.deps.registry.get(pause.model_id)
    words = variant_label(spec, pause.sku_key, ctx.lang) if spec is not None else ""
    return words or pause.sku_key


def pause_lines(ctx: Ctx, pauses: list[VariantPause]) -> list[str]:
    """The lines a model card shows for its paused variants (empty when none)."""
    if not pauses:
        return []
    lines = [ctx.t("billing.models.variants_title")]
    for p in pauses:
        lines.append(
            ctx.t(
                "billing.models.variant_line",
                variant=shown_variant(ctx, p),
                quoted=credits_text(p.quoted_credits, ctx.lang),
                billed=float(p.billed_credits),
                at=zoned_when(ctx, p.paused_at),
            )
        )
    return lines


def resume_rows(ctx: Ctx, pauses: list[VariantPause], back: str) -> list[list[Button]]:
    return [
        [
            Button.callback(
                ctx.t("billing.models.resume_variant", variant=shown_variant(ctx, p))[:60],
                cb("adm.vr", ctx.deps.codes.code(p.model_id), variant_hash(p.sku_key), back),
            )
        ]
        for p in pauses
        if ctx.deps.registry.get(p.model_id) is not None
    ]


async def show_paused(ctx: Ctx, notice: str | None = None) -> None:
    async with ctx.conn() as conn:
        pauses = await variant_pauses.paused_variants(conn)
    lines = [ctx.t("billing.models.variants_screen_title")]
    for p in pauses:
        spec = ctx.deps.registry.get(p.model_id)
        lines.append(
            ctx.t(
                "billing.models.variant_model_line",
                model=title(spec, ctx.lang) if spec is not None else p.model_id,
                variant=shown_variant(ctx, p),
                quoted=credits_text(p.quoted_credits, ctx.lang),
                billed=float(p.billed_credits),
                at=zoned_when(ctx, p.paused_at),
            )
        )
    if not pauses:
        lines.append(ctx.t("billing.models.variants_none"))
    rows = resume_rows(ctx, pauses, "v")
    rows.append(nav_row(ctx, cb("adm.m", 0)))
    await ctx.show(with_notice(notice, "\n".join(lines)), rows)


@routes.callback("adm.vp", admin=True)
async def paused_screen(ctx: Ctx, args: list[str]) -> None:
    await clear_input(ctx)
    await show_paused(ctx)


@routes.callback("adm.vr", admin=True)
async def resume_button(ctx: Ctx, args: list[str]) -> None:
    """Resume one variant (audited); a stale tap on an already resumed one says so."""
    model_id = ctx.deps.codes.model(str_arg(args, 0))
    wanted = str_arg(args, 1)
    back = str_arg(args, 2)
    resumed = None
    async with ctx.conn() as conn:
        for p in await variant_pauses.paused_variants(conn, model_id):
            if variant_hash(p.sku_key) == wanted:
                resumed = await variant_pauses.resume(conn, model_id, p.sku_key, ctx.user_id)
                break
    ctx.deps.availability.invalidate()
    notice = ctx.t("billing.models.variant_resumed") if resumed else ctx.t("billing.models.variant_not_paused")
    if back == "v" or not back.isdigit():
        await show_paused(ctx, notice)
        return
    from kiebot.bot.screens.admin.models import show_model

    await show_model(ctx, model_id, min(int(back), 1000), notice)
