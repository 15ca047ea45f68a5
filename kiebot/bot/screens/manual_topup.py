"""🏦 Manual top-ups by bank transfer — the user's side. Nothing is credited without an admin.

The original bot credited any photo sent as a "receipt" (reference/kie-and-original-bot.md §5.1,
§9.1). Here a receipt only creates a **pending** request, sent to every admin for review
(:mod:`kiebot.bot.screens.manual_topup_review`: Approve/Reject, first decision wins, the user is
told either way).

Offered only when ``PAYMENT_CARD`` or ``PAYMENT_PHONE`` is set (``Settings.manual_topup_enabled``).

Routes and states:

* ``mt`` — pick an amount (presets, or type one in the ``mt_amount`` state);
* ``mta:<kopecks>`` — the payment details (``PAYMENT_BANK``, ``PAYMENT_CARD``,
  ``PAYMENT_CARD_HOLDER``, ``PAYMENT_PHONE``) and "I've paid";
* ``mtp:<kopecks>`` — "send the receipt": the ``mt_receipt`` state takes a photo, or a PDF/image
  document, creates the request (clearing the state in the same transaction, so a re-delivered
  update creates nothing twice) and sends it to every admin.

The admins' routes and helpers (``mtok``/``mtno``/``mtv``, :func:`render_topup_for_admin`,
:func:`send_topup_to_admin`, :func:`approve_data`, :func:`reject_data`, :func:`view_data`) live in
``manual_topup_review`` and are re-exported here for the admin panel.
"""

from __future__ import annotations

import logging

from kiebot.bot.context import Ctx, Keyboard
from kiebot.bot.router import routes
from kiebot.bot.screens.manual_topup_review import (
    approve_data,
    reject_data,
    render_topup_for_admin,
    send_topup_to_admin,
    view_data,
)
from kiebot.bot.screens.typed_input import expect_typed_input
from kiebot.chat.callback_data import BadCallback, cb, int_arg
from kiebot.chat.format import Safe, rub
from kiebot.logs import mask_user_id
from kiebot.payments import rules
from kiebot.store import conversations, payments
from kiebot.store.conversations import ConversationState
from kiebot.telegram.errors import TelegramError
from kiebot.telegram.types import InlineKeyboardButton as Button
from kiebot.telegram.types import Message

__all__ = ["approve_data", "reject_data", "render_topup_for_admin", "send_topup_to_admin", "view_data"]

log = logging.getLogger(__name__)

AMOUNT_STATE = "mt_amount"
RECEIPT_STATE = "mt_receipt"


# ---- the user's side ------------------------------------------------------------------------------


def _bounds(ctx: Ctx) -> dict[str, Safe]:
    return {"min": Safe(rub(rules.MANUAL_MIN_KOPECKS, ctx.lang)), "max": Safe(rub(rules.MANUAL_MAX_KOPECKS, ctx.lang))}


async def _unavailable(ctx: Ctx) -> None:
    await ctx.show(ctx.t("payments.manual.unavailable"), [[Button.callback(ctx.t("balance.back"), cb("bal"))]])


@routes.callback("mt")
async def amount_screen(ctx: Ctx, args: list[str]) -> None:
    if not ctx.deps.settings.manual_topup_enabled:
        await _unavailable(ctx)
        return
    await expect_typed_input(ctx, AMOUNT_STATE)
    presets = [
        Button.callback(rub(rubles * 100, ctx.lang), cb("mta", rubles * 100)) for rubles in rules.MANUAL_PRESETS_RUB
    ]
    rows: list[list[Button]] = [presets[i : i + 2] for i in range(0, len(presets), 2)]
    rows.append([Button.callback(ctx.t("balance.back"), cb("bal"))])
    await ctx.show(ctx.t("payments.manual.title", **_bounds(ctx)), rows)


@routes.state(AMOUNT_STATE)
async def amount_typed(ctx: Ctx, state: ConversationState, message: Message) -> None:
    try:
        kopecks = rules.parse_rubles(message.text or "")
    except rules.AmountError as bad:
        await ctx.send(ctx.t(f"payments.manual.{bad.problem}", **_bounds(ctx)), [[Button.callback(ctx.t("common.cancel"), cb("bal"))]])
        return
    async with ctx.tx() as conn:
        await conversations.clear_state(conn, ctx.user_id)
    await ctx.send(*instructions(ctx, kopecks))


@routes.callback("mta")
async def amount_chosen(ctx: Ctx, args: list[str]) -> None:
    kopecks = _amount_arg(args)
    if not ctx.deps.settings.manual_topup_enabled:
        await _unavailable(ctx)
        return
    async with ctx.tx() as conn:
        await conversations.clear_state(conn, ctx.user_id)
    await ctx.show(*instructions(ctx, kopecks))


def _amount_arg(args: list[str]) -> int:
    kopecks = int_arg(args, 0, minimum=1, maximum=rules.MANUAL_MAX_KOPECKS)
    try:
        return rules.check_manual_amount(kopecks)
    except rules.AmountError:
        raise BadCallback("amount out of bounds") from None


def instructions(ctx: Ctx, kopecks: int) -> tuple[str, Keyboard]:
    """Where to transfer ``kopecks`` and the "I've paid" button."""
    s = ctx.deps.settings
    details = []
    if s.payment_bank:
        details.append(ctx.t("payments.manual.bank", bank=s.payment_bank))
    if s.payment_card:
        details.append(ctx.t("payments.manual.card", card=s.payment_card))
    if s.payment_card_holder:
        details.append(ctx.t("payments.manual.holder", holder=s.payment_card_holder))
    if s.payment_phone:
        details.append(ctx.t("payments.manual.phone", phone=s.payment_phone))
    text = ctx.t("payments.manual.instructions", amount=Safe(rub(kopecks, ctx.lang)), details=Safe("\n".join(details)))
    rows = [
        [Button.callback(ctx.t("payments.manual.paid_button"), cb("mtp", kopecks))],
        [Button.callback(ctx.t("common.back"), cb("mt"))],
    ]
    return text, rows


@routes.callback("mtp")
async def paid_pressed(ctx: Ctx, args: list[str]) -> None:
    kopecks = _amount_arg(args)
    if not ctx.deps.settings.manual_topup_enabled:
        await _unavailable(ctx)
        return
    await expect_typed_input(ctx, RECEIPT_STATE, {"kopecks": kopecks})
    text = ctx.t("payments.manual.ask_receipt", amount=Safe(rub(kopecks, ctx.lang)))
    await ctx.send(text, [[Button.callback(ctx.t("common.cancel"), cb("bal"))]])


@routes.state(RECEIPT_STATE)
async def receipt_received(ctx: Ctx, state: ConversationState, message: Message) -> None:
    """A receipt makes a pending request (and clears the state) in one transaction, then goes to
    every admin. A re-delivered update finds no state and creates nothing twice."""
    receipt = rules.Receipt.from_message(message)
    kopecks = state.data.get("kopecks")
    if not isinstance(kopecks, int):
        raise BadCallback("receipt state without an amount")
    if receipt is None:
        await ctx.send(ctx.t("payments.manual.receipt_needed"), [[Button.callback(ctx.t("common.cancel"), cb("bal"))]])
        return
    try:
        async with ctx.tx() as conn:
            topup = await rules.create_topup_request(
                conn, ctx.deps.metrics, user_id=ctx.user_id, kopecks=kopecks, receipt=receipt
            )
            await conversations.clear_state(conn, ctx.user_id)
    except payments.TooManyPending as many:
        async with ctx.tx() as conn:
            await conversations.clear_state(conn, ctx.user_id)
        await ctx.send(ctx.t("payments.manual.too_many", limit=many.limit), [[Button.callback(ctx.t("menu.balance"), cb("bal"))]])
        return
    log.info("manual top-up requested", extra={"user": mask_user_id(ctx.user_id), "request": topup.id, "kopecks": kopecks})
    text = ctx.t("payments.manual.submitted", id=topup.id, amount=Safe(rub(kopecks, ctx.lang)))
    await ctx.send(text, [[Button.callback(ctx.t("menu.balance"), cb("bal")), Button.callback(ctx.t("common.menu"), cb("menu"))]])
    for admin_id in ctx.deps.settings.admin_ids:
        try:
            await send_topup_to_admin(ctx.deps, admin_id, topup)
        except TelegramError as exc:
            # Not re-raised: the request is stored and the user told; a retry of this update would
            # find no receipt state. The panel's pending list still shows it to every admin.
            log.warning("top-up request not delivered to an admin", extra={"request": topup.id, "error": type(exc).__name__})
