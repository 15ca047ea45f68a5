"""What the user types or sends while a wizard waits: files, the prompt, a link; and /cancel.

Each input is checked against the model before it is kept — a file's type, size, duration and
pixels (a document's measured from its bytes, :mod:`.documents`), a prompt's length, a link's form — and refused with a message that says what is accepted,
so nothing Kie would reject (and nothing we could not price) reaches the summary. Accepted input
moves the wizard on with a new message (the bot cannot edit the user's message).

A photo's caption counts as the prompt when the model takes one and none was given yet: users
often send both at once.
"""

from __future__ import annotations

from kiebot.bot.context import Ctx
from kiebot.bot.router import routes, show_main_menu
from kiebot.bot.screens.wizard import state as ws
from kiebot.bot.screens.wizard.documents import measured_document
from kiebot.bot.screens.wizard.flow import advance, forget, present, store
from kiebot.bot.screens.wizard.media import file_issues, format_names, incoming_file
from kiebot.bot.screens.wizard.screens import escape_issue
from kiebot.catalog import InputIssue, InvalidRequest, ModelSpec, render_issue, validate_request
from kiebot.catalog.types import MediaSpec, ParamSpec
from kiebot.catalog.validation import resolve_params
from kiebot.chat.format import Safe
from kiebot.store.conversations import ConversationState
from kiebot.telegram.types import Message


@routes.command("cancel")
async def cancel_command(ctx: Ctx, arg: str) -> None:
    """/cancel: forget the current input (a wizard, a typed amount...) and show the menu."""
    had = await forget(ctx)
    await ctx.send(ctx.t("wizard.input_cancelled" if had else "wizard.nothing_to_cancel"))
    await show_main_menu(ctx)


@routes.state(ws.STATE)
async def wizard_input(ctx: Ctx, state: ConversationState, message: Message) -> None:
    draft = ws.decode(state)
    spec = ctx.deps.registry.get(draft.model) if draft is not None else None
    if draft is None or spec is None:
        await forget(ctx)
        await ctx.send(ctx.t("common.use_menu"))
        await show_main_menu(ctx)
        return
    media = ws.media_of(spec, draft.step)
    param = ws.user_param_of(spec, draft.step)
    if media is not None:
        await _take_file(ctx, spec, draft, state.version, media, message)
    elif draft.step == ws.PROMPT and spec.prompt is not None:
        await _take_prompt(ctx, spec, draft, state.version, message)
    elif param is not None and param.type == "url":
        await _take_link(ctx, spec, draft, state.version, param, message)
    else:
        await ctx.send(ctx.t("wizard.use_buttons"))
        await present(ctx, spec, draft, state.version, new_message=True)


async def _take_file(ctx: Ctx, spec: ModelSpec, draft: ws.Draft, version: int, media: MediaSpec, message: Message) -> None:
    ref = incoming_file(message)
    if ref is None:
        await ctx.send(ctx.t(f"wizard.media.need.{media.type}", formats=format_names(media.mime_types), mb=media.max_mb))
        return
    if message.document is not None:
        # A document's type is a guess from its name and it has no pixels or seconds: measure it.
        measured = await measured_document(ctx, spec, media, ref)
        if isinstance(measured, str):
            await _refuse_file(ctx, media, measured)
            return
        ref = measured
    issues = file_issues(spec, media, ref)
    if issues:
        await _refuse_file(ctx, media, render_issue(issues[0], ctx.lang))
        return
    files = draft.files(media.wire)
    if media.max_count == 1:
        files = [ref]
    elif len(files) >= media.max_count:
        await ctx.send(ctx.t("wizard.media.full", max=media.max_count))
        return
    else:
        files = [*files, ref]
    draft.media[media.wire] = files
    note = _caption_as_prompt(ctx, spec, draft, message)
    if len(files) >= media.max_count:
        draft.mark_done(draft.step)
        await advance(ctx, spec, draft, version, new_message=True, note=note)
        return
    new_version = await store(ctx, draft, version)
    if new_version is None:
        await ctx.send(ctx.t("common.outdated"))
        return
    await present(ctx, spec, draft, new_version, new_message=True, note=note)


async def _refuse_file(ctx: Ctx, media: MediaSpec, issue: str) -> None:
    """Say why a file is refused (``issue``: plain text) and what the step accepts."""
    accepted = ctx.t(f"wizard.media.need.{media.type}", formats=format_names(media.mime_types), mb=media.max_mb)
    await ctx.send(ctx.t("wizard.media.refused", issue=escape_issue(issue), accepted=Safe(accepted)))


def _caption_as_prompt(ctx: Ctx, spec: ModelSpec, draft: ws.Draft, message: Message) -> str | None:
    """Keep a caption as the prompt when it fits; a note for the user either way."""
    caption = (message.caption or "").strip()
    if not caption or spec.prompt is None or (draft.prompt or "").strip():
        return None
    issue = _prompt_issue(spec, draft, caption)
    if issue is not None:
        return ctx.t("wizard.prompt.caption_refused", issue=escape_issue(render_issue(issue, ctx.lang)))
    draft.prompt = caption
    draft.mark_done(ws.PROMPT)
    return ctx.t("wizard.prompt.caption_taken")


def _prompt_issue(spec: ModelSpec, draft: ws.Draft, text: str) -> InputIssue | None:
    """What is wrong with ``text`` as the model's prompt (length), or None."""
    assert spec.prompt is not None
    issues = validate_request(spec, draft.params, prompt=text, media={})
    mine = [i for i in issues if i.field == spec.prompt.wire]
    return mine[0] if mine else None


async def _take_prompt(ctx: Ctx, spec: ModelSpec, draft: ws.Draft, version: int, message: Message) -> None:
    assert spec.prompt is not None
    text = (message.text or "").strip()
    if not text:
        await ctx.send(ctx.t("wizard.prompt.not_text"))
        return
    issue = _prompt_issue(spec, draft, text)
    if issue is not None:
        await ctx.send(ctx.t("wizard.prompt.refused", issue=escape_issue(render_issue(issue, ctx.lang))))
        return
    draft.prompt = text
    draft.mark_done(ws.PROMPT)
    await advance(ctx, spec, draft, version, new_message=True)


async def _take_link(ctx: Ctx, spec: ModelSpec, draft: ws.Draft, version: int, param: ParamSpec, message: Message) -> None:
    text = (message.text or "").strip()
    try:
        values = resolve_params(spec, {param.wire: text}, complete=False)
    except InvalidRequest as err:
        await ctx.send(ctx.t("wizard.user.refused", issue=escape_issue(render_issue(err.issues[0], ctx.lang))))
        return
    draft.params[param.wire] = values[param.wire]
    await advance(ctx, spec, draft, version, new_message=True)

