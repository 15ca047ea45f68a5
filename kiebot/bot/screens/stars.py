"""⭐ Top-ups with Telegram Stars: packages, invoices, pre-checkout, payment and refund hooks.

The flow (https://core.telegram.org/bots/payments-stars, reference/telegram.md §1.7):

1. ``topup`` — the packages screen: one button per ``STARS_PACKAGES`` amount ("50 ⭐ → 50 ₽" at
   ``STARS_RUB_RATE``), "other amount" (``starsc``, then the typed number in the
   ``stars_amount`` state, 1–10000 Stars), and the terms (``terms``).
2. ``stars:<n>`` / a typed amount — an order is stored (``store.payments.create_order``: random
   payload, user, Stars, kopecks, expiry :data:`kiebot.payments.rules.ORDER_TTL_S`) and ``sendInvoice``
   goes out in ``XTR`` with exactly one ``LabeledPrice``, an empty provider token, the order
   payload (≤ 128 bytes), a Pay button first and the terms next to it.
3. ``pre_checkout_query`` — answered within Telegram's 10 s: ok only for an open, unexpired order
   of this very user with the same amount, and a user who is not banned; otherwise a clear
   ``error_message`` in the user's language. The database check runs under a
   :data:`PRECHECKOUT_BUDGET_S` budget so a slow database still gets the user an answer.
4. ``successful_payment`` — the only place money is credited: the order's kopecks, once per
   ``telegram_payment_charge_id`` (a duplicate delivery says "already credited").
5. ``refunded_payment`` — recorded once (``store.payments.mark_refunded``; the admin panel's
   refund usually recorded it before calling ``refundStarPayment``, then nothing more is debited).
   If the user already spent the money, nothing can be debited (the balance never goes below
   zero): the admins are alerted to settle it by hand.
6. :mod:`kiebot.payments.reconcile_job` — a periodic check of Telegram's Stars ledger against ours that credits a
   payment whose update was lost (and tells the payer) and records unknown refunds.
"""

from __future__ import annotations

import logging
from typing import Any

import trio

from kiebot.bot.context import BotDeps, Ctx, Keyboard, markup
from kiebot.bot.router import routes
from kiebot.bot.screens.typed_input import expect_typed_input
from kiebot.chat.callback_data import cb, int_arg
from kiebot.chat.format import Safe, render, rub
from kiebot.i18n import normalize_lang
from kiebot.logs import mask_user_id
from kiebot.payments import rules
from kiebot.store import conversations, money, payments, users
from kiebot.store.conversations import ConversationState
from kiebot.store.db import DatabaseUnavailable
from kiebot.telegram.errors import Forbidden, TelegramError
from kiebot.telegram.types import InlineKeyboardButton as Button
from kiebot.telegram.types import LabeledPrice, Message, PreCheckoutQuery

log = logging.getLogger(__name__)

#: Time the pre-checkout may spend on the database before declining with "try again": Telegram
#: waits 10 s for the answer (https://core.telegram.org/bots/api#answerprecheckoutquery), and
#: the answer itself needs a round trip too.
PRECHECKOUT_BUDGET_S = 5.0
AMOUNT_STATE = "stars_amount"
PACKAGES_PER_ROW = 2


def rate_text(ctx: Ctx) -> str:
    return rub(rules.stars_to_kopecks(1, ctx.deps.settings.stars_rub_rate), ctx.lang)


def _kopecks(ctx: Ctx, stars: int) -> int:
    return rules.stars_to_kopecks(stars, ctx.deps.settings.stars_rub_rate)


def packages_keyboard(ctx: Ctx) -> Keyboard:
    buttons = [
        Button.callback(ctx.t("payments.stars.package", stars=n, amount=Safe(rub(_kopecks(ctx, n), ctx.lang))), cb("stars", n))
        for n in ctx.deps.settings.stars_packages
        if _kopecks(ctx, n) > 0
    ]
    rows: list[list[Button]] = [buttons[i : i + PACKAGES_PER_ROW] for i in range(0, len(buttons), PACKAGES_PER_ROW)]
    rows.append([Button.callback(ctx.t("payments.stars.custom"), cb("starsc"))])
    rows.append([Button.callback(ctx.t("payments.stars.terms_button"), cb("terms"))])
    rows.append([Button.callback(ctx.t("balance.back"), cb("bal")), Button.callback(ctx.t("common.menu"), cb("menu"))])
    return rows


def packages_text(ctx: Ctx) -> str:
    return ctx.t("payments.stars.title", rate=Safe(rate_text(ctx)), min=rules.MIN_STARS, max=rules.MAX_STARS)


@routes.callback("topup")
async def topup_screen(ctx: Ctx, args: list[str]) -> None:
    async with ctx.tx() as conn:
        await conversations.clear_state(conn, ctx.user_id)
    if _kopecks(ctx, rules.MAX_STARS) <= 0:  # STARS_RUB_RATE=0: Stars cannot buy anything
        await ctx.show(ctx.t("payments.stars.unavailable"), [[Button.callback(ctx.t("balance.back"), cb("bal"))]])
        return
    await ctx.show(packages_text(ctx), packages_keyboard(ctx))


@routes.callback("stars")
async def package_chosen(ctx: Ctx, args: list[str]) -> None:
    stars = int_arg(args, 0, minimum=rules.MIN_STARS, maximum=rules.MAX_STARS)
    await send_stars_invoice(ctx, stars)


@routes.callback("starsc")
async def custom_amount(ctx: Ctx, args: list[str]) -> None:
    await expect_typed_input(ctx, AMOUNT_STATE)
    text = ctx.t("payments.stars.ask_amount", min=rules.MIN_STARS, max=rules.MAX_STARS, rate=Safe(rate_text(ctx)))
    await ctx.show(text, [[Button.callback(ctx.t("common.cancel"), cb("topup"))]])


@routes.state(AMOUNT_STATE)
async def amount_typed(ctx: Ctx, state: ConversationState, message: Message) -> None:
    try:
        stars = rules.parse_stars(message.text or "")
    except rules.AmountError as bad:
        text = ctx.t(f"payments.stars.{bad.problem}", min=rules.MIN_STARS, max=rules.MAX_STARS)
        await ctx.send(text, [[Button.callback(ctx.t("common.cancel"), cb("topup"))]])
        return
    async with ctx.tx() as conn:
        await conversations.clear_state(conn, ctx.user_id)
    await send_stars_invoice(ctx, stars)


async def send_stars_invoice(ctx: Ctx, stars: int) -> Message | None:
    """Store an order and send its invoice (https://core.telegram.org/bots/api#sendinvoice)."""
    kopecks = _kopecks(ctx, stars)
    if kopecks <= 0:
        await ctx.send(ctx.t("payments.stars.unavailable"))
        return None
    async with ctx.tx() as conn:
        order = await payments.create_order(
            conn, ctx.user_id, stars=stars, kopecks=kopecks, now=ctx.deps.now(), ttl_s=rules.ORDER_TTL_S
        )
    amount = Safe(rub(kopecks, ctx.lang))
    keyboard = [
        [Button.pay_button(ctx.t("payments.stars.pay_button", stars=stars))],
        [Button.callback(ctx.t("payments.stars.terms_button"), cb("terms"))],
    ]
    try:
        return await ctx.tg.send_invoice(
            ctx.chat_id,
            ctx.t("payments.stars.invoice_title"),
            ctx.t("payments.stars.invoice_description", stars=stars, amount=amount, minutes=int(rules.ORDER_TTL_S // 60)),
            order.payload,
            [LabeledPrice(label=ctx.t("payments.stars.invoice_label", amount=amount), amount=stars)],
            currency=rules.STARS_CURRENCY,
            provider_token="",
            reply_markup=markup(keyboard),
        )
    except Forbidden:
        log.info("user unreachable; invoice not sent")
        return None


# ---- payment hooks --------------------------------------------------------------------------------


async def precheckout(deps: BotDeps, query: PreCheckoutQuery) -> None:
    """Answer a ``pre_checkout_query``: yes only for a valid order of this user (see module doc)."""
    verdict: rules.Verdict = "unavailable"
    lang = normalize_lang(query.from_.language_code)
    with trio.move_on_after(PRECHECKOUT_BUDGET_S):
        try:
            async with deps.db.connection() as conn:
                payer = await users.get_user(conn, query.from_.id)
                if payer is not None:
                    lang = normalize_lang(payer.language)
                verdict = await rules.judge_precheckout(conn, query, deps.now(), payer)
        except DatabaseUnavailable:
            log.warning("pre-checkout: database unavailable; declining with 'try again'")
    ok = verdict == "ok"
    error_message = None if ok else render(lang, f"payments.precheckout.{verdict}")
    try:
        await deps.tg.answer_pre_checkout_query(query.id, ok, error_message=error_message)
    except TelegramError as exc:
        # Too late or answered already (a re-delivered update): nothing left to do; the user sees
        # Telegram's own failure and may pay again.
        log.warning("pre-checkout answer failed", extra={"error": type(exc).__name__})
    deps.metrics.precheckout.labels(outcome=verdict).inc()
    log.info("pre-checkout answered", extra={"outcome": verdict, "user": mask_user_id(query.from_.id), "stars": query.total_amount})


routes.precheckout = precheckout


def _after_payment_keyboard(ctx: Ctx) -> Keyboard:
    return [[Button.callback(ctx.t("menu.balance"), cb("bal")), Button.callback(ctx.t("common.menu"), cb("menu"))]]


async def _alert_admins(ctx: Ctx, key: str, *, topic: str, **params: Any) -> None:
    notifier = ctx.deps.notifier
    if notifier is None:
        return
    await notifier.admins(key, topic=topic, **params)


async def on_successful_payment(ctx: Ctx, message: Message) -> None:
    """Credit the payment once per charge id and show the new balance."""
    paid = message.successful_payment
    assert paid is not None
    charge = paid.telegram_payment_charge_id
    try:
        credit = await rules.credit_stars(
            ctx.deps.db, ctx.deps.metrics, user_id=ctx.user_id, paid=paid, rub_per_star=ctx.deps.settings.stars_rub_rate
        )
    except money.IdempotencyConflict:
        log.error("Stars charge already recorded with other data; nothing credited", extra={"user": mask_user_id(ctx.user_id)})
        await _alert_admins(
            ctx, "payments.alert.payment_conflict", topic=f"stars:{charge}", charge=charge, user=ctx.user_id, stars=paid.total_amount
        )
        return
    except ValueError as exc:
        log.error("Stars payment not credited", extra={"user": mask_user_id(ctx.user_id), "problem": str(exc)})
        await _alert_admins(
            ctx, "payments.alert.payment_invalid", topic=f"stars:{charge}", charge=charge, user=ctx.user_id, problem=str(exc)
        )
        return
    balance = Safe(rub(credit.balance, ctx.lang))
    if credit.credited:
        log.info("Stars payment credited", extra={"user": mask_user_id(ctx.user_id), "stars": credit.stars, "kopecks": credit.kopecks})
        text = ctx.t("payments.stars.paid", stars=credit.stars, amount=Safe(rub(credit.kopecks, ctx.lang)), balance=balance)
    else:
        log.info("Stars payment delivered again; already credited", extra={"user": mask_user_id(ctx.user_id)})
        text = ctx.t("payments.stars.paid_again", balance=balance)
    await ctx.send(text, _after_payment_keyboard(ctx))


routes.successful_payment = on_successful_payment


async def on_refunded_payment(ctx: Ctx, message: Message) -> None:
    """Record a refund once; tell the user what left their balance, or alert admins if it could not."""
    refunded = message.refunded_payment
    assert refunded is not None
    charge = refunded.telegram_payment_charge_id
    news = await rules.record_refund(ctx.deps.db, ctx.deps.metrics, refunded)
    log.info("Stars refund received", extra={"user": mask_user_id(ctx.user_id), "status": news.status, "stars": news.stars})
    if news.status in ("recorded", "already"):
        text = ctx.t(
            "payments.stars.refunded",
            stars=news.stars,
            amount=Safe(rub(news.kopecks, ctx.lang)),
            balance=Safe(rub(news.balance, ctx.lang)),
        )
        await ctx.send(text, _after_payment_keyboard(ctx))
        return
    if news.status == "not_covered":
        log.error("Stars refund exceeds the balance; nothing debited", extra={"user": mask_user_id(ctx.user_id)})
        await _alert_admins(
            ctx,
            "payments.alert.refund_not_covered",
            topic=f"refund:{charge}",
            charge=charge,
            user=ctx.user_id,
            stars=news.stars,
            amount=rub(news.kopecks),
            available=rub(news.available),
        )
        await ctx.send(ctx.t("payments.stars.refund_pending", stars=news.stars))
        return
    log.error("refund of an unknown Stars charge", extra={"user": mask_user_id(ctx.user_id)})
    await _alert_admins(ctx, "payments.alert.refund_unknown", topic=f"refund:{charge}", charge=charge, user=ctx.user_id, stars=news.stars)


routes.refunded_payment = on_refunded_payment
