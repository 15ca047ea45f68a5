"""🏦 Manual top-ups — the admins' review: every admin gets the receipt with ✅ Approve / ❌ Reject.

The first decision wins (``store.payments.decide``, atomically, via
:func:`kiebot.payments.rules.decide_topup`, which also writes the audit row ``topup_approve`` /
``topup_reject`` for target ``topup:<id>``); an approval credits once; the user is told either
way; every admin's copy of the request is updated to show who decided.

Routes (``admin=True``: invisible to others, who get "this menu is outdated"), for reuse by the
admin panel's pending list:

* ``mtok:<id>`` — approve (:func:`approve_data`);
* ``mtno:<id>`` — reject: asks for a reason (the ``mt_reason`` state, text); ``mtkeep:<id>`` backs
  out (:func:`reject_data`);
* ``mtv:<id>`` — (re)send request ``id`` with its receipt and the buttons to the tapping admin
  (:func:`view_data`); the panel can also call :func:`send_topup_to_admin` directly.

Public helpers: :func:`render_topup_for_admin` (caption + keyboard for one admin) and
:func:`send_topup_to_admin` (re-sends the receipt by file_id and remembers the copy, so it is
updated when anyone decides).
"""

from __future__ import annotations

import logging
from datetime import datetime

from kiebot.bot.context import BotDeps, Ctx, Keyboard, markup
from kiebot.bot.router import routes, show_main_menu
from kiebot.bot.screens.typed_input import expect_typed_input
from kiebot.chat import clock
from kiebot.chat.callback_data import cb, int_arg
from kiebot.chat.format import Safe, escape, render, rub
from kiebot.logs import mask_user_id
from kiebot.payments import rules
from kiebot.store import conversations, money, payments, users
from kiebot.store.conversations import ConversationState
from kiebot.store.payments import ManualTopup
from kiebot.telegram.errors import BadRequest, Forbidden
from kiebot.telegram.types import InlineKeyboardButton as Button
from kiebot.telegram.types import Message

log = logging.getLogger(__name__)

REASON_STATE = "mt_reason"
_MAX_ID = 2**62


def approve_data(request_id: int) -> str:
    return cb("mtok", request_id)


def reject_data(request_id: int) -> str:
    return cb("mtno", request_id)


def view_data(request_id: int) -> str:
    return cb("mtv", request_id)


# ---- what admins see ------------------------------------------------------------------------------


def _who(user: users.User | None, user_id: int) -> str:
    """``Ann (@ann) · <code>123</code>`` — escaped HTML."""
    if user is None:
        return f"<code>{user_id}</code>"
    name = escape(" ".join(p for p in (user.first_name, user.last_name) if p) or "—")
    handle = f" (@{escape(user.username)})" if user.username else ""
    return f"{name}{handle} · <code>{user_id}</code>"


def render_topup_for_admin(
    topup: ManualTopup,
    user: users.User | None,
    balance: int,
    lang: str,
    decider: users.User | None = None,
    *,
    zone_name: str,
) -> tuple[str, Keyboard | None]:
    """The caption of an admin's copy of a request, and its keyboard (None once decided).

    ``user`` is the requester, ``balance`` their available balance in kopecks, ``decider`` the
    admin who decided (when ``topup.status`` is not pending); times are on ``zone_name``'s clock
    (``TIMEZONE``); the first one names the zone, since a caption has no title to say it.
    """

    def _when(moment: datetime | None) -> str:
        return clock.when(moment, zone_name, lang, "long")

    lines = [
        render(
            lang,
            "payments.manual.admin.request",
            id=topup.id,
            user=Safe(_who(user, topup.user_id)),
            amount=Safe(rub(topup.amount_kopecks, lang)),
            created=clock.zoned(topup.created_at, zone_name, lang),
            balance=Safe(rub(balance, lang)),
        )
    ]
    if topup.receipt_file_id is None:
        lines.append(render(lang, "payments.manual.admin.no_receipt"))
    if topup.status == "pending":
        keyboard: Keyboard | None = [
            [
                Button.callback(render(lang, "payments.manual.admin.approve"), approve_data(topup.id)),
                Button.callback(render(lang, "payments.manual.admin.reject"), reject_data(topup.id)),
            ]
        ]
        return "\n".join(lines), keyboard
    admin = Safe(_who(decider, topup.decided_by or 0))
    if topup.status == "approved":
        lines.append(render(lang, "payments.manual.admin.approved_by", admin=admin, at=_when(topup.decided_at)))
    else:
        lines.append(
            render(lang, "payments.manual.admin.rejected_by", admin=admin, at=_when(topup.decided_at), reason=topup.reason or "—")
        )
    return "\n".join(lines), None


async def _admin_view(deps: BotDeps, topup: ManualTopup, admin_id: int) -> tuple[str, Keyboard | None]:
    async with deps.db.connection() as conn:
        requester = await users.get_user(conn, topup.user_id)
        account = await money.get_account(conn, topup.user_id)
        viewer = await users.get_user(conn, admin_id)
        decider = await users.get_user(conn, topup.decided_by) if topup.decided_by is not None else None
    lang = viewer.language if viewer is not None else "ru"
    return render_topup_for_admin(topup, requester, account.balance, lang, decider, zone_name=deps.settings.timezone)


async def send_topup_to_admin(deps: BotDeps, admin_id: int, topup: ManualTopup) -> int | None:
    """Send request ``topup`` to ``admin_id``: the receipt re-sent by file_id with the caption and
    Approve/Reject buttons (just the outcome once decided). The copy is remembered so it is updated
    when any admin decides. Returns the message id, or None when the admin cannot be reached."""
    caption, keyboard = await _admin_view(deps, topup, admin_id)
    receipt = rules.Receipt.decode(topup.receipt_file_id)
    try:
        if receipt is None:
            sent = await deps.tg.send_message(admin_id, caption, parse_mode="HTML", reply_markup=markup(keyboard))
        elif receipt.kind == "photo":
            sent = await deps.tg.send_photo(admin_id, receipt.file_id, caption=caption, parse_mode="HTML", reply_markup=markup(keyboard))
        else:
            sent = await deps.tg.send_document(
                admin_id, receipt.file_id, caption=caption, parse_mode="HTML", reply_markup=markup(keyboard)
            )
    except (Forbidden, BadRequest) as exc:
        # An admin who never opened the bot (403) or a receipt Telegram no longer has (400): the
        # other admins and the panel's pending list still have the request.
        log.warning("top-up request not delivered to an admin", extra={"request": topup.id, "error": type(exc).__name__})
        return None
    if topup.status == "pending":
        async with deps.db.connection() as conn:
            await rules.remember_admin_copy(conn, topup.id, admin_id, sent.message_id)
    return sent.message_id


async def _settle_copies(deps: BotDeps, topup: ManualTopup) -> None:
    """Show every admin's copy of a decided request with the decision and without buttons, then
    forget the copies (which also marks the aftermath of this decision as done)."""
    async with deps.db.connection() as conn:
        copies = await rules.admin_copies(conn, topup.id)
    for admin_id, message_id in copies:
        caption, _ = await _admin_view(deps, topup, admin_id)
        try:
            if topup.receipt_file_id is None:
                await deps.tg.edit_message_text(admin_id, message_id, caption, parse_mode="HTML")
            else:
                await deps.tg.edit_message_caption(admin_id, message_id, caption, parse_mode="HTML")
        except (BadRequest, Forbidden) as exc:
            log.info("admin copy not updated", extra={"request": topup.id, "error": type(exc).__name__})
    async with deps.db.connection() as conn:
        await rules.forget_admin_copies(conn, topup.id)


async def _tell_user(deps: BotDeps, topup: ManualTopup) -> None:
    async with deps.db.connection() as conn:
        user = await users.get_user(conn, topup.user_id)
        account = await money.get_account(conn, topup.user_id)
    lang = user.language if user is not None else "ru"
    amount = Safe(rub(topup.amount_kopecks, lang))
    if topup.status == "approved":
        text = render(lang, "payments.manual.approved", id=topup.id, amount=amount, balance=Safe(rub(account.balance, lang)))
    else:
        text = render(lang, "payments.manual.rejected", id=topup.id, amount=amount, reason=topup.reason or "—")
    try:
        await deps.tg.send_message(topup.user_id, text, parse_mode="HTML")
    except Forbidden:
        log.info("user unreachable; top-up decision not delivered", extra={"request": topup.id})


async def _after_decision(deps: BotDeps, topup: ManualTopup) -> None:
    """Tell the user, then update the admins' copies. Transient Telegram errors propagate (the
    inbox retries the update); the retry sees "already decided by me" with copies still
    remembered and runs this again."""
    await _tell_user(deps, topup)
    await _settle_copies(deps, topup)


async def _decide(ctx: Ctx, request_id: int, *, approve: bool, reason: str | None) -> payments.Decision | None:
    """The decision (first one wins); None when the request does not exist."""
    try:
        decision = await rules.decide_topup(
            ctx.deps.db, ctx.deps.metrics, request_id=request_id, admin_id=ctx.user_id, approve=approve, reason=reason
        )
    except payments.UnknownTopup:
        return None
    if decision.decided_now:
        topup = decision.topup
        log.info("manual top-up decided", extra={"request": topup.id, "status": topup.status, "admin": mask_user_id(ctx.user_id)})
    return decision


def _mine(ctx: Ctx, decision: payments.Decision) -> bool:
    """This admin's decision: made now, or made earlier by them (a re-run after a failure)."""
    return decision.decided_now or decision.topup.decided_by == ctx.user_id


async def _aftermath(ctx: Ctx, decision: payments.Decision) -> None:
    """After a decision: tell the user and update every copy — once. A re-run of our own decision
    (the inbox retrying after a transient failure) finishes the job if copies are still
    remembered; someone else's earlier decision only refreshes the copy that was tapped."""
    topup = decision.topup
    if decision.decided_now:
        await _after_decision(ctx.deps, topup)
    elif topup.decided_by == ctx.user_id:
        async with ctx.conn() as conn:
            unfinished = bool(await rules.admin_copies(conn, topup.id))
        if unfinished:
            await _after_decision(ctx.deps, topup)
    else:
        await _settle_copies_for(ctx, topup)


async def _settle_copies_for(ctx: Ctx, topup: ManualTopup) -> None:
    """Someone else decided first: make sure the tapped copy shows their decision."""
    target = ctx.query.message if ctx.query is not None else None
    if target is None or not target.is_accessible:
        return
    caption, _ = await _admin_view(ctx.deps, topup, ctx.user_id)
    try:
        if target.text is not None:
            await ctx.tg.edit_message_text(ctx.chat_id, target.message_id, caption, parse_mode="HTML")
        else:
            await ctx.tg.edit_message_caption(ctx.chat_id, target.message_id, caption, parse_mode="HTML")
    except (BadRequest, Forbidden) as exc:
        log.info("admin copy not updated", extra={"request": topup.id, "error": type(exc).__name__})


@routes.callback("mtok", admin=True, answers_itself=True)
async def approve_pressed(ctx: Ctx, args: list[str]) -> None:
    request_id = int_arg(args, 0, minimum=1, maximum=_MAX_ID)
    decision = await _decide(ctx, request_id, approve=True, reason=None)
    if decision is None:
        await ctx.answer(ctx.t("payments.manual.admin.unknown"), alert=True)
        return
    if _mine(ctx, decision):
        await ctx.answer(ctx.t("payments.manual.admin.done_approved"))
    else:
        await ctx.answer(ctx.t("payments.manual.admin.already"), alert=True)
    await _aftermath(ctx, decision)


@routes.callback("mtno", admin=True, answers_itself=True)
async def reject_pressed(ctx: Ctx, args: list[str]) -> None:
    request_id = int_arg(args, 0, minimum=1, maximum=_MAX_ID)
    async with ctx.conn() as conn:
        topup = await payments.get_request(conn, request_id)
    if topup is None:
        await ctx.answer(ctx.t("payments.manual.admin.unknown"), alert=True)
        return
    if topup.status != "pending":
        await ctx.answer(ctx.t("payments.manual.admin.already"), alert=True)
        await _settle_copies_for(ctx, topup)
        return
    await ctx.answer()
    await expect_typed_input(ctx, REASON_STATE, {"request_id": request_id})
    await ctx.send(
        ctx.t("payments.manual.admin.ask_reason", id=request_id),
        [[Button.callback(ctx.t("payments.manual.admin.keep_pending"), cb("mtkeep", request_id))]],
    )


@routes.state(REASON_STATE)
async def reason_typed(ctx: Ctx, state: ConversationState, message: Message) -> None:
    request_id = state.data.get("request_id")
    if not ctx.is_admin or not isinstance(request_id, int):
        async with ctx.tx() as conn:
            await conversations.clear_state(conn, ctx.user_id)
        await show_main_menu(ctx)
        return
    reason = (message.text or "").strip()
    if not reason:
        await ctx.send(ctx.t("payments.manual.admin.reason_needed"))
        return
    async with ctx.tx() as conn:
        await conversations.clear_state(conn, ctx.user_id)
    decision = await _decide(ctx, request_id, approve=False, reason=reason)
    if decision is None:
        await ctx.send(ctx.t("payments.manual.admin.unknown"))
        return
    if _mine(ctx, decision):
        await ctx.send(ctx.t("payments.manual.admin.done_rejected"))
    else:
        caption, _ = await _admin_view(ctx.deps, decision.topup, ctx.user_id)
        await ctx.send(ctx.t("payments.manual.admin.already") + "\n\n" + caption)
    await _aftermath(ctx, decision)


@routes.callback("mtkeep", admin=True)
async def keep_pending(ctx: Ctx, args: list[str]) -> None:
    request_id = int_arg(args, 0, minimum=1, maximum=_MAX_ID)
    async with ctx.tx() as conn:
        await conversations.clear_state(conn, ctx.user_id)
    await ctx.show(ctx.t("payments.manual.admin.kept_pending", id=request_id))


@routes.callback("mtv", admin=True)
async def view_pressed(ctx: Ctx, args: list[str]) -> None:
    request_id = int_arg(args, 0, minimum=1, maximum=_MAX_ID)
    async with ctx.conn() as conn:
        topup = await payments.get_request(conn, request_id)
    if topup is None:
        await ctx.send(ctx.t("payments.manual.admin.unknown"))
        return
    await send_topup_to_admin(ctx.deps, ctx.user_id, topup)
