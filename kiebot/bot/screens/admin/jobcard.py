"""The job card: what an operator needs to answer "what happened to my generation?".

The model, the parameters as frozen on the job, the prompt, the Kie task id, the request id,
every state with its time (``store.jobs.job_history``), the error, the price and whether it was
free, and Kie's credits as quoted and as billed (``consumeCredits``/``creditsConsumed``). Opened from search results and from a user card.
"""

from __future__ import annotations

import msgspec

from kiebot.bot.context import Ctx, Keyboard
from kiebot.bot.router import routes
from kiebot.bot.screens.admin.common import clear_input, nav_row, precise_when, short_when, when
from kiebot.catalog import title
from kiebot.catalog.texts import choices_in_words, field_label
from kiebot.chat.callback_data import cb, int_arg
from kiebot.chat.format import Safe, credits_text, escape, rub
from kiebot.generation.billing import DRIFT_TOLERANCE
from kiebot.generation.request import JobRequest
from kiebot.i18n import t
from kiebot.store import jobs, users
from kiebot.store.jobs import Job
from kiebot.telegram.types import InlineKeyboardButton as Button

#: Telegram user ids and our job ids are bigint; beyond this a "number" is neither.
MAX_ID = 2**63 - 1

STATE_ICONS = {
    "queued": "⏳",
    "submitting": "⏳",
    "submitted": "🎨",
    "succeeded": "📤",
    "delivered": "✅",
    "failed": "❌",
    "cancelled": "✖",
    "timed_out": "⌛",
}


def job_button(ctx: Ctx, job: Job) -> Button:
    """``✅ #42 Flux · 05-01 12:34`` — a job in a list, opening its card."""
    name = _model_name(ctx, job.model_id)
    return Button.callback(
        f"{STATE_ICONS.get(job.state, '•')} #{job.id} {name} · {short_when(ctx, job.created_at)}",
        cb("adm.j", job.id),
    )


def _model_name(ctx: Ctx, model_id: str) -> str:
    spec = ctx.deps.registry.get(model_id)
    return title(spec, ctx.lang) if spec is not None else model_id


def _params_text(ctx: Ctx, job: Job) -> str:
    """The choices as the user saw them in the wizard (``Формат кадра: 1:1 квадрат``)."""
    try:
        request = JobRequest.from_json(job.params)
    except msgspec.ValidationError:  # an older or foreign shape: show it raw rather than nothing
        return escape(str(job.params)[:600])
    spec = ctx.deps.registry.get(job.model_id)
    parts = [t(ctx.lang, "jobs.param", name=n, value=v) for n, v in choices_in_words(spec, request.params, ctx.lang)]
    labels = {m.wire: m.label for m in spec.media} if spec is not None else {}
    for wire, refs in sorted(request.media.items()):
        parts.append(t(ctx.lang, "admin.job.files", input=field_label(labels.get(wire), wire, ctx.lang), n=len(refs)))
    return escape(", ".join(parts) or "—")


def _prompt_text(job: Job) -> str | None:
    prompt = job.params.get("prompt") if isinstance(job.params, dict) else None
    if not isinstance(prompt, str) or not prompt:
        return None
    return prompt if len(prompt) <= 500 else prompt[:500] + "…"


def _price_text(ctx: Ctx, job: Job) -> str:
    if job.dry_run:
        return ctx.t("admin.job.price_dry_run", price=Safe(rub(job.quote_kopecks, ctx.lang)))
    if job.free:
        return ctx.t("admin.job.price_free")
    return ctx.t("admin.job.price_paid", price=Safe(rub(job.quote_kopecks, ctx.lang)), credits=job.credits)


def credits_line(ctx: Ctx, job: Job) -> str:
    """Quoted and billed Kie credits (issue 15 item 1); a billed figure over the quote by more
    than the drift tolerance is marked with the difference."""
    quoted = credits_text(job.credits, ctx.lang)
    if job.billed_credits is None:
        return ctx.t("billing.job.credits_unbilled", quoted=quoted)
    line = ctx.t("billing.job.credits", quoted=quoted, billed=credits_text(job.billed_credits, ctx.lang))
    if job.billed_credits > job.credits * (1 + float(DRIFT_TOLERANCE)):
        over = "∞" if job.credits <= 0 else f"{(job.billed_credits - job.credits) / job.credits * 100:+.0f}%"
        line += ctx.t("billing.job.drift", percent=over)
    return line


async def job_card_text(ctx: Ctx, job: Job) -> str:
    async with ctx.conn() as conn:
        history = await jobs.job_history(conn, job.id)
        owner = await users.get_user(conn, job.user_id)
    lines = [
        ctx.t("admin.job.title", id=job.id, icon=STATE_ICONS.get(job.state, "•"), state=ctx.t(f"jobs.state.{job.state}")),
        ctx.t(
            "admin.job.user",
            name=owner.first_name if owner else "?",
            id=job.user_id,
        ),
        ctx.t("admin.job.model", title=_model_name(ctx, job.model_id), id=job.model_id),
        ctx.t("admin.job.params", params=Safe(_params_text(ctx, job))),
    ]
    prompt = _prompt_text(job)
    if prompt is not None:
        lines.append(ctx.t("admin.job.prompt", prompt=prompt))
    lines += [
        ctx.t("admin.job.price", price=Safe(_price_text(ctx, job))),
        credits_line(ctx, job),
        ctx.t("admin.job.kie_task", task=job.kie_task_id or "—"),
        ctx.t("admin.job.request_id", request_id=job.request_id or "—"),
        ctx.t("admin.job.created", at=when(ctx, job.created_at)),
    ]
    if job.error_code or job.error_message:
        lines.append(
            ctx.t("admin.job.error", code=job.error_code or "—", message=(job.error_message or "")[:500])
        )
    lines.append(ctx.t("admin.job.history", zone=ctx.zone()))
    for step in history:
        # The note is ours and raw ("create: HTTPStatusError"): the admin card is where it belongs.
        note = f" — {step.note}" if step.note else ""
        lines.append(
            ctx.t("admin.job.step", at=precise_when(ctx, step.at), state=ctx.t(f"jobs.state.{step.to_state}"), note=note)
        )
    return "\n".join(lines)


async def show_job_card(ctx: Ctx, job_id: int) -> None:
    async with ctx.conn() as conn:
        job = await jobs.get_job(conn, job_id)
    if job is None:
        await ctx.show(ctx.t("admin.job.not_found", id=job_id), [nav_row(ctx)])
        return
    keyboard: Keyboard = [
        [Button.callback(ctx.t("admin.job.open_user"), cb("adm.u", job.user_id))],
        [Button.callback(ctx.t("admin.nav.refresh"), cb("adm.j", job.id))],
        nav_row(ctx, cb("adm.u", job.user_id)),
    ]
    await ctx.show(await job_card_text(ctx, job), keyboard)


@routes.callback("adm.j", admin=True)
async def job_card(ctx: Ctx, args: list[str]) -> None:
    await clear_input(ctx)
    await show_job_card(ctx, int_arg(args, 0, minimum=1, maximum=MAX_ID))
