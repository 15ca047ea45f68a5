"""Moving a draft along: save it, pick the next step, show its screen — for buttons and messages.

Buttons edit the screen they were tapped on; typed or sent input (a prompt, a photo) gets a new
message, since a bot cannot edit the user's message. Every write goes through :func:`store` with
the version that was read, so two updates racing on one draft never silently lose a choice: the
loser gets "this menu is outdated" and the current screen.
"""

from __future__ import annotations

import logging

from kiebot.bot.context import Ctx
from kiebot.bot.router import show_main_menu
from kiebot.bot.screens.wizard import state as ws
from kiebot.bot.screens.wizard.screens import render
from kiebot.catalog import InputIssue, ModelSpec, render_issue, validate_request
from kiebot.chat.format import escape
from kiebot.store import conversations, job_tracking
from kiebot.store.conversations import StateConflict

log = logging.getLogger(__name__)


async def store(ctx: Ctx, draft: ws.Draft, expected: int | None) -> int | None:
    """Save the draft; the new version, or None when someone changed it meanwhile."""
    try:
        async with ctx.tx() as conn:
            return await ws.save(conn, ctx.user_id, draft, ttl_s=ctx.deps.settings.fsm_state_ttl_s, expected=expected)
    except StateConflict:
        return None


async def present(ctx: Ctx, spec: ModelSpec, draft: ws.Draft, version: int, *, new_message: bool, note: str | None = None) -> None:
    """Show the screen of the draft's current step (in place for a button, else a new message)."""
    text, rows = await render(ctx, spec, draft, version, note=note)
    if new_message:
        await ctx.send(text, rows)
    else:
        await ctx.show(text, rows)


def issue_step(spec: ModelSpec, issue: InputIssue) -> str:
    """The step where the input an issue names is given."""
    if spec.prompt is not None and issue.field == spec.prompt.wire:
        return ws.PROMPT
    if spec.media_input(issue.field) is not None:
        return f"media:{issue.field}"
    param = spec.param(issue.field)
    if param is not None and param.type in ("url", "task_ref"):
        return f"user:{issue.field}"
    return ws.PARAMS if spec.wizard_params else ws.SUMMARY


def request_issues(spec: ModelSpec, draft: ws.Draft) -> list[InputIssue]:
    media = {m.wire: [ref.item() for ref in draft.files(m.wire)] for m in spec.media}
    return validate_request(spec, draft.params, prompt=draft.prompt, media=media)


async def advance(
    ctx: Ctx, spec: ModelSpec, draft: ws.Draft, expected: int | None, *, new_message: bool, note: str | None = None
) -> None:
    """Go to the first unfinished step (or the summary, once the whole request checks out)."""
    draft.step = ws.next_step(spec, draft)
    if draft.step == ws.SUMMARY:
        issues = request_issues(spec, draft)
        if issues:
            draft.step = issue_step(spec, issues[0])
            note = escape(render_issue(issues[0], ctx.lang))
    version = await store(ctx, draft, expected)
    if version is None:
        await stale(ctx, new_message=new_message)
        return
    await present(ctx, spec, draft, version, new_message=new_message, note=note)


async def stale(ctx: Ctx, *, new_message: bool = False) -> None:
    """"This menu is outdated" and the fresh screen: the wizard's current step, or the main menu.

    Only the toast when the tapped message is a job's progress message: a Confirm tapped twice
    while the bot was slow or down arrives here after the first tap turned the summary into the
    job's progress message, and replacing that with a menu hid how the job ended (found by the
    chaos run, tests/chaos; regression test in tests/chaos/test_findings.py).
    """
    await ctx.answer(ctx.t("common.outdated"))
    tapped = ctx.query.message if ctx.query is not None else None
    async with ctx.conn() as conn:
        if tapped is not None and await job_tracking.is_progress_message(conn, ctx.user_id, ctx.chat_id, tapped.message_id):
            return
        loaded = await ws.load(conn, ctx.user_id)
    spec = ctx.deps.registry.get(loaded[0].model) if loaded else None
    if loaded is None or spec is None:
        await show_main_menu(ctx)
        return
    draft, version = loaded
    await present(ctx, spec, draft, version, new_message=new_message)


async def forget(ctx: Ctx) -> bool:
    """Drop the user's wizard (or any other input state); True if there was one."""
    async with ctx.tx() as conn:
        return await conversations.clear_state(conn, ctx.user_id)
