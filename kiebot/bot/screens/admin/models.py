"""🎨 Models: switch a model on or off, see the free tier and the circuit breakers.

* A switch is ``store.admin.set_model_enabled`` (persisted in ``model_overrides``, audited in the
  same transaction) followed by ``availability.invalidate()``, so the catalogue of this instance
  shows it at once (other instances within their cache's few seconds).
* The free tier is fixed at start-up (``FREE_TIER_MODEL_IDS`` or the five cheapest models); the
  screen shows the five ids and the limits users get.
* A breaker opens after a run of provider failures (``store.breakers``) and closes by itself after
  its pause; "resume now" closes it at once (audited) when the admin knows Kie is back.
* A variant Kie bills at or above our price is paused until an admin resumes it: the card lists
  the model's paused variants with a resume button each, 💸 lists them all
  (:mod:`kiebot.bot.screens.admin.variants`).
"""

from __future__ import annotations

from kiebot.bot.context import Ctx, Keyboard
from kiebot.bot.router import routes
from kiebot.bot.screens.admin import variants
from kiebot.bot.screens.admin.catalog_sync import kie_lines
from kiebot.bot.screens.admin.common import (
    clear_input,
    nav_row,
    page_of,
    pager_row,
    when,
    with_notice,
    zoned_when,
)
from kiebot.catalog import ModelSpec, kind_label, title
from kiebot.chat.callback_data import cb, int_arg, str_arg
from kiebot.chat.format import escape
from kiebot.store import admin, breakers, variant_pauses
from kiebot.telegram.types import InlineKeyboardButton as Button

PAGE = 8
STATUS_ICONS = {"available": "✅", "disabled": "⛔", "paused": "⏸"}


def _title(ctx: Ctx, spec: ModelSpec) -> str:
    return title(spec, ctx.lang)


@routes.callback("adm.m", admin=True)
async def models_screen(ctx: Ctx, args: list[str]) -> None:
    await clear_input(ctx)
    requested = int_arg(args, 0, maximum=1000)
    specs = sorted(ctx.deps.registry.models, key=lambda m: (m.category, m.kind, m.id))
    statuses = await ctx.deps.availability.listed()
    shown, page = page_of(specs, requested, PAGE)
    pages = max(1, -(-len(specs) // PAGE))
    counts = {s: sum(1 for v in statuses.values() if v == s) for s in STATUS_ICONS}
    text = ctx.t(
        "admin.models.title",
        total=len(specs),
        available=counts["available"],
        disabled=counts["disabled"],
        paused=counts["paused"],
    )
    rows: list[list[Button]] = [
        [
            Button.callback(
                f"{STATUS_ICONS.get(statuses.get(m.id, 'disabled'), '•')} {_title(ctx, m)} · {kind_label(m.kind, ctx.lang)}",
                cb("adm.mo", ctx.deps.codes.code(m.id), page),
            )
        ]
        for m in shown
    ]
    rows.append(pager_row(ctx, "adm.m", page, pages))
    rows.append(
        [
            Button.callback(ctx.t("admin.models.free_button"), cb("adm.free")),
            Button.callback(ctx.t("admin.models.breakers_button", n=counts["paused"]), cb("adm.brk")),
        ]
    )
    rows.append(
        [
            Button.callback(ctx.t("catalog_sync.screen.button"), cb("adm.ks")),
            Button.callback(ctx.t("catalog_sync.screen.health_button"), cb("adm.kh")),
        ]
    )
    async with ctx.conn() as conn:
        paused_variants = await variant_pauses.paused_variants(conn)
    rows.append([Button.callback(ctx.t("billing.models.variants_button", n=len(paused_variants)), cb("adm.vp"))])
    rows.append(nav_row(ctx))
    await ctx.show(text, rows)


async def show_model(ctx: Ctx, model_id: str, page: int, notice: str | None = None) -> None:
    spec = ctx.deps.registry.get(model_id)
    if spec is None:
        await models_screen(ctx, [str(page)])
        return
    status = await ctx.deps.availability.status(model_id)
    async with ctx.conn() as conn:
        override = (await admin.model_overrides(conn)).get(model_id)
        breaker = await breakers.get_breaker(conn, model_id)
        paused_variants = await variant_pauses.paused_variants(conn, model_id)
    lines = [
        ctx.t("admin.models.card_title", title=_title(ctx, spec), id=spec.id),
        ctx.t("admin.models.kind", kind=kind_label(spec.kind, ctx.lang)),
        ctx.t(f"admin.models.status.{status}"),
        ctx.t("admin.models.registry_on") if spec.enabled else ctx.t("admin.models.registry_off"),
    ]
    if override is not None:
        lines.append(
            ctx.t(
                "admin.models.override_on" if override.enabled else "admin.models.override_off",
                admin=override.updated_by,
                at=zoned_when(ctx, override.updated_at),
            )
        )
    if model_id in ctx.deps.free_tier:
        lines.append(ctx.t("admin.models.in_free_tier"))
    if breaker is not None and breaker.state == "open":
        lines.append(
            ctx.t("admin.models.breaker_open", failures=breaker.failures, until=zoned_when(ctx, breaker.reopen_at))
        )
    elif breaker is not None and breaker.failures:
        lines.append(ctx.t("admin.models.breaker_failures", failures=breaker.failures))
    lines += await kie_lines(ctx, model_id)
    lines += variants.pause_lines(ctx, paused_variants)
    code = ctx.deps.codes.code(model_id)
    switched_off = status == "disabled"
    rows: Keyboard = [
        [
            Button.callback(ctx.t("admin.models.enable"), cb("adm.me", code, 1, page))
            if switched_off
            else Button.callback(ctx.t("admin.models.disable"), cb("adm.me", code, 0, page))
        ],
        [Button.callback(ctx.t("admin.models.resume"), cb("adm.mr", code, page))]
        if breaker is not None and breaker.state == "open"
        else [],
        *variants.resume_rows(ctx, paused_variants, str(page)),
        nav_row(ctx, cb("adm.m", page)),
    ]
    await ctx.show(with_notice(notice, "\n".join(lines)), rows)


@routes.callback("adm.mo", admin=True)
async def model_card(ctx: Ctx, args: list[str]) -> None:
    await clear_input(ctx)
    model_id = ctx.deps.codes.model(str_arg(args, 0))
    await show_model(ctx, model_id, int_arg(args, 1, maximum=1000))


@routes.callback("adm.me", admin=True)
async def switch_model(ctx: Ctx, args: list[str]) -> None:
    """Enable (``1``) or disable (``0``): the button names the target, so a stale tap is harmless."""
    model_id = ctx.deps.codes.model(str_arg(args, 0))
    enabled = bool(int_arg(args, 1, maximum=1))
    async with ctx.conn() as conn:
        await admin.set_model_enabled(conn, model_id, enabled, ctx.user_id)
    ctx.deps.availability.invalidate()
    notice = ctx.t("admin.models.enabled_now") if enabled else ctx.t("admin.models.disabled_now")
    await show_model(ctx, model_id, int_arg(args, 2, maximum=1000), notice)


async def resume_breaker(ctx: Ctx, model_id: str) -> bool:
    """Close an open breaker now, audited; False when it was not open."""
    async with ctx.tx() as conn:
        breaker = await breakers.get_breaker(conn, model_id)
        if breaker is None or breaker.state != "open":
            return False
        await breakers.record_success(conn, model_id)
        await admin.record_admin_action(
            conn,
            ctx.user_id,
            "breaker_reset",
            f"model:{model_id}",
            before={
                "state": breaker.state,
                "failures": breaker.failures,
                "reopen_at": when(ctx, breaker.reopen_at),
            },
            after={"state": "closed", "failures": 0},
        )
    ctx.deps.availability.invalidate()
    return True


@routes.callback("adm.mr", admin=True)
async def resume_button(ctx: Ctx, args: list[str]) -> None:
    model_id = ctx.deps.codes.model(str_arg(args, 0))
    resumed = await resume_breaker(ctx, model_id)
    notice = ctx.t("admin.models.resumed") if resumed else ctx.t("admin.models.not_paused")
    if len(args) > 1 and args[1] == "b":
        await show_breakers(ctx, notice)
    else:
        await show_model(ctx, model_id, int_arg(args, 1, maximum=1000), notice)


@routes.callback("adm.free", admin=True)
async def free_tier_screen(ctx: Ctx, args: list[str]) -> None:
    settings = ctx.deps.settings
    statuses = await ctx.deps.availability.listed()
    lines = [
        ctx.t(
            "admin.models.free_title",
            daily=settings.free_daily_limit,
            hourly=settings.free_hourly_limit,
            bonus=settings.referral_bonus_free_uses,
        ),
        ctx.t("admin.models.free_source_env")
        if settings.free_tier_model_ids
        else ctx.t("admin.models.free_source_auto"),
    ]
    rows: list[list[Button]] = []
    for model_id in ctx.deps.free_tier:
        spec = ctx.deps.registry.get(model_id)
        status = statuses.get(model_id, "disabled")
        name = _title(ctx, spec) if spec is not None else model_id
        lines.append(f"{STATUS_ICONS.get(status, '•')} {escape(name)} — <code>{escape(model_id)}</code>")
        if spec is not None:
            rows.append(
                [
                    Button.callback(
                        f"{STATUS_ICONS.get(status, '•')} {name}",
                        cb("adm.mo", ctx.deps.codes.code(model_id), 0),
                    )
                ]
            )
    rows.append(nav_row(ctx, cb("adm.m", 0)))
    await ctx.show("\n".join(lines), rows)


async def show_breakers(ctx: Ctx, notice: str | None = None) -> None:
    async with ctx.conn() as conn:
        open_ = await breakers.open_breakers(conn)
    lines = [ctx.t("admin.models.breakers_title", zone=ctx.zone())]
    rows: list[list[Button]] = []
    for b in open_:
        spec = ctx.deps.registry.get(b.model_id)
        name = _title(ctx, spec) if spec is not None else b.model_id
        lines.append(
            ctx.t("admin.models.breaker_line", name=name, failures=b.failures, until=when(ctx, b.reopen_at))
        )
        if spec is not None:
            rows.append(
                [
                    Button.callback(
                        ctx.t("admin.models.resume_named", name=name),
                        cb("adm.mr", ctx.deps.codes.code(b.model_id), "b"),
                    )
                ]
            )
    if not open_:
        lines.append(ctx.t("admin.models.breakers_none"))
    rows.append(nav_row(ctx, cb("adm.m", 0)))
    await ctx.show(with_notice(notice, "\n".join(lines)), rows)


@routes.callback("adm.brk", admin=True)
async def breakers_screen(ctx: Ctx, args: list[str]) -> None:
    await clear_input(ctx)
    await show_breakers(ctx)
