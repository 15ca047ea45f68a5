"""The wizard's buttons: start a model, set parameters, move between steps, confirm or cancel.

``go:<code>:<origin>`` starts a wizard from a model card. Every other button is
``wz:<version>:<action>[:args]``; the version must be the draft's current one, else the tap is
stale (an old screen, a tampered button) and gets "this menu is outdated" with the current screen
— never an error, never an action on choices the user has since changed.

Actions: ``nx`` next/done/skip (finish the current step), ``pp:<i>`` open parameter ``i``,
``pv:<i>:<j>`` choose its value ``j``, ``tg:<i>`` toggle a yes/no parameter, ``st:<step>`` go to
a step, ``bk`` back, ``rs`` start the current files over, ``tr:<job>`` pick an earlier result
(Grok upscale), ``ch`` what to change, ``sm`` the summary, ``ok:<f|p>:<kopecks>`` confirm
(:mod:`~kiebot.bot.screens.wizard.confirm`), ``x`` cancel.

This route answers its own callback queries (with "outdated", or a refusal the user must read),
always before any slow work.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Final

from kiebot.bot.context import Ctx
from kiebot.bot.router import routes, show_main_menu
from kiebot.bot.screens.catalog import origin_callback, show_card
from kiebot.bot.screens.wizard import state as ws
from kiebot.bot.screens.wizard.confirm import confirm
from kiebot.bot.screens.wizard.flow import advance, forget, present, stale, store
from kiebot.bot.screens.wizard.quote import choice_issue
from kiebot.bot.screens.wizard.screens import change_screen, picker_screen, step_from_code
from kiebot.catalog import ModelSpec, render_issue
from kiebot.catalog.types import Scalar
from kiebot.chat.callback_data import BadCallback, int_arg, str_arg
from kiebot.store import conversations, jobs
from kiebot.store.conversations import StateConflict

Action = Callable[[Ctx, ModelSpec, ws.Draft, int, list[str]], Awaitable[None]]


@routes.callback("go", answers_itself=True)
async def start_wizard(ctx: Ctx, args: list[str]) -> None:
    """A model card's ▶️ Start: a fresh draft with the defaults (replacing any older wizard)."""
    spec = ctx.deps.registry.require(ctx.deps.codes.model(str_arg(args, 0)))
    origin = str_arg(args, 1) if len(args) > 1 else "m"
    origin_callback(ctx, origin)  # refuses an origin no screen of ours produces
    if await ctx.deps.availability.status(spec.id) != "available":
        await ctx.answer(ctx.t("wizard.unavailable", model=spec.title.get(ctx.lang)), alert=True)
        await show_card(ctx, spec, origin)
        return
    await ctx.answer()
    await advance(ctx, spec, ws.fresh(spec, origin), None, new_message=False)


@routes.callback("wz", answers_itself=True)
async def wizard_button(ctx: Ctx, args: list[str]) -> None:
    version = int_arg(args, 0)
    action = ACTIONS.get(str_arg(args, 1))
    if action is None:
        raise BadCallback("unknown wizard action")
    async with ctx.conn() as conn:
        loaded = await ws.load(conn, ctx.user_id)
    if loaded is None or loaded[1] != version:
        await stale(ctx)
        return
    draft, version = loaded
    spec = ctx.deps.registry.get(draft.model)
    if spec is None:
        await forget(ctx)
        raise BadCallback("the draft's model left the registry")
    await action(ctx, spec, draft, version, args[2:])
    await ctx.answer()


async def _next(ctx: Ctx, spec: ModelSpec, draft: ws.Draft, version: int, args: list[str]) -> None:
    """Next (parameters), Done (files), Skip (an optional step): finish the current step."""
    step = draft.step
    media = ws.media_of(spec, step)
    if media is not None and len(draft.files(media.wire)) < media.min_count:
        await ctx.answer(ctx.t("wizard.media.need_more", n=media.min_count - len(draft.files(media.wire))), alert=True)
        return
    if step == ws.PROMPT and spec.prompt is not None and spec.prompt.required and not (draft.prompt or "").strip():
        await ctx.answer(ctx.t("wizard.prompt.needed"), alert=True)
        return
    if step != ws.SUMMARY:
        draft.mark_done(step)
    await ctx.answer()
    await advance(ctx, spec, draft, version, new_message=False)


async def _open_param(ctx: Ctx, spec: ModelSpec, draft: ws.Draft, version: int, args: list[str]) -> None:
    index = int_arg(args, 0, maximum=len(spec.wizard_params) - 1)
    if spec.wizard_params[index].type != "enum":
        raise BadCallback("not an enum parameter")
    await ctx.answer()
    paused = await ctx.deps.availability.paused_variants(spec.id)
    text, rows = picker_screen(ctx, spec, draft, version, index, paused=paused)
    await ctx.show(text, rows)


async def _choose(ctx: Ctx, spec: ModelSpec, draft: ws.Draft, version: int, args: list[str]) -> None:
    index = int_arg(args, 0, maximum=len(spec.wizard_params) - 1)
    param = spec.wizard_params[index]
    if param.type != "enum":
        raise BadCallback("not an enum parameter")
    value = param.values[int_arg(args, 1, maximum=len(param.values) - 1)]
    await _set_param(ctx, spec, draft, version, param.wire, value)


async def _toggle(ctx: Ctx, spec: ModelSpec, draft: ws.Draft, version: int, args: list[str]) -> None:
    param = spec.wizard_params[int_arg(args, 0, maximum=len(spec.wizard_params) - 1)]
    if param.type != "bool":
        raise BadCallback("not a yes/no parameter")
    current = draft.params.get(param.wire, param.default)
    await _set_param(ctx, spec, draft, version, param.wire, not bool(current))


async def _set_param(ctx: Ctx, spec: ModelSpec, draft: ws.Draft, version: int, wire: str, value: Scalar) -> None:
    param = spec.param(wire)
    assert param is not None
    issue = choice_issue(spec, draft, param, value)
    if issue is not None:
        await ctx.answer(render_issue(issue, ctx.lang), alert=True)
        return
    await ctx.answer()
    draft.params[wire] = value
    await _show_step(ctx, spec, draft, version, ws.PARAMS)


async def _go_to(ctx: Ctx, spec: ModelSpec, draft: ws.Draft, version: int, args: list[str]) -> None:
    step = step_from_code(spec, str_arg(args, 0))
    if step is None:
        raise BadCallback("unknown step")
    await ctx.answer()
    await _show_step(ctx, spec, draft, version, step)


async def _show_step(ctx: Ctx, spec: ModelSpec, draft: ws.Draft, version: int, step: str) -> None:
    if step == ws.SUMMARY:
        await advance(ctx, spec, draft, version, new_message=False)
        return
    draft.step = step
    new_version = await store(ctx, draft, version)
    if new_version is None:
        await stale(ctx)
        return
    await present(ctx, spec, draft, new_version, new_message=False)


async def _back(ctx: Ctx, spec: ModelSpec, draft: ws.Draft, version: int, args: list[str]) -> None:
    """One step back; from the first step, back to the model card (the draft is dropped)."""
    await ctx.answer()
    previous = ws.previous_step(spec, draft.step)
    if previous is None:
        await _drop(ctx, version)
        await show_card(ctx, spec, draft.origin)
        return
    await _show_step(ctx, spec, draft, version, previous)


async def _restart_files(ctx: Ctx, spec: ModelSpec, draft: ws.Draft, version: int, args: list[str]) -> None:
    media = ws.media_of(spec, draft.step)
    if media is None:
        raise BadCallback("not a file step")
    await ctx.answer()
    draft.media[media.wire] = []
    draft.unmark(draft.step)
    await _show_step(ctx, spec, draft, version, draft.step)


async def _pick_task(ctx: Ctx, spec: ModelSpec, draft: ws.Draft, version: int, args: list[str]) -> None:
    """An earlier result as the input (Grok upscale takes the Kie task of the user's own video)."""
    param = ws.user_param_of(spec, draft.step)
    if param is None or param.type != "task_ref":
        raise BadCallback("not a task step")
    async with ctx.conn() as conn:
        job = await jobs.get_job(conn, int_arg(args, 0))
    if job is None or job.user_id != ctx.user_id or job.model_id not in param.accepts or job.state != "delivered" or not job.kie_task_id:
        raise BadCallback("not an accepted result of this user")
    await ctx.answer()
    draft.params[param.wire] = job.kie_task_id
    await advance(ctx, spec, draft, version, new_message=False)


async def _change(ctx: Ctx, spec: ModelSpec, draft: ws.Draft, version: int, args: list[str]) -> None:
    await ctx.answer()
    order = ws.steps(spec)
    if len(order) == 1:
        await _show_step(ctx, spec, draft, version, order[0])
        return
    text, rows = change_screen(ctx, spec, version)
    await ctx.show(text, rows)


async def _summary(ctx: Ctx, spec: ModelSpec, draft: ws.Draft, version: int, args: list[str]) -> None:
    await ctx.answer()
    await advance(ctx, spec, draft, version, new_message=False)


async def _cancel(ctx: Ctx, spec: ModelSpec, draft: ws.Draft, version: int, args: list[str]) -> None:
    await ctx.answer(ctx.t("wizard.cancelled"))
    await _drop(ctx, version)
    await show_main_menu(ctx)


async def _drop(ctx: Ctx, version: int) -> None:
    try:
        async with ctx.tx() as conn:
            await conversations.clear_state(conn, ctx.user_id, expected_version=version)
    except StateConflict:
        pass  # changed meanwhile: the newer state is not ours to drop


ACTIONS: Final[dict[str, Action]] = {
    "nx": _next,
    "pp": _open_param,
    "pv": _choose,
    "tg": _toggle,
    "st": _go_to,
    "bk": _back,
    "rs": _restart_files,
    "tr": _pick_task,
    "ch": _change,
    "sm": _summary,
    "ok": confirm,
    "x": _cancel,
}
