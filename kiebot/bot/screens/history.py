"""📜 History and /history: the user's last 20 generations, each one openable.

A job's card shows its state, model, choices, price (or refund) and date, with 📥 Get it again —
the result is re-sent by the Telegram ``file_id`` stored when it was delivered
(``job.result["telegram"]``), so nothing is downloaded again and Kie's expired links do not
matter — and 🔁 Repeat (the ``again`` flow: through the summary, priced anew).

Callback data: ``hist:<page>``, ``hj:<job>``, ``hr:<job>``; the routes answer their callback
queries themselves once the data checks out (a stale button still gets the "outdated" toast). Times are
on the deployment's one clock (``TIMEZONE``), which the list and the card name.
"""

from __future__ import annotations

from typing import Any, Final

from kiebot.bot.context import Ctx, markup
from kiebot.bot.router import routes
from kiebot.bot.screens.results import draft_of, own_job
from kiebot.bot.screens.wizard.screens import choice_lines, task_sources
from kiebot.chat.callback_data import BadCallback, cb, int_arg
from kiebot.chat.format import Safe, rub
from kiebot.generation.deliver import result_keyboard
from kiebot.generation.notify import model_title
from kiebot.generation.reasons import user_reason
from kiebot.store import jobs as jobs_store
from kiebot.store.jobs import Job
from kiebot.telegram.errors import BadRequest
from kiebot.telegram.types import InlineKeyboardButton as Button

LIMIT: Final = 20
PAGE: Final = 10
ICONS: Final = {"delivered": "✅", "failed": "❌", "cancelled": "✖", "timed_out": "⌛"}
IN_PROGRESS: Final = "⏳"


def _price(ctx: Ctx, job: Job) -> str:
    if job.free:
        return ctx.t("history.price_free")
    if job.dry_run:
        return ctx.t("history.price_dry_run")
    amount = rub(job.quote_kopecks, ctx.lang)
    if job.state in ("failed", "cancelled", "timed_out"):
        return ctx.t("history.price_refunded", price=amount)
    if job.state != "delivered":
        return ctx.t("history.price_held", price=amount)
    return amount


def _row(ctx: Ctx, number: int, job: Job) -> str:
    return ctx.t(
        "history.row",
        n=number,
        icon=ICONS.get(job.state, IN_PROGRESS),
        model=model_title(ctx.deps.registry, job.model_id, ctx.lang),
        date=ctx.when(job.created_at),
        price=Safe(_price(ctx, job)),
    )


async def show_history(ctx: Ctx, page: int, *, new_message: bool) -> None:
    async with ctx.conn() as conn:
        jobs = await jobs_store.recent_jobs(conn, ctx.user_id, limit=LIMIT)
    pages = max(1, -(-len(jobs) // PAGE))
    if page >= pages:
        raise BadCallback("history page out of range")
    await ctx.answer()
    rows: list[list[Button]] = []
    if not jobs:
        text = ctx.t("history.empty")
        rows.append([Button.callback(ctx.t("menu.popular"), cb("pop", 0))])
    else:
        shown = jobs[page * PAGE : (page + 1) * PAGE]
        first = page * PAGE + 1
        lines = [ctx.t("history.title", n=len(jobs), zone=ctx.zone())]
        lines += [_row(ctx, first + i, job) for i, job in enumerate(shown)]
        text = "\n".join(lines)
        numbers = [Button.callback(str(first + i), cb("hj", job.id)) for i, job in enumerate(shown)]
        rows += [numbers[i : i + 5] for i in range(0, len(numbers), 5)]
        nav = []
        if page > 0:
            nav.append(Button.callback("◀️", cb("hist", page - 1)))
        if page < pages - 1:
            nav.append(Button.callback("▶️", cb("hist", page + 1)))
        rows.append(nav)
    rows.append([Button.callback(ctx.t("common.menu"), cb("menu"))])
    if new_message:
        await ctx.send(text, rows)
    else:
        await ctx.show(text, rows)


@routes.command("history")
async def history_command(ctx: Ctx, arg: str) -> None:
    await show_history(ctx, 0, new_message=True)


@routes.callback("hist", answers_itself=True)
async def history_button(ctx: Ctx, args: list[str]) -> None:
    await show_history(ctx, int_arg(args, 0, maximum=LIMIT // PAGE), new_message=False)


def _deliverables(job: Job) -> list[dict[str, Any]]:
    """What was sent to the user for this job, re-sendable by file_id (or a link)."""
    sent = (job.result or {}).get("telegram") or []
    return [item for item in sent if isinstance(item, dict) and (item.get("file_id") or item.get("type") == "link")]


@routes.callback("hj", answers_itself=True)
async def job_card(ctx: Ctx, args: list[str]) -> None:
    job = await own_job(ctx, args)
    spec, draft = draft_of(ctx, job)
    await ctx.answer()
    async with ctx.conn() as conn:
        tasks = await task_sources(conn, ctx.user_id, spec, draft)
    lines = [
        ctx.t("history.card_title", icon=ICONS.get(job.state, IN_PROGRESS), model=model_title(ctx.deps.registry, job.model_id, ctx.lang)),
        ctx.t("history.card_state", state=ctx.t(f"history.state.{job.state}")),
        ctx.t("history.card_date", date=ctx.when(job.created_at), zone=ctx.zone()),
        ctx.t("history.card_price", price=Safe(_price(ctx, job))),
        *choice_lines(ctx, spec, draft, tasks),
    ]
    if job.state == "failed" and job.error_code:
        reason = ctx.t(f"generation.reason.{user_reason(job.error_code, job.error_message)}")
        lines.append(ctx.t("history.card_error", reason=Safe(reason)))
    rows: list[list[Button]] = []
    if job.state == "delivered" and _deliverables(job):
        rows.append([Button.callback(ctx.t("history.resend"), cb("hr", job.id))])
    rows.append([Button.callback(ctx.t("history.repeat"), cb("again", job.id))])
    rows.append([Button.callback(ctx.t("history.back"), cb("hist", 0)), Button.callback(ctx.t("common.menu"), cb("menu"))])
    await ctx.show("\n".join(lines), rows)


@routes.callback("hr", answers_itself=True)
async def resend(ctx: Ctx, args: list[str]) -> None:
    """Send the delivered result again, by the file_ids Telegram gave us at delivery."""
    job = await own_job(ctx, args)
    items = _deliverables(job)
    if job.state != "delivered" or not items:
        raise BadCallback("nothing to re-send")
    await ctx.answer()
    keyboard = markup(result_keyboard(job, ctx.lang))
    caption = ctx.t("generation.result_caption", model=model_title(ctx.deps.registry, job.model_id, ctx.lang))
    tg = ctx.tg
    try:
        for index, item in enumerate(items):
            last = index == len(items) - 1
            reply = keyboard if last else None
            file_id = str(item.get("file_id") or "")
            kind = item.get("type")
            if kind == "photo":
                await tg.send_photo(ctx.chat_id, file_id, caption=caption, parse_mode="HTML", reply_markup=reply)
            elif kind == "video":
                await tg.send_video(ctx.chat_id, file_id, caption=caption, parse_mode="HTML", reply_markup=reply)
            elif kind == "audio":
                await tg.send_audio(ctx.chat_id, file_id, caption=caption, parse_mode="HTML", reply_markup=reply)
            elif kind == "link":
                await ctx.send(ctx.t("history.link", url=str(item.get("url") or "")), result_keyboard(job, ctx.lang) if last else None)
            else:
                await tg.send_document(ctx.chat_id, file_id, caption=caption, parse_mode="HTML", reply_markup=reply)
    except BadRequest:
        await ctx.send(ctx.t("history.gone"), [[Button.callback(ctx.t("history.repeat"), cb("again", job.id))]])
