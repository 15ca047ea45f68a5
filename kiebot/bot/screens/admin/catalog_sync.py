"""🔄 Kie's catalogue (from 🎨 Models): the last catalogue sync and every model's health at Kie.

* ``adm.ks`` — the newest sync report (``catalog_sync_reports``): drift per model and kind, new
  models at Kie, schemas not synced yet, and the ``pricingDesc`` of models whose price does not
  come from the price list (Seedance 1.5 Pro: its 720p rates come from billed figures);
* ``adm.kh`` — the last hour's success rate at Kie per sold model (``model_health``), troubled
  ones first.

Models missing from Kie's catalogue are switched off by the sync and resumed with "Enable" on the
model card (the screen links there).
"""

from __future__ import annotations

from kiebot.bot.context import Ctx
from kiebot.bot.router import routes
from kiebot.bot.screens.admin.common import clear_input, nav_row, zoned_when
from kiebot.catalog import title
from kiebot.chat.callback_data import cb
from kiebot.store import catalog_sync
from kiebot.telegram.types import InlineKeyboardButton as Button

MAX_DRIFT_LINES = 25
MAX_TEXT = 400


def _name(ctx: Ctx, model_id: str) -> str:
    spec = ctx.deps.registry.get(model_id)
    return title(spec, ctx.lang) if spec is not None else model_id


async def kie_lines(ctx: Ctx, model_id: str) -> list[str]:
    """What Kie says about one model, for its card in 🎨 Models: health and price text."""
    async with ctx.conn() as conn:
        health = (await catalog_sync.all_health(conn)).get(model_id)
        text = (await catalog_sync.price_texts(conn)).get(model_id)
    lines = []
    if health is not None and health.success_rate is not None:
        key = "catalog_sync.screen.card_health_bad" if health.troubled else "catalog_sync.screen.card_health"
        lines.append(ctx.t(key, rate=round(health.success_rate * 100), at=zoned_when(ctx, health.checked_at)))
    if text:
        lines.append(ctx.t("catalog_sync.screen.card_price_text", text=text[:MAX_TEXT]))
    return lines


@routes.callback("adm.ks", admin=True)
async def sync_screen(ctx: Ctx, args: list[str]) -> None:
    await clear_input(ctx)
    async with ctx.conn() as conn:
        stored = await catalog_sync.last_report(conn)
        texts = await catalog_sync.price_texts(conn)
    rows: list[list[Button]] = [[Button.callback(ctx.t("catalog_sync.screen.health_button"), cb("adm.kh"))]]
    if stored is None:
        rows.append(nav_row(ctx, cb("adm.m", 0)))
        await ctx.show(ctx.t("catalog_sync.screen.never"), rows)
        return
    report = stored.report
    lines = [
        ctx.t(
            "catalog_sync.screen.title",
            at=zoned_when(ctx, stored.checked_at),
            checked=report.get("checked_models", 0),
            kie=report.get("kie_models", 0),
        )
    ]
    drift = [d for d in report.get("drift", []) if isinstance(d, dict)]
    if drift:
        lines.append(ctx.t("catalog_sync.screen.drift_title", n=len(drift)))
        for d in drift[:MAX_DRIFT_LINES]:
            kind = str(d.get("kind"))
            lines.append(
                ctx.t(
                    "catalog_sync.screen.drift_line",
                    model=str(d.get("model")),
                    kind=ctx.t(f"catalog_sync.kind.{kind}") if kind in ("missing", "price", "field", "enum", "required") else kind,
                    detail=str(d.get("detail", ""))[:MAX_TEXT],
                )
            )
    else:
        lines.append(ctx.t("catalog_sync.screen.no_drift"))
    for key, field in (("new", "new"), ("not_synced", "not_synced"), ("unlisted", "unlisted")):
        values = [str(v) for v in report.get(field, [])]
        if values:
            lines.append(ctx.t(f"catalog_sync.screen.{key}", models=", ".join(values)))
    unlabelled = [m.id for m in ctx.deps.registry.enabled if not any(s.kie_labels for s in m.pricing.skus)]
    shown = [m for m in unlabelled if m in texts]
    if shown:
        lines.append(ctx.t("catalog_sync.screen.price_texts_title"))
        lines += [ctx.t("catalog_sync.screen.price_text_line", model=m, text=texts[m][:MAX_TEXT]) for m in shown]
    for model_id in dict.fromkeys(str(d.get("model")) for d in drift if d.get("kind") == "missing"):
        if ctx.deps.registry.get(model_id) is not None:
            rows.append([Button.callback(ctx.t("catalog_sync.screen.open_model", name=_name(ctx, model_id)), cb("adm.mo", ctx.deps.codes.code(model_id), 0))])
    rows.append(nav_row(ctx, cb("adm.m", 0)))
    await ctx.show("\n".join(lines), rows)


@routes.callback("adm.kh", admin=True)
async def health_screen(ctx: Ctx, args: list[str]) -> None:
    await clear_input(ctx)
    async with ctx.conn() as conn:
        health = await catalog_sync.all_health(conn)
    lines = [ctx.t("catalog_sync.screen.health_title")]
    sold = [m for m in ctx.deps.registry.enabled if m.id in health]
    sold.sort(key=lambda m: (not health[m.id].troubled, health[m.id].success_rate is None, health[m.id].success_rate or 0.0, m.id))
    for spec in sold:
        h = health[spec.id]
        if h.success_rate is None:
            lines.append(ctx.t("catalog_sync.screen.health_quiet", name=title(spec, ctx.lang)))
        else:
            lines.append(
                ctx.t(
                    "catalog_sync.screen.health_line",
                    icon="⚠️" if h.troubled else "✅",
                    name=title(spec, ctx.lang),
                    rate=round(h.success_rate * 100),
                    buckets=h.buckets,
                )
            )
    if not sold:
        lines.append(ctx.t("catalog_sync.screen.health_none"))
    else:
        lines.append(ctx.t("catalog_sync.screen.health_at", at=zoned_when(ctx, max(h.checked_at for h in health.values()))))
    await ctx.show("\n".join(lines), [nav_row(ctx, cb("adm.ks"))])
