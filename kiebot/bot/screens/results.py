"""The buttons under a result and on a progress message.

* 🔁 Again ``again:<job>`` — the same request once more, through the summary: the price is quoted
  anew (FX, free uses and the balance may have changed) and nothing runs without Confirm;
* ✏️ New prompt ``newp:<job>`` — the same parameters and files, a new text (for a model without
  text: new files; without files either: a new link or earlier result);
* ⚙️ Parameters ``par:<job>`` — the wizard's parameter screen with the same choices;
* ✖ Cancel ``jcancel:<job>`` — while the job is still queued: cancelled and the hold released in
  one transaction (:func:`kiebot.generation.service.cancel_queued`), the progress message says so.

Only the job's owner can use them; anyone else's job id in the data is treated as tampered. The
routes answer their callback queries themselves once the job is found, so a stale or tampered
button still gets the "outdated" toast.
"""

from __future__ import annotations

import msgspec

from kiebot.bot.context import Ctx
from kiebot.bot.router import routes
from kiebot.bot.screens.wizard import state as ws
from kiebot.bot.screens.wizard.flow import advance, present, store
from kiebot.catalog import ModelSpec
from kiebot.chat.callback_data import BadCallback, int_arg
from kiebot.generation import service
from kiebot.generation.notify import Notifier
from kiebot.generation.request import JobRequest
from kiebot.store import jobs
from kiebot.store.jobs import Job


async def own_job(ctx: Ctx, args: list[str]) -> Job:
    """The user's own job named by the button, else :class:`BadCallback`."""
    async with ctx.conn() as conn:
        job = await jobs.get_job(conn, int_arg(args, 0))
    if job is None or job.user_id != ctx.user_id:
        raise BadCallback("not this user's job")
    return job


def draft_of(ctx: Ctx, job: Job) -> tuple[ModelSpec, ws.Draft]:
    """The job's model and a draft holding every choice the job was made with."""
    spec = ctx.deps.registry.get(job.model_id)
    if spec is None:
        raise BadCallback("the job's model left the registry")
    try:
        request = JobRequest.from_json(job.params)
    except msgspec.ValidationError:
        raise BadCallback("the job's request cannot be read") from None
    return spec, ws.from_request(spec, request)


async def _available(ctx: Ctx, spec: ModelSpec) -> bool:
    if await ctx.deps.availability.status(spec.id) == "available":
        return True
    await ctx.send(ctx.t("wizard.unavailable", model=spec.title.get(ctx.lang)))
    return False


@routes.callback("again", answers_itself=True)
async def again(ctx: Ctx, args: list[str]) -> None:
    spec, draft = draft_of(ctx, await own_job(ctx, args))
    await ctx.answer()
    if await _available(ctx, spec):
        await advance(ctx, spec, draft, None, new_message=True)


@routes.callback("newp", answers_itself=True)
async def new_prompt(ctx: Ctx, args: list[str]) -> None:
    spec, draft = draft_of(ctx, await own_job(ctx, args))
    await ctx.answer()
    if not await _available(ctx, spec):
        return
    if spec.prompt is not None:
        draft.prompt = None
        draft.unmark(ws.PROMPT)
    elif spec.media:
        for m in spec.media:
            draft.media[m.wire] = []
            draft.unmark(f"media:{m.wire}")
    else:  # a link or an earlier result is the whole input (Sora watermark, Grok upscale)
        for p in spec.user_params:
            draft.params.pop(p.wire, None)
    await advance(ctx, spec, draft, None, new_message=True)


@routes.callback("par", answers_itself=True)
async def parameters(ctx: Ctx, args: list[str]) -> None:
    spec, draft = draft_of(ctx, await own_job(ctx, args))
    await ctx.answer()
    if not await _available(ctx, spec):
        return
    order = ws.steps(spec)
    draft.step = order[0] if order else ws.SUMMARY
    if draft.step == ws.SUMMARY:
        await advance(ctx, spec, draft, None, new_message=True)
        return
    version = await store(ctx, draft, None)
    if version is not None:
        await present(ctx, spec, draft, version, new_message=True)


@routes.callback("jcancel", answers_itself=True)
async def cancel_job(ctx: Ctx, args: list[str]) -> None:
    job = await own_job(ctx, args)
    if job.state == "cancelled":
        await ctx.answer(ctx.t("generation.cancel_done"))
        return
    outcome = await service.cancel_queued(ctx.deps.db, job.id, ctx.user_id)
    if outcome == "too_late":
        await ctx.answer(ctx.t("generation.cancel_too_late"), alert=True)
        return
    if outcome != "cancelled":
        raise BadCallback("job vanished")
    await ctx.answer(ctx.t("generation.cancel_done"))
    async with ctx.conn() as conn:
        ended = await jobs.get_job(conn, job.id)
    notifier = ctx.deps.notifier
    if ended is not None and isinstance(notifier, Notifier):
        await notifier.job_ended_without_result(ended, "cancelled")
