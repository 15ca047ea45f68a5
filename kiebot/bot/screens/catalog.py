"""The catalogue: sections → kinds → models (paged), 🔥 Popular, and the model card.

Users see human titles and a price before anything else ("from 12 ₽", or "free" for the free
tier), never Kie ids (the original bot's owner asked for names, reference/peers-and-style.md
A.2). Models switched off by the registry or an admin are not listed; a model paused by the
circuit breaker is listed with ⏸ and its card says when to come back.

Sections are the three categories plus 🛠 Tools, which gathers the utility kinds (upscale,
background removal, watermark removal, voice isolation) whatever their category.

These routes answer their callback queries themselves, right after checking the data, so a
stale or tampered button still gets the "outdated" toast (the router's early answer would
swallow it). Callback data (≤ 64 bytes): ``cat:<section>``, ``knd:<kind>:<section>:<page>``, ``pop:<page>``,
``mdl:<code>:<origin>`` where ``origin`` says which list the card was opened from (``m`` menu,
``f`` free, ``p.<page>``, ``k.<kind>.<section>.<page>``, ``s`` search results, ``y`` ⭐ My
models), so Back returns there. The card's ⭐ button (``fav:<code>:<origin>:<1|0>``) is handled
by :mod:`kiebot.bot.screens.my_models`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Final

from kiebot.bot.context import Ctx
from kiebot.bot.router import routes
from kiebot.bot.screens.wizard.media import format_names
from kiebot.bot.screens.wizard.quote import unit_price
from kiebot.bot.screens.wizard.screens import free_variant_text
from kiebot.catalog import ModelSpec, description, kind_label, param_label, title, unit_label, variant_label
from kiebot.catalog.pricing import has_paid_variants, price_range, sku_key
from kiebot.catalog.texts import field_label
from kiebot.chat.callback_data import BadCallback, cb, int_arg, str_arg
from kiebot.chat.format import Safe, approx_duration, rub
from kiebot.i18n import catalog as texts
from kiebot.store import catalog_sync, favourites, free_tier
from kiebot.telegram.types import InlineKeyboardButton as Button

TOOL_KINDS: Final = ("upscale", "background_removal", "watermark_removal", "audio_isolation")
SECTIONS: Final = ("image", "video", "audio", "tools")
PAGE: Final = 8
POPULAR: Final = 16


# ---- what is listed ----------------------------------------------------------------------------


def in_section(spec: ModelSpec, section: str) -> bool:
    if section == "tools":
        return spec.kind in TOOL_KINDS
    return spec.category == section and spec.kind not in TOOL_KINDS


async def listed(ctx: Ctx, models: Sequence[ModelSpec]) -> list[tuple[ModelSpec, str]]:
    """The models a user may see, with their status (``available`` or ``paused``; a model whose
    every variant is paused for billing above its price is listed as paused too)."""
    out = []
    for spec in models:
        status = await ctx.deps.availability.status(spec.id)
        if status == "available" and every_variant_paused(spec, await ctx.deps.availability.paused_variants(spec.id)):
            status = "paused"
        if status != "disabled":
            out.append((spec, status))
    return out


def every_variant_paused(spec: ModelSpec, paused: frozenset[str]) -> bool:
    """Whether no variant of ``spec`` is left for sale (Kie bills them all above our price)."""
    return bool(paused) and all(sku_key(spec, s.when) in paused for s in spec.pricing.skus)


def section_kinds(ctx: Ctx, section: str, models: Sequence[ModelSpec]) -> list[str]:
    present = {m.kind for m in models if in_section(m, section)}
    return [k for k in ctx.deps.registry.kinds if k in present]


def price_label(ctx: Ctx, spec: ModelSpec) -> str:
    """"от 12 ₽" / "12 ₽" / "бесплатно" for a list button."""
    if spec.id in ctx.deps.free_tier:
        return ctx.t("catalog_ui.free")
    low, high = price_range(spec, ctx.deps.fx.current(), ctx.deps.markup)
    if low == high and not spec.pricing.metered:
        return rub(low, ctx.lang)
    return ctx.t("catalog_ui.from_price", price=rub(low, ctx.lang))


def model_button(ctx: Ctx, spec: ModelSpec, status: str, origin: str) -> Button:
    key = "catalog_ui.model_paused" if status == "paused" else "catalog_ui.model_button"
    text = ctx.t(key, title=title(spec, ctx.lang), price=price_label(ctx, spec))
    return Button.callback(text, cb("mdl", ctx.deps.codes.code(spec.id), origin))


def _pager(page: int, pages: int, data: Callable[[int], str]) -> list[Button]:
    """◀️ 2/3 ▶️ — ``data(page)`` builds the callback of a page."""
    row = []
    if page > 0:
        row.append(Button.callback("◀️", data(page - 1)))
    if pages > 1:
        row.append(Button.callback(f"{page + 1}/{pages}", data(page)))
    if page < pages - 1:
        row.append(Button.callback("▶️", data(page + 1)))
    return row


def _page_of(items: Sequence[object], page: int) -> tuple[int, int]:
    pages = max(1, -(-len(items) // PAGE))
    if page >= pages:
        raise BadCallback("page out of range")
    return page, pages


# ---- sections and kinds ------------------------------------------------------------------------


@routes.callback("cat", answers_itself=True)
async def section_screen(ctx: Ctx, args: list[str]) -> None:
    section = str_arg(args, 0)
    if section not in SECTIONS:
        raise BadCallback("unknown section")
    await ctx.answer()
    models = [spec for spec, _ in await listed(ctx, ctx.deps.registry.enabled) if in_section(spec, section)]
    rows: list[list[Button]] = []
    for kind in section_kinds(ctx, section, models):
        count = sum(1 for m in models if m.kind == kind)
        rows.append([Button.callback(ctx.t("catalog_ui.kind_button", kind=kind_label(kind, ctx.lang), n=count), cb("knd", kind, section, 0))])
    rows.append([Button.callback(ctx.t("common.menu"), cb("menu"))])
    key = "catalog_ui.section" if models else "catalog_ui.section_empty"
    await ctx.show(ctx.t(key, section=ctx.t(f"catalog_ui.sections.{section}")), rows)


@routes.callback("knd", answers_itself=True)
async def kind_screen(ctx: Ctx, args: list[str]) -> None:
    kind, section, page = str_arg(args, 0), str_arg(args, 1), int_arg(args, 2, maximum=100)
    if section not in SECTIONS or kind not in ctx.deps.registry.kinds:
        raise BadCallback("unknown kind or section")
    models = await listed(ctx, [m for m in ctx.deps.registry.by_kind(kind) if in_section(m, section)])
    if not models:
        raise BadCallback("no models of this kind")
    page, pages = _page_of(models, page)
    await ctx.answer()
    origin = f"k.{kind}.{section}.{page}"
    rows = [[model_button(ctx, spec, status, origin)] for spec, status in models[page * PAGE : (page + 1) * PAGE]]
    rows.append(_pager(page, pages, lambda p: cb("knd", kind, section, p)))
    rows.append([Button.callback(ctx.t("common.back"), cb("cat", section)), Button.callback(ctx.t("common.menu"), cb("menu"))])
    await ctx.show(ctx.t("catalog_ui.kind", kind=kind_label(kind, ctx.lang)), rows)


@routes.callback("pop", answers_itself=True)
async def popular_screen(ctx: Ctx, args: list[str]) -> None:
    page = int_arg(args, 0, maximum=100)
    models = (await listed(ctx, ctx.deps.registry.enabled))[:POPULAR]
    page, pages = _page_of(models, page)
    await ctx.answer()
    rows = [[model_button(ctx, spec, status, f"p.{page}")] for spec, status in models[page * PAGE : (page + 1) * PAGE]]
    rows.append(_pager(page, pages, lambda p: cb("pop", p)))
    rows.append([Button.callback(ctx.t("common.menu"), cb("menu"))])
    await ctx.show(ctx.t("catalog_ui.popular"), rows)


# ---- the model card ----------------------------------------------------------------------------


def origin_callback(ctx: Ctx, origin: str) -> str:
    """Where Back from a card (or from a wizard's first step) leads.

    Raises:
        BadCallback: an origin no screen of ours produces.
    """
    parts = origin.split(".")
    if origin == "m":
        return cb("menu")
    if origin == "f":
        return cb("free")
    if origin == "s":
        return cb("srch")
    if origin == "y":
        return cb("my")
    if parts[0] == "p" and len(parts) == 2 and parts[1].isdigit():
        return cb("pop", int(parts[1]))
    if parts[0] == "k" and len(parts) == 4 and parts[1] in ctx.deps.registry.kinds and parts[2] in SECTIONS and parts[3].isdigit():
        return cb("knd", parts[1], parts[2], int(parts[3]))
    raise BadCallback("unknown origin")


def inputs_text(ctx: Ctx, spec: ModelSpec) -> str:
    """What the user will need to send, in words: "текст до 1000 символов; 1–10 фото"."""
    parts = []
    for m in spec.media:
        single = "1" if m.min_count else "0–1"
        count = f"{m.min_count}–{m.max_count}" if m.max_count > 1 else single
        parts.append(
            ctx.t(
                "catalog_ui.input_file",
                name=field_label(m.label, m.wire, ctx.lang),
                count=count,
                formats=format_names(m.mime_types),
                mb=m.max_mb,
            )
        )
    for p in spec.user_params:
        parts.append(ctx.t("catalog_ui.input_user", name=param_label(p, ctx.lang)))
    if spec.prompt is not None:
        key = "catalog_ui.input_text" if spec.prompt.required else "catalog_ui.input_text_optional"
        parts.append(ctx.t(key, name=field_label(spec.prompt.label, spec.prompt.wire, ctx.lang), max=spec.prompt.max_length))
    return "; ".join(parts)


async def card_text(ctx: Ctx, spec: ModelSpec, status: str) -> str:
    lines = [ctx.t("catalog_ui.card_title", title=title(spec, ctx.lang)), ctx.t("catalog_ui.card_description", text=description(spec, ctx.lang)), ""]
    lines.append(ctx.t("catalog_ui.card_kind", kind=kind_label(spec.kind, ctx.lang)))
    needs = inputs_text(ctx, spec)
    if needs:
        lines.append(ctx.t("catalog_ui.card_inputs", inputs=needs))
    if spec.wizard_params:
        names = ", ".join(param_label(p, ctx.lang) for p in spec.wizard_params)
        lines.append(ctx.t("catalog_ui.card_params", params=names))
    low, high = price_range(spec, ctx.deps.fx.current(), ctx.deps.markup)
    unit = unit_label(spec.pricing.unit, ctx.lang)
    if spec.pricing.metered:
        per = unit_price(spec, fx=ctx.deps.fx.current(), markup=ctx.deps.markup)
        lines.append(ctx.t("catalog_ui.card_price_metered", price=Safe(rub(per, ctx.lang)), unit=unit, most=Safe(rub(high, ctx.lang))))
    elif low == high:
        lines.append(ctx.t("catalog_ui.card_price", price=Safe(rub(low, ctx.lang)), unit=unit))
    else:
        lines.append(ctx.t("catalog_ui.card_price_range", low=Safe(rub(low, ctx.lang)), high=Safe(rub(high, ctx.lang)), unit=unit))
    if spec.id in ctx.deps.free_tier:
        async with ctx.conn() as conn:
            s = ctx.deps.settings
            free = await free_tier.free_status(conn, ctx.user_id, ctx.deps.now(), free_tier.FreeLimits(s.free_daily_limit, s.free_hourly_limit))
        lines.append(ctx.t("catalog_ui.card_free", left=free.left_today, limit=free.limit))
        if free.bonus_left:
            lines.append(ctx.t("catalog_ui.card_free_bonus", n=free.bonus_left))
        if has_paid_variants(spec):
            # Free means the cheapest variant (issue 13 item 8): say which; the rest are paid.
            variant = free_variant_text(ctx, spec)
            lines.append(
                ctx.t("edges.card_free_variant", variant=variant) if variant else ctx.t("edges.card_free_smallest")
            )
    lines.append(ctx.t("catalog_ui.card_time", time=approx_duration(spec.typical_seconds, ctx.lang)))
    example_key = f"catalog_ui.example.{spec.kind}"
    if spec.prompt is not None and spec.prompt.label in ("prompt", "sound_prompt") and example_key in texts("ru"):
        lines.append(ctx.t("catalog_ui.card_example", example=ctx.t(example_key)))
    paused = await ctx.deps.availability.paused_variants(spec.id)
    if paused and status == "available":
        if every_variant_paused(spec, paused):
            lines += ["", ctx.t("billing.card_unavailable")]
        else:
            shown = [variant_label(spec, key, ctx.lang) or key for key in sorted(paused)]
            lines += ["", ctx.t("billing.card_variants_unavailable", variants="; ".join(shown))]
    if status == "available":
        async with ctx.conn() as conn:
            if await catalog_sync.troubled(conn, spec.id, ctx.deps.now()):
                lines += ["", ctx.t("catalog_sync.user.troubled")]
    if status == "paused":
        lines += ["", ctx.t("catalog_ui.card_paused")]
    elif status == "disabled":
        lines += ["", ctx.t("catalog_ui.card_disabled")]
    return "\n".join(lines)


async def show_card(ctx: Ctx, spec: ModelSpec, origin: str) -> None:
    back = origin_callback(ctx, origin)
    status = await ctx.deps.availability.status(spec.id)
    rows: list[list[Button]] = []
    code = ctx.deps.codes.code(spec.id)
    sold = not every_variant_paused(spec, await ctx.deps.availability.paused_variants(spec.id))
    if status == "available" and sold:
        rows.append([Button.callback(ctx.t("catalog_ui.start"), cb("go", code, origin))])
    async with ctx.conn() as conn:
        starred = await favourites.is_favourite(conn, ctx.user_id, spec.id)
    star = ctx.t("mine.remove") if starred else ctx.t("mine.add")
    rows.append([Button.callback(star, cb("fav", code, origin, 0 if starred else 1))])
    rows.append([Button.callback(ctx.t("common.back"), back), Button.callback(ctx.t("common.menu"), cb("menu"))])
    await ctx.show(await card_text(ctx, spec, status), rows)


@routes.callback("mdl", answers_itself=True)
async def card_screen(ctx: Ctx, args: list[str]) -> None:
    spec = ctx.deps.registry.require(ctx.deps.codes.model(str_arg(args, 0)))
    origin = str_arg(args, 1) if len(args) > 1 else "m"
    origin_callback(ctx, origin)  # refuses an origin none of our screens produces
    await ctx.answer()
    await show_card(ctx, spec, origin)

