"""✅ Confirm: hold the quoted price (or use a free generation) and queue the job, exactly once.

The button is ``wz:<version>:ok:<f|p>:<kopecks>``: what the summary showed — free, or paid at
that many kopecks. Confirm re-checks everything (the model is still on sale, the request is still
valid, the price is still the shown price) and then calls
:func:`kiebot.generation.service.confirm`, which holds the money and inserts the job in ONE
transaction, idempotent by ``wz:<user>:<draft nonce>:<version>``. A double tap, a redelivered
update or a retry after a crash therefore find the first job instead of holding twice; once the
draft is cleared the same button is stale anyway.

After the job exists the summary message becomes its progress message (queued → generating →
sending, edited by the workers) with ✖ Cancel while it is still queued. The workers are woken only
once the progress message is stored, so their first edit finds it.
"""

from __future__ import annotations

import logging

from kiebot.bot.context import Ctx
from kiebot.bot.screens.wizard import state as ws
from kiebot.bot.screens.wizard.flow import advance, request_issues
from kiebot.bot.screens.wizard.quote import draft_quote
from kiebot.bot.screens.wizard.screens import free_over_text, summary_screen, wz
from kiebot.catalog import ModelSpec, render_issue, title
from kiebot.catalog.pricing import PricingError, is_free_variant
from kiebot.chat.callback_data import BadCallback, cb, int_arg, str_arg
from kiebot.chat.format import Safe, escape, rub
from kiebot.generation import service
from kiebot.generation.notify import Notifier, progress_text
from kiebot.logs import request_id_var
from kiebot.store import conversations, free_tier, jobs
from kiebot.store.conversations import StateConflict
from kiebot.store.jobs import Job
from kiebot.telegram.types import InlineKeyboardButton as Button

log = logging.getLogger(__name__)


def idempotency_key(user_id: int, draft: ws.Draft, version: int) -> str:
    return f"wz:{user_id}:{draft.nonce}:{version}"


async def confirm(ctx: Ctx, spec: ModelSpec, draft: ws.Draft, version: int, args: list[str]) -> None:
    mode = str_arg(args, 0)
    shown = int_arg(args, 1)
    if mode not in ("f", "p") or (mode == "f" and spec.id not in ctx.deps.free_tier):
        raise BadCallback("confirm mode does not fit the model")
    if await ctx.deps.availability.status(spec.id) != "available":
        await ctx.answer(ctx.t("wizard.unavailable", model=title(spec, ctx.lang)), alert=True)
        return
    issues = request_issues(spec, draft)
    if issues:
        await ctx.answer()
        await advance(ctx, spec, draft, version, new_message=False, note=escape(render_issue(issues[0], ctx.lang)))
        return
    try:
        quote = draft_quote(spec, draft, fx=ctx.deps.fx.current(), markup=ctx.deps.markup)
    except PricingError:
        await ctx.answer(ctx.t("wizard.price.not_offered"), alert=True)
        return
    if quote.sku_key in await ctx.deps.availability.paused_variants(spec.id):
        await _variant_unavailable(ctx, spec, draft, version)
        return
    if mode == "f" and not is_free_variant(spec, quote.credits):
        # Free means the cheapest variant only (issue 13 item 8): a dearer one is paid; show the
        # summary again with its price instead of giving it away.
        await ctx.answer(ctx.t("wizard.price_changed"), alert=True)
        text, rows = await summary_screen(ctx, spec, draft, version, note=ctx.t("wizard.price_changed"))
        await ctx.show(text, rows)
        return
    if mode == "p" and quote.kopecks != shown:
        await ctx.answer(ctx.t("wizard.price_changed"), alert=True)
        text, rows = await summary_screen(ctx, spec, draft, version, note=ctx.t("wizard.price_changed"))
        await ctx.show(text, rows)
        return
    await ctx.answer()
    outcome = await service.confirm(
        ctx.deps.db,
        ctx.deps.settings,
        user_id=ctx.user_id,
        chat_id=ctx.chat_id,
        spec=spec,
        request=draft.to_request(ctx.lang, quote.quantity if spec.pricing.metered else None),
        quote=quote,
        free=mode == "f",
        idempotency_key=idempotency_key(ctx.user_id, draft, version),
        request_id=request_id_var.get(),
        wake=lambda: None,  # woken below, once the progress message is stored
    )
    if isinstance(outcome, service.NotEnoughMoney):
        await _not_enough(ctx, version, outcome)
    elif isinstance(outcome, service.NoFreeUses):
        await _no_free_uses(ctx, spec, draft, version)
    elif isinstance(outcome, service.TooManyJobs):
        await _too_many(ctx, version, outcome)
    elif isinstance(outcome, service.VariantUnavailable):
        ctx.deps.availability.invalidate()
        await _variant_unavailable(ctx, spec, draft, version)
    else:
        await _started(ctx, spec, outcome.job, version)


async def _variant_unavailable(ctx: Ctx, spec: ModelSpec, draft: ws.Draft, version: int) -> None:
    """The chosen variant is paused for sale: say so, hold nothing, keep the draft (another
    variant may be chosen with Change)."""
    await ctx.answer(ctx.t("billing.variant_unavailable_alert"), alert=True)
    text, rows = await summary_screen(ctx, spec, draft, version)
    await ctx.show(text, rows)


async def _not_enough(ctx: Ctx, version: int, outcome: service.NotEnoughMoney) -> None:
    """The missing amount and a top-up button; the draft stays, so the user can come back."""
    text = ctx.t(
        "wizard.not_enough",
        price=Safe(rub(outcome.needed, ctx.lang)),
        balance=Safe(rub(outcome.available, ctx.lang)),
        missing=Safe(rub(outcome.missing, ctx.lang)),
    )
    rows = [
        [Button.callback(ctx.t("wizard.top_up"), cb("bal"))],
        [Button.callback(ctx.t("wizard.to_summary"), wz(version, "sm")), Button.callback(ctx.t("common.cancel"), wz(version, "x"))],
    ]
    await ctx.show(text, rows)


async def _too_many(ctx: Ctx, version: int, outcome: service.TooManyJobs) -> None:
    """Fair queueing: the count and the cap; the draft stays, so the user can confirm once one ends."""
    text = ctx.t("edges.too_many_jobs", active=outcome.active, limit=outcome.limit)
    rows = [
        [Button.callback(ctx.t("menu.history"), cb("hist", 0))],
        [Button.callback(ctx.t("wizard.to_summary"), wz(version, "sm")), Button.callback(ctx.t("common.cancel"), wz(version, "x"))],
    ]
    await ctx.show(text, rows)


async def _catch_up(ctx: Ctx, spec: ModelSpec, job: Job) -> None:
    """The job moved on before its progress message was stored (a retried Confirm after a crash,
    a very fast model): the workers' edits found no message, so show where the job is now."""
    notifier = ctx.deps.notifier
    if job.state in ("failed", "cancelled", "timed_out") and isinstance(notifier, Notifier):
        await notifier.job_ended_without_result(job, job.error_code or "service_error", job.error_message or "")
    elif job.state == "delivered":
        await ctx.show(ctx.t("history.state_done", model=title(spec, ctx.lang)))
    else:
        await ctx.show(progress_text(job, spec, ctx.lang, ctx.deps.now()))


async def _no_free_uses(ctx: Ctx, spec: ModelSpec, draft: ws.Draft, version: int) -> None:
    """The free uses ran out between the summary and the tap: show the paid summary instead."""
    s = ctx.deps.settings
    async with ctx.conn() as conn:
        status = await free_tier.free_status(conn, ctx.user_id, ctx.deps.now(), free_tier.FreeLimits(s.free_daily_limit, s.free_hourly_limit))
    text, rows = await summary_screen(ctx, spec, draft, version, note=free_over_text(ctx, status))
    await ctx.show(text, rows)


async def _started(ctx: Ctx, spec: ModelSpec, job: Job, version: int) -> None:
    """Turn the summary into the job's progress message, drop the draft, wake the workers."""
    if job.progress_message_id is None:
        rows = [[Button.callback(ctx.t("generation.cancel_button"), cb("jcancel", job.id))]]
        message = await ctx.show(progress_text(job, spec, ctx.lang, ctx.deps.now()), rows)
        if message is not None:
            async with ctx.conn() as conn:
                await jobs.set_progress_message(conn, job.id, message.message_id)
                current = await jobs.get_job(conn, job.id)
            if current is not None and current.state != "queued":
                await _catch_up(ctx, spec, current)
    try:
        async with ctx.tx() as conn:
            await conversations.clear_state(conn, ctx.user_id, expected_version=version)
    except StateConflict:
        log.info("draft changed after its job was queued; left as it is", extra={"job_id": job.id})
    ctx.deps.wake_generation()

