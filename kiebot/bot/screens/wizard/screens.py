"""What each wizard step looks like: its text and its buttons.

Every wizard button is ``wz:<version>:<action>[:args]`` (see :mod:`kiebot.bot.screens.wizard.handlers`);
the version is the conversation state's, so a screen's buttons stop working the moment the draft
changes elsewhere and the user gets a fresh screen instead of a wrong action. Every screen has
Back (one step back; from the first step to the model card) and Cancel, so no screen is a dead
end (the original bot's owner asked for exactly that, reference/peers-and-style.md A.2).

Texts live in ``locales/*/wizard.toml``; user-supplied values (prompts, file names) are escaped.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from kiebot.bot.context import Ctx, Keyboard
from kiebot.bot.screens.wizard import state as ws
from kiebot.bot.screens.wizard.media import format_names
from kiebot.bot.screens.wizard.quote import draft_quote, unit_price, value_prices
from kiebot.catalog import ModelSpec, param_label, title, unit_label, value_label
from kiebot.catalog.pricing import (
    PricingError,
    Quote,
    find_sku,
    free_variant,
    has_paid_variants,
    is_free_variant,
    kopecks_for,
    sku_key,
)
from kiebot.catalog.texts import field_label, value_text
from kiebot.catalog.types import MediaSpec, ParamSpec, Scalar
from kiebot.chat.callback_data import cb
from kiebot.chat.format import Safe, duration, escape, rub
from kiebot.i18n import catalog, t
from kiebot.store import catalog_sync, free_tier, money
from kiebot.store import jobs as jobs_store
from kiebot.store.db import Conn
from kiebot.store.jobs import Job
from kiebot.telegram.types import InlineKeyboardButton as Button

Screen = tuple[str, Keyboard]

ROW: Final = 3
PROMPT_PREVIEW: Final = 300
TASK_CHOICES: Final = 8


def wz(version: int, *args: object) -> str:
    return cb("wz", version, *args)


def _nav(ctx: Ctx, version: int) -> list[Button]:
    return [Button.callback(ctx.t("common.back"), wz(version, "bk")), Button.callback(ctx.t("common.cancel"), wz(version, "x"))]


def _rows(buttons: Sequence[Button], per_row: int = ROW) -> list[list[Button]]:
    return [list(buttons[i : i + per_row]) for i in range(0, len(buttons), per_row)]


def _quote(ctx: Ctx, spec: ModelSpec, draft: ws.Draft) -> Quote | None:
    try:
        return draft_quote(spec, draft, fx=ctx.deps.fx.current(), markup=ctx.deps.markup)
    except PricingError:
        return None


def _variant_key(spec: ModelSpec, params: dict[str, Scalar]) -> str | None:
    try:
        sku, _ = find_sku(spec, params)
    except PricingError:
        return None
    return sku_key(spec, sku.when)


def shown_value(spec: ModelSpec, param: ParamSpec, value: Scalar | None, lang: str) -> str:
    return value_text(param, value, lang)


def free_variant_text(ctx: Ctx, spec: ModelSpec) -> str:
    """The free variant of a free-tier model in words: ``Разрешение: 480p``."""
    parts = []
    for wire, value in free_variant(spec).when.items():
        param = spec.param(wire)
        if param is not None:
            parts.append(f"{param_label(param, ctx.lang)}: {value_label(param, value, ctx.lang)}")
    return ", ".join(parts)


def free_here(ctx: Ctx, spec: ModelSpec, quoted: Quote | None) -> bool:
    """Whether the draft, priced ``quoted``, is a free-tier model at its free variant (issue 13
    item 8: free means the cheapest variant; the others are paid from the balance)."""
    return spec.id in ctx.deps.free_tier and quoted is not None and is_free_variant(spec, quoted.credits)


def free_only_note(ctx: Ctx, spec: ModelSpec) -> str:
    """"Free only at …; this variant is paid" for a free-tier model at a dearer variant."""
    variant = free_variant_text(ctx, spec)
    return ctx.t("edges.free_only", variant=variant) if variant else ctx.t("edges.free_only_smallest")


def price_line(ctx: Ctx, spec: ModelSpec, draft: ws.Draft, *, final: bool) -> str:
    """The price as it stands: per unit for a metered model until the quantity is known. A
    free-tier model says "free" only at its free variant, and which variant that is otherwise."""
    if spec.id in ctx.deps.free_tier and not final:
        if not has_paid_variants(spec):
            return ctx.t("wizard.price.free_model")
        if free_here(ctx, spec, _quote(ctx, spec, draft)):
            variant = free_variant_text(ctx, spec)
            return ctx.t("edges.free_here", variant=variant) if variant else ctx.t("wizard.price.free_model")
        return free_only_note(ctx, spec) + "\n" + _paid_line(ctx, spec, draft, final=final)
    return _paid_line(ctx, spec, draft, final=final)


def _paid_line(ctx: Ctx, spec: ModelSpec, draft: ws.Draft, *, final: bool) -> str:
    fx, markup = ctx.deps.fx.current(), ctx.deps.markup
    if spec.pricing.metered and not final:
        per = Safe(rub(unit_price(spec, fx=fx, markup=markup), ctx.lang))
        return ctx.t("wizard.price.per_unit", price=per, unit=unit_label(spec.pricing.unit, ctx.lang))
    quoted = _quote(ctx, spec, draft)
    if quoted is None:
        return ctx.t("wizard.price.not_offered")
    if spec.pricing.metered:
        per = Safe(rub(unit_price(spec, fx=fx, markup=markup), ctx.lang))
        return ctx.t(
            "wizard.price.metered",
            price=Safe(rub(quoted.kopecks, ctx.lang)),
            quantity=quoted.quantity,
            unit_price=per,
            unit=unit_label(spec.pricing.unit, ctx.lang),
        )
    return ctx.t("wizard.price.fixed", price=Safe(rub(quoted.kopecks, ctx.lang)))


# ---- parameters ---------------------------------------------------------------------------------


def params_screen(ctx: Ctx, spec: ModelSpec, draft: ws.Draft, version: int) -> Screen:
    lines = [
        ctx.t("wizard.params.line", name=param_label(p, ctx.lang), value=shown_value(spec, p, draft.params.get(p.wire), ctx.lang))
        for p in spec.wizard_params
    ]
    text = "\n".join(
        [ctx.t("wizard.params.header", model=title(spec, ctx.lang)), *lines, "", price_line(ctx, spec, draft, final=False)]
    )
    rows: list[list[Button]] = []
    for index, p in enumerate(spec.wizard_params):
        current = shown_value(spec, p, draft.params.get(p.wire), ctx.lang)
        if p.type == "bool":
            rows.append([Button.callback(ctx.t("wizard.params.toggle", value=current), wz(version, "tg", index))])
        else:
            rows.append([Button.callback(ctx.t("wizard.params.button", name=param_label(p, ctx.lang), value=current), wz(version, "pp", index))])
    rows.append([Button.callback(ctx.t("wizard.next"), wz(version, "nx"))])
    rows.append(_nav(ctx, version))
    return text, rows


def picker_screen(
    ctx: Ctx, spec: ModelSpec, draft: ws.Draft, version: int, index: int, *, paused: frozenset[str] = frozenset()
) -> Screen:
    """The values of one enum parameter: the current one marked, prices where they differ, ⏸ on
    a value whose variant is paused for sale (``paused``: SKU keys)."""
    param = spec.wizard_params[index]
    fx, markup = ctx.deps.fx.current(), ctx.deps.markup
    prices = value_prices(spec, draft, param, fx=fx, markup=markup)
    free_kopecks: int | None = None
    if spec.id in ctx.deps.free_tier and prices:
        free_kopecks = kopecks_for(free_variant(spec).credits * spec.pricing.quantity_min, fx=fx, markup=markup)
    buttons = []
    for j, value in enumerate(param.values):
        label = value_label(param, value, ctx.lang)
        if paused and _variant_key(spec, {**draft.params, param.wire: value}) in paused:
            label = ctx.t("billing.value_paused", value=label)
        elif value in prices and prices[value] is None:
            label = ctx.t("wizard.params.not_offered", value=label)
        elif value in prices and prices[value] == free_kopecks:
            label = ctx.t("edges.free_value", value=label)
        elif value in prices:
            label = ctx.t("wizard.params.with_price", value=label, price=rub(prices[value] or 0, ctx.lang))
        if draft.params.get(param.wire) == value:
            label = ctx.t("wizard.params.current", value=label)
        buttons.append(Button.callback(label, wz(version, "pv", index, j)))
    per_row = 2 if any(len(b.text) > 14 for b in buttons) else ROW
    rows = _rows(buttons, per_row)
    rows.append([Button.callback(ctx.t("common.back"), wz(version, "st", ws.PARAMS))])
    text = ctx.t("wizard.params.choose", model=title(spec, ctx.lang), name=param_label(param, ctx.lang))
    return text, rows


# ---- files -------------------------------------------------------------------------------------


def media_screen(ctx: Ctx, spec: ModelSpec, draft: ws.Draft, version: int, media: MediaSpec) -> Screen:
    count = len(draft.files(media.wire))
    label = field_label(media.label, media.wire, ctx.lang)
    limit = ctx.t("wizard.media.max_seconds", n=media.max_seconds) if media.max_seconds else ""
    lines = [
        ctx.t(
            f"wizard.media.ask.{media.type}",
            label=label,
            formats=format_names(media.mime_types),
            mb=media.max_mb,
            limit=Safe(limit),
        )
    ]
    if media.max_count > 1:
        lines.append(ctx.t("wizard.media.many", min=max(1, media.min_count), max=media.max_count))
    if media.min_count == 0:
        lines.append(ctx.t("wizard.media.optional"))
    if count:
        lines.append(ctx.t("wizard.media.received", count=count, max=media.max_count))
    rows: list[list[Button]] = []
    if count and count >= media.min_count:
        rows.append([Button.callback(ctx.t("wizard.done" if media.max_count > 1 else "wizard.next"), wz(version, "nx"))])
    if count == 0 and media.min_count == 0:
        rows.append([Button.callback(ctx.t("wizard.skip"), wz(version, "nx"))])
    if count:
        rows.append([Button.callback(ctx.t("wizard.media.restart"), wz(version, "rs"))])
    rows.append(_nav(ctx, version))
    return "\n".join(lines), rows


# ---- inputs only the user has ------------------------------------------------------------------


def url_screen(ctx: Ctx, spec: ModelSpec, draft: ws.Draft, version: int, param: ParamSpec) -> Screen:
    label = param_label(param, ctx.lang)
    lines = [ctx.t("wizard.user.url", label=label)]
    hint_key = f"wizard.user.hint.{param.label}"
    if param.label and hint_key in catalog("ru"):
        lines.append(ctx.t(hint_key))
    rows: list[list[Button]] = []
    current = draft.params.get(param.wire)
    if current is not None:
        lines.append(ctx.t("wizard.user.current", value=str(current)))
        rows.append([Button.callback(ctx.t("wizard.keep"), wz(version, "nx"))])
    rows.append(_nav(ctx, version))
    return "\n".join(lines), rows


def task_choices(spec: ModelSpec, param: ParamSpec, jobs: Sequence[Job]) -> list[Job]:
    """The user's earlier results this input accepts (Grok videos for Grok upscale)."""
    accepted = [j for j in jobs if j.model_id in param.accepts and j.state == "delivered" and j.kie_task_id]
    return accepted[:TASK_CHOICES]


async def task_screen(ctx: Ctx, spec: ModelSpec, version: int, param: ParamSpec) -> Screen:
    async with ctx.conn() as conn:
        jobs = await jobs_store.recent_jobs(conn, ctx.user_id, limit=50)
    choices = task_choices(spec, param, jobs)
    rows: list[list[Button]] = []
    if not choices:
        text = ctx.t("wizard.user.task_none", label=param_label(param, ctx.lang))
        for model_id in param.accepts:
            source = ctx.deps.registry.get(model_id)
            if source is not None and source.enabled:
                rows.append([Button.callback(title(source, ctx.lang), cb("mdl", ctx.deps.codes.code(model_id), "m"))])
    else:
        text = ctx.t("wizard.user.task_pick", label=param_label(param, ctx.lang))
        for job in choices:
            prompt = str(job.params.get("prompt") or "")
            snippet = prompt[:24] + ("…" if len(prompt) > 24 else "")
            # Button labels are plain text, not HTML: the user's own prompt goes in unescaped.
            label = t(ctx.lang, "wizard.user.task_button", date=ctx.when(job.created_at), prompt=snippet)
            rows.append([Button.callback(label, wz(version, "tr", job.id))])
    rows.append(_nav(ctx, version))
    return text, rows


# ---- text --------------------------------------------------------------------------------------


def prompt_screen(ctx: Ctx, spec: ModelSpec, draft: ws.Draft, version: int) -> Screen:
    assert spec.prompt is not None
    label = spec.prompt.label
    lines = [ctx.t(f"wizard.prompt.ask.{label}", max=spec.prompt.max_length)]
    example_key = f"catalog_ui.example.{spec.kind}"
    if label in ("prompt", "sound_prompt") and example_key in catalog("ru"):
        lines.append(ctx.t("wizard.prompt.example", example=ctx.t(example_key)))
    if spec.pricing.metered and spec.pricing.quantity == "text_chars":
        lines.append(price_line(ctx, spec, draft, final=False))
    rows: list[list[Button]] = []
    current = (draft.prompt or "").strip()
    if current:
        shown = current if len(current) <= PROMPT_PREVIEW else current[: PROMPT_PREVIEW - 1] + "…"
        lines.append(ctx.t("wizard.prompt.current", text=shown))
        rows.append([Button.callback(ctx.t("wizard.keep"), wz(version, "nx"))])
    elif not spec.prompt.required:
        rows.append([Button.callback(ctx.t("wizard.skip"), wz(version, "nx"))])
    rows.append(_nav(ctx, version))
    return "\n".join(lines), rows


# ---- the summary -------------------------------------------------------------------------------


def choice_lines(ctx: Ctx, spec: ModelSpec, draft: ws.Draft, tasks: dict[str, Job] | None = None) -> list[str]:
    """Every choice of the draft in words (the summary and the history card use it)."""
    lines = [ctx.t("wizard.summary.line", name=param_label(p, ctx.lang), value=shown_value(spec, p, draft.params.get(p.wire), ctx.lang)) for p in spec.wizard_params]
    for m in spec.media:
        count = len(draft.files(m.wire))
        name = field_label(m.label, m.wire, ctx.lang)
        if count == 0:
            lines.append(ctx.t("wizard.summary.none", name=name))
        elif m.max_count > 1:
            lines.append(ctx.t("wizard.summary.files", name=name, count=count))
        else:
            lines.append(ctx.t("wizard.summary.file", name=name))
    for p in spec.user_params:
        value = draft.params.get(p.wire)
        name = param_label(p, ctx.lang)
        source = (tasks or {}).get(str(value)) if p.type == "task_ref" else None
        if source is not None:
            lines.append(ctx.t("wizard.summary.task", name=name, date=ctx.when(source.created_at, "date")))
        else:
            lines.append(ctx.t("wizard.summary.line", name=name, value="—" if value is None else str(value)))
    if spec.prompt is not None:
        name = field_label(spec.prompt.label, spec.prompt.wire, ctx.lang)
        text = (draft.prompt or "").strip()
        if not text:
            lines.append(ctx.t("wizard.summary.none", name=name))
        else:
            shown = text if len(text) <= PROMPT_PREVIEW else text[: PROMPT_PREVIEW - 1] + "…"
            lines.append(ctx.t("wizard.summary.prompt", name=name, text=shown, length=len(text)))
    return lines


def _limits(ctx: Ctx) -> free_tier.FreeLimits:
    s = ctx.deps.settings
    return free_tier.FreeLimits(daily=s.free_daily_limit, hourly=s.free_hourly_limit)


async def summary_screen(ctx: Ctx, spec: ModelSpec, draft: ws.Draft, version: int, *, note: str | None = None) -> Screen:
    """Every choice, the exact price and the balance → Confirm · Change · Cancel."""
    quoted = _quote(ctx, spec, draft)
    async with ctx.conn() as conn:
        account = await money.get_account(conn, ctx.user_id)
        status = await free_tier.free_status(conn, ctx.user_id, ctx.deps.now(), _limits(ctx))
        tasks = await task_sources(conn, ctx.user_id, spec, draft)
        kie_troubled = await catalog_sync.troubled(conn, spec.id, ctx.deps.now())
    lines = [ctx.t("wizard.summary.title"), ctx.t("wizard.summary.model", model=title(spec, ctx.lang)), *choice_lines(ctx, spec, draft, tasks), ""]
    if kie_troubled:
        lines += [ctx.t("catalog_sync.user.troubled"), ""]
    rows: list[list[Button]] = []
    free = free_here(ctx, spec, quoted)
    if quoted is None:
        lines.append(ctx.t("wizard.price.not_offered"))
    elif quoted.sku_key in await ctx.deps.availability.paused_variants(spec.id):
        # Kie bills this variant at or above our price: no Confirm until an admin resumes it.
        lines.append(ctx.t("billing.variant_unavailable"))
    elif free and status.available_now:
        # Today's uses against today's limit, and bonus uses apart: "3 of 5" never reads "8 of 5".
        lines.append(ctx.t("wizard.price.free", left=status.left_today, limit=status.limit))
        if status.bonus_left:
            lines.append(ctx.t("wizard.price.free_bonus", n=status.bonus_left))
        rows.append([Button.callback(ctx.t("wizard.confirm_free"), wz(version, "ok", "f", 0))])
    else:
        if free:
            lines.append(free_over_text(ctx, status))
        elif spec.id in ctx.deps.free_tier:
            lines.append(free_only_note(ctx, spec))
        lines.append(price_line(ctx, spec, draft, final=True))
        lines.append(ctx.t("wizard.price.balance", balance=Safe(rub(account.balance, ctx.lang))))
        missing = quoted.kopecks - account.balance
        rows.append([Button.callback(ctx.t("wizard.confirm_paid", price=rub(quoted.kopecks, ctx.lang)), wz(version, "ok", "p", quoted.kopecks))])
        if missing > 0:
            lines.append(ctx.t("wizard.price.missing", missing=Safe(rub(missing, ctx.lang))))
            rows.append([Button.callback(ctx.t("wizard.top_up"), cb("bal"))])
    if note:
        lines.insert(0, note + "\n")
    rows.append([Button.callback(ctx.t("wizard.change"), wz(version, "ch")), Button.callback(ctx.t("common.cancel"), wz(version, "x"))])
    return "\n".join(lines), rows


def free_over_text(ctx: Ctx, status: free_tier.FreeStatus) -> str:
    if status.next_at is None:
        return ctx.t("wizard.price.free_never")
    wait = max(0.0, (status.next_at - ctx.deps.now()).total_seconds())
    return ctx.t("wizard.price.free_over", wait=duration(wait, ctx.lang))


async def task_sources(conn: Conn, user_id: int, spec: ModelSpec, draft: ws.Draft) -> dict[str, Job]:
    """The earlier jobs a draft's task_ref inputs point at, by Kie task id (for their dates)."""
    wanted = {str(draft.params[p.wire]) for p in spec.user_params if p.type == "task_ref" and p.wire in draft.params}
    if not wanted:
        return {}
    jobs = await jobs_store.recent_jobs(conn, user_id, limit=50)
    return {j.kie_task_id: j for j in jobs if j.kie_task_id is not None and j.kie_task_id in wanted}


def change_screen(ctx: Ctx, spec: ModelSpec, version: int) -> Screen:
    """"What to change?": one button per step, back to the summary."""
    rows: list[list[Button]] = []
    for step in ws.steps(spec):
        rows.append([Button.callback(step_label(ctx, spec, step), wz(version, "st", step_code(spec, step)))])
    rows.append([Button.callback(ctx.t("wizard.to_summary"), wz(version, "sm"))])
    return ctx.t("wizard.change_title"), rows


def step_label(ctx: Ctx, spec: ModelSpec, step: str) -> str:
    if step == ws.PARAMS:
        return ctx.t("wizard.step.params")
    if step == ws.PROMPT:
        assert spec.prompt is not None
        return ctx.t("wizard.step.input", name=field_label(spec.prompt.label, spec.prompt.wire, ctx.lang))
    media = ws.media_of(spec, step)
    if media is not None:
        return ctx.t("wizard.step.input", name=field_label(media.label, media.wire, ctx.lang))
    param = ws.user_param_of(spec, step)
    return ctx.t("wizard.step.input", name=param_label(param, ctx.lang) if param else step)


def step_code(spec: ModelSpec, step: str) -> str:
    """A step as callback data: ``params``, ``prompt`` or the index of the step (``2``)."""
    if step in (ws.PARAMS, ws.PROMPT, ws.SUMMARY):
        return step
    return str(ws.steps(spec).index(step))


def step_from_code(spec: ModelSpec, code: str) -> str | None:
    order = ws.steps(spec)
    if code in (ws.PARAMS, ws.PROMPT):
        return code if code in order else None
    if code == ws.SUMMARY:
        return code
    if code.isdigit() and int(code) < len(order):
        return order[int(code)]
    return None


async def render(ctx: Ctx, spec: ModelSpec, draft: ws.Draft, version: int, *, note: str | None = None) -> Screen:
    """The screen of the draft's current step."""
    step = draft.step
    if step == ws.PARAMS and spec.wizard_params:
        text, rows = params_screen(ctx, spec, draft, version)
    elif step == ws.PROMPT and spec.prompt is not None:
        text, rows = prompt_screen(ctx, spec, draft, version)
    elif (media := ws.media_of(spec, step)) is not None:
        text, rows = media_screen(ctx, spec, draft, version, media)
    elif (param := ws.user_param_of(spec, step)) is not None:
        if param.type == "task_ref":
            text, rows = await task_screen(ctx, spec, version, param)
        else:
            text, rows = url_screen(ctx, spec, draft, version, param)
    else:
        return await summary_screen(ctx, spec, draft, version, note=note)
    if note:
        text = note + "\n\n" + text
    return text, rows


def escape_issue(text: str) -> Safe:
    """A catalogue validation message (plain text with user values inside) made HTML-safe."""
    return Safe(escape(text))
