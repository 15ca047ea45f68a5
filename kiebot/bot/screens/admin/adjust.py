"""➕➖ An admin's balance adjustment: amount, then a mandatory reason, then a confirmation.

The original bot's "top up" and "charge" buttons had no handlers at all (reference §6). Here the
flow is typed input with a confirmation screen, because it moves money:

1. ``adm.adj:<user>`` asks for the amount in rubles: ``+150``, ``-20,50``, ``300`` (no sign means
   a credit). A debit larger than the available balance is refused at once with the numbers
   (money held for running generations cannot be taken: it belongs to those jobs);
2. the reason (3–200 characters) is required: it lands in the ledger row and the audit log;
3. ✅ applies it through ``store.admin.adjust_balance`` — ledger row, account and audit row in one
   transaction, idempotent by a key made of a random nonce kept in the flow's state (and carried by
   the ✅ button), so a double tap or a re-delivered update applies it once. The balance is checked
   again there, under the account lock, so a generation hold racing with the adjustment can never
   drive it below zero.

Why a nonce and not the conversation version: the clean-up duty deletes long-dead conversation
rows, and versions then start again from 1, so a version-based key of a new adjustment could equal
one applied months ago — which then said "already applied" and applied nothing (issue 13 item 4).
A repeated tap is recognised as "already applied" only when the ledger row under its key is this
admin's adjustment of this user by this amount (the button carries the amount too).
"""

from __future__ import annotations

import re
import secrets
from decimal import Decimal, InvalidOperation
from typing import Any

from kiebot.bot.context import Ctx
from kiebot.bot.router import routes
from kiebot.bot.screens.admin.common import require_admin, signed_rub
from kiebot.bot.screens.admin.users import show_user_card, user_id_arg
from kiebot.chat.callback_data import BadCallback, cb, int_arg, str_arg
from kiebot.chat.format import Safe, rub
from kiebot.store import admin, conversations, money, users
from kiebot.store.conversations import ANY_VERSION, ConversationState, StateConflict
from kiebot.store.db import Database
from kiebot.telegram.types import InlineKeyboardButton as Button
from kiebot.telegram.types import Message

AMOUNT_STATE = "adm.adj_amount"
REASON_STATE = "adm.adj_reason"
CONFIRM_STATE = "adm.adj_confirm"
#: One adjustment moves at most a million rubles: a typo guard, not a business rule.
MAX_KOPECKS = 100_000_000
MIN_REASON_CHARS = 3
MAX_REASON_CHARS = 200
_AMOUNT_RE = re.compile(r"^([+\-−])?\s*(\d{1,9})(?:[.,](\d{1,2}))?\s*(?:₽|р\.?|руб\.?|rub)?$", re.IGNORECASE)


class BadAmount(ValueError):
    pass


def parse_amount(text: str) -> int:
    """``"-20,50"`` → ``-2050`` kopecks; no sign means a credit.

    Raises:
        BadAmount: not a number of rubles with at most two decimals, zero, or over the cap.
    """
    match = _AMOUNT_RE.match(text.strip().replace("\u00a0", " ").replace(" ", ""))
    if match is None:
        raise BadAmount(text)
    sign, whole, cents = match.groups()
    try:
        kopecks = int(Decimal(f"{whole}.{cents or '0'}") * 100)
    except InvalidOperation:
        raise BadAmount(text) from None
    if kopecks == 0 or kopecks > MAX_KOPECKS:
        raise BadAmount(text)
    return -kopecks if sign in ("-", "−") else kopecks


#: 72 random bits: no two confirmation screens ever share a nonce, whatever happens to versions.
_NONCE_BYTES = 9
_NONCE_RE = re.compile(r"^[A-Za-z0-9_-]{12}$")


def new_nonce() -> str:
    """12 URL-safe characters (fits callback data next to the user id and the amount)."""
    return secrets.token_urlsafe(_NONCE_BYTES)


def adjustment_key(admin_id: int, nonce: str) -> str:
    """One adjustment per confirmation screen: the nonce of that screen names it."""
    return f"adm_adjust:{admin_id}:{nonce}"


async def apply_adjustment(
    db: Database, *, admin_id: int, user_id: int, delta: int, reason: str, key: str
) -> money.Posting:
    """Change the balance by ``delta`` kopecks, audited, once per ``key``.

    Raises:
        money.InsufficientFunds: a debit larger than the available balance; nothing written.
        users.UnknownUser: no such user.
    """
    if not reason.strip():
        raise ValueError("an adjustment needs a reason")
    async with db.connection() as conn:
        if await users.get_user(conn, user_id) is None:
            raise users.UnknownUser(user_id)
        return await admin.adjust_balance(conn, admin_id, user_id, delta, key=key, reason=reason)


async def _set(ctx: Ctx, name: str, data: dict[str, Any], version: int | None) -> ConversationState:
    async with ctx.conn() as conn:
        return await conversations.set_state(
            conn,
            ctx.user_id,
            name,
            data,
            ttl_s=ctx.deps.settings.fsm_state_ttl_s,
            expected_version=ANY_VERSION if version is None else version,
        )


def _cancel(ctx: Ctx, user_id: int) -> list[list[Button]]:
    return [[Button.callback(ctx.t("common.cancel"), cb("adm.u", user_id))]]


@routes.callback("adm.adj", admin=True)
async def start_adjustment(ctx: Ctx, args: list[str]) -> None:
    user_id = user_id_arg(args)
    async with ctx.conn() as conn:
        user = await users.get_user(conn, user_id)
        account = await money.get_account(conn, user_id)
    if user is None:
        raise BadCallback("unknown user")
    await _set(ctx, AMOUNT_STATE, {"user_id": user_id}, None)
    await ctx.show(
        ctx.t(
            "admin.adjust.ask_amount",
            name=user.first_name,
            id=user_id,
            balance=Safe(rub(account.balance, ctx.lang)),
            held=Safe(rub(account.held, ctx.lang)),
        ),
        _cancel(ctx, user_id),
    )


@routes.state(AMOUNT_STATE)
async def amount_input(ctx: Ctx, state: ConversationState, message: Message) -> None:
    await require_admin(ctx)
    user_id = int(state.data["user_id"])
    try:
        delta = parse_amount(message.text or "")
    except BadAmount:
        await ctx.send(
            ctx.t("admin.adjust.bad_amount", max=Safe(rub(MAX_KOPECKS, ctx.lang))), _cancel(ctx, user_id)
        )
        return
    async with ctx.conn() as conn:
        account = await money.get_account(conn, user_id)
    if account.balance + delta < 0:
        await ctx.send(_below_zero(ctx, -delta, account), _cancel(ctx, user_id))
        return
    try:
        await _set(ctx, REASON_STATE, {"user_id": user_id, "delta": delta}, state.version)
    except StateConflict:
        raise BadCallback("state changed") from None
    await ctx.send(
        ctx.t(
            "admin.adjust.ask_reason",
            delta=Safe(signed_rub(delta, ctx.lang)),
            min=MIN_REASON_CHARS,
            max=MAX_REASON_CHARS,
        ),
        _cancel(ctx, user_id),
    )


def _below_zero(ctx: Ctx, wanted: int, account: money.Account) -> str:
    return ctx.t(
        "admin.adjust.below_zero",
        wanted=Safe(rub(wanted, ctx.lang)),
        balance=Safe(rub(account.balance, ctx.lang)),
        held=Safe(rub(account.held, ctx.lang)),
    )


@routes.state(REASON_STATE)
async def reason_input(ctx: Ctx, state: ConversationState, message: Message) -> None:
    await require_admin(ctx)
    user_id = int(state.data["user_id"])
    delta = int(state.data["delta"])
    reason = " ".join((message.text or "").split())
    if not MIN_REASON_CHARS <= len(reason) <= MAX_REASON_CHARS:
        await ctx.send(
            ctx.t("admin.adjust.bad_reason", min=MIN_REASON_CHARS, max=MAX_REASON_CHARS),
            _cancel(ctx, user_id),
        )
        return
    nonce = new_nonce()
    try:
        await _set(
            ctx,
            CONFIRM_STATE,
            {"user_id": user_id, "delta": delta, "reason": reason, "nonce": nonce},
            state.version,
        )
    except StateConflict:
        raise BadCallback("state changed") from None
    async with ctx.conn() as conn:
        user = await users.get_user(conn, user_id)
        account = await money.get_account(conn, user_id)
    await ctx.send(
        ctx.t(
            "admin.adjust.confirm",
            name=user.first_name if user else "?",
            id=user_id,
            delta=Safe(signed_rub(delta, ctx.lang)),
            before=Safe(rub(account.balance, ctx.lang)),
            after=Safe(rub(account.balance + delta, ctx.lang)),
            reason=reason,
        ),
        [
            [
                Button.callback(ctx.t("admin.adjust.apply"), cb("adm.adjok", user_id, nonce, delta)),
                Button.callback(ctx.t("common.cancel"), cb("adm.u", user_id)),
            ]
        ],
    )


@routes.state(CONFIRM_STATE)
async def waiting_for_confirmation(ctx: Ctx, state: ConversationState, message: Message) -> None:
    """Text typed while the confirmation is on screen: point at the buttons, keep the state."""
    await require_admin(ctx)
    await ctx.send(ctx.t("admin.adjust.use_buttons"))


@routes.callback("adm.adjok", admin=True)
async def confirm_adjustment(ctx: Ctx, args: list[str]) -> None:
    user_id = user_id_arg(args)
    nonce = str_arg(args, 1)
    shown_delta = int_arg(args, 2, minimum=-MAX_KOPECKS, maximum=MAX_KOPECKS)
    if not _NONCE_RE.match(nonce):
        raise BadCallback("malformed adjustment nonce")
    key = adjustment_key(ctx.user_id, nonce)
    async with ctx.conn() as conn:
        state = await conversations.get_state(conn, ctx.user_id)
        done = await money.entry_by_key(conn, key)
    if done is not None:
        if (done.kind, done.admin_id, done.user_id, done.amount) != ("admin_adjust", ctx.user_id, user_id, shown_delta):
            raise BadCallback("adjustment key names another operation")
        # A second tap after the first one went through: say so, change nothing.
        await show_user_card(ctx, user_id, ctx.t("admin.adjust.already"))
        return
    if (
        state is None
        or state.state != CONFIRM_STATE
        or state.data.get("nonce") != nonce
        or int(state.data.get("user_id", 0)) != user_id
        or int(state.data.get("delta", 0)) != shown_delta
    ):
        raise BadCallback("stale adjustment")
    delta = int(state.data["delta"])
    reason = str(state.data["reason"])
    try:
        posting = await apply_adjustment(
            ctx.deps.db, admin_id=ctx.user_id, user_id=user_id, delta=delta, reason=reason, key=key
        )
    except money.InsufficientFunds:
        async with ctx.conn() as conn:
            account = await money.get_account(conn, user_id)
            await conversations.clear_state(conn, ctx.user_id)
        await ctx.show(
            _below_zero(ctx, -delta, account),
            [[Button.callback(ctx.t("admin.user.back_to_user"), cb("adm.u", user_id))]],
        )
        return
    async with ctx.conn() as conn:
        await conversations.clear_state(conn, ctx.user_id)
    notice = ctx.t(
        "admin.adjust.done",
        delta=Safe(signed_rub(delta, ctx.lang)),
        balance=Safe(rub(posting.balance, ctx.lang)),
    )
    await show_user_card(ctx, user_id, notice)
