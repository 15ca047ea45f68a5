"""⭐ A user's Stars payments, and refunding one of them.

https://core.telegram.org/bots/api#refundstarpayment returns the Stars to the user; the rubles
that payment credited must leave the balance at the same time, or the user keeps both. The order
that makes this safe:

1. in ONE database transaction, ``store.payments.mark_refunded`` debits the credited kopecks and
   marks the charge refunded — it raises ``InsufficientFunds`` (and nothing happens, Telegram is
   not called) when the user already spent part of it; it keeps the user's account row and the
   payment row locked;
2. still inside that transaction, ``refundStarPayment`` is called. ``CHARGE_ALREADY_REFUNDED``
   means Telegram refunded it before (a retry after a lost answer): done;
3. the transaction commits — with the audit row — only if Telegram refunded. A refusal rolls
   everything back: the balance is untouched, and the admin is told;
4. a timeout or a network failure does not say whether the refund took effect, so it is settled,
   not guessed (issue 13 item 10): still inside the transaction, ``getStarTransactions`` is asked
   whether the refund is listed. Listed → the debit is kept (committed, audited, the admin told
   "refunded"); not listed → rolled back ("not refunded, try again"); the lookup failing too →
   rolled back ("no answer"), and if Telegram did refund after all, the ``refunded_payment``
   message it sends (or the Stars reconciliation) records it — ``mark_refunded`` is idempotent, so
   the debit happens exactly once.

While the transaction waits for Telegram (bounded by :data:`REFUND_TIMEOUT_S`), the user's other
money operations wait for the account lock, so no generation hold can spend the refunded rubles in
between. A charge already marked refunded is not sent to Telegram again.
"""

from __future__ import annotations

import logging
from typing import Literal

import msgspec
import trio

from kiebot.bot.context import Ctx, Keyboard
from kiebot.bot.router import routes
from kiebot.bot.screens.admin.common import clear_input, nav_row, short_code, short_when
from kiebot.bot.screens.admin.users import user_id_arg
from kiebot.chat.callback_data import BadCallback, cb, str_arg
from kiebot.chat.format import Safe, rub
from kiebot.limits import DEFAULT_LIMITS
from kiebot.logs import mask_user_id
from kiebot.metrics import Metrics
from kiebot.payments import rules as pay
from kiebot.store import admin, money, payments, users
from kiebot.store.db import Database
from kiebot.telegram.client import TelegramClient
from kiebot.telegram.errors import ChargeAlreadyRefunded, NetworkError, RetryAfter, ServerError, TelegramError
from kiebot.telegram.types import InlineKeyboardButton as Button

log = logging.getLogger(__name__)

#: How long the refund transaction may wait for Telegram (the client retries inside it); the panel
#: passes ``Limits.stars_refund_timeout_s``.
REFUND_TIMEOUT_S = DEFAULT_LIMITS.stars_refund_timeout_s
#: How long the look-up in Telegram's Stars ledger may take after a lost answer
#: (``Limits.stars_refund_lookup_s``).
LOOKUP_TIMEOUT_S = DEFAULT_LIMITS.stars_refund_lookup_s
#: Payments listed on the screen (newest first).
MAX_PAYMENTS = 20

RefundOutcome = Literal["refunded", "already_refunded", "insufficient", "telegram_refused", "no_answer", "not_refunded"]


class _Unsettled(Exception):
    """Roll the refund transaction back and report ``outcome``."""

    def __init__(self, outcome: RefundOutcome) -> None:
        super().__init__(outcome)
        self.outcome: RefundOutcome = outcome


class RefundResult(msgspec.Struct, frozen=True, kw_only=True):
    outcome: RefundOutcome
    payment: payments.StarsPayment
    balance: int
    #: Telegram's description when it refused (shown to the admin; it names no secret).
    detail: str = ""


async def refund_stars_payment(
    db: Database,
    tg: TelegramClient,
    *,
    admin_id: int,
    charge_id: str,
    metrics: Metrics | None = None,
    timeout_s: float = REFUND_TIMEOUT_S,
    lookup_timeout_s: float = LOOKUP_TIMEOUT_S,
) -> RefundResult:
    """Refund one Stars charge: debit + Telegram refund + audit, all or nothing (see the module
    docstring for the order and why).

    Raises:
        payments.UnknownPayment: no such charge.
    """
    result = await _refund(
        db, tg, admin_id=admin_id, charge_id=charge_id, timeout_s=timeout_s, lookup_timeout_s=lookup_timeout_s
    )
    if result.outcome == "refunded" and metrics is not None:
        # The refunded_payment message that follows finds the charge already recorded and
        # counts nothing, so the refund is counted here, once.
        metrics.stars_refunds.inc()
    return result


async def _refund(
    db: Database, tg: TelegramClient, *, admin_id: int, charge_id: str, timeout_s: float, lookup_timeout_s: float
) -> RefundResult:
    try:
        async with db.transaction() as conn:
            recorded = await payments.mark_refunded(conn, charge_id)
            payment = recorded.payment
            if not recorded.refunded_now:
                return RefundResult(outcome="already_refunded", payment=payment, balance=recorded.balance)
            telegram_says = "refunded"
            try:
                with trio.fail_after(timeout_s):
                    try:
                        await tg.refund_star_payment(payment.user_id, charge_id)
                    except ChargeAlreadyRefunded:
                        telegram_says = "already refunded"
            except (NetworkError, ServerError, RetryAfter, trio.TooSlowError):
                telegram_says = await _settle_lost_answer(db, tg, payment, lookup_timeout_s)
            await admin.record_admin_action(
                conn,
                admin_id,
                "stars_refund",
                f"user:{payment.user_id}",
                before={"balance": recorded.balance + payment.kopecks, "payment": "paid"},
                after={
                    "balance": recorded.balance,
                    "payment": "refunded",
                    "stars": payment.stars,
                    "kopecks": payment.kopecks,
                    "charge": short_code(charge_id),
                    "telegram": telegram_says,
                },
            )
            return RefundResult(outcome="refunded", payment=payment, balance=recorded.balance)
    except money.InsufficientFunds:
        return await _as_is(db, charge_id, "insufficient")
    except _Unsettled as unsettled:
        return await _as_is(db, charge_id, unsettled.outcome)
    except TelegramError as exc:
        return await _as_is(db, charge_id, "telegram_refused", exc.description[:200])


async def _settle_lost_answer(
    db: Database, tg: TelegramClient, payment: payments.StarsPayment, lookup_timeout_s: float
) -> str:
    """The refund call's answer was lost: ask Telegram's Stars ledger whether it took effect.

    Returns the audit note when it did (the caller keeps the debit).

    Raises:
        _Unsettled: ``not_refunded`` (not listed) or ``no_answer`` (the ledger could not be read
            within ``lookup_timeout_s``); the caller's transaction then rolls back.
    """
    listed: bool | None = None
    with trio.move_on_after(lookup_timeout_s):
        try:
            listed = await pay.refund_listed(db, tg, payment.telegram_payment_charge_id, payment.user_id)
        except TelegramError as exc:
            log.warning("refund answer lost and the Stars ledger unreadable", extra={"error": type(exc).__name__})
    if listed is None:
        raise _Unsettled("no_answer")
    if not listed:
        log.info("refund answer lost; Telegram lists no refund: rolled back", extra={"user": mask_user_id(payment.user_id)})
        raise _Unsettled("not_refunded")
    log.info("refund answer lost; Telegram lists the refund: debit kept", extra={"user": mask_user_id(payment.user_id)})
    return "refunded (answer lost, confirmed by getStarTransactions)"


async def _as_is(db: Database, charge_id: str, outcome: RefundOutcome, detail: str = "") -> RefundResult:
    async with db.connection() as conn:
        payment = await payments.get_stars_payment(conn, charge_id)
        if payment is None:
            raise payments.UnknownPayment(charge_id)
        account = await money.get_account(conn, payment.user_id)
    return RefundResult(outcome=outcome, payment=payment, balance=account.balance, detail=detail)


# ---- screens --------------------------------------------------------------------------------------


async def _payments_of(
    ctx: Ctx, user_id: int
) -> tuple[users.User, list[payments.StarsPayment], money.Account]:
    async with ctx.conn() as conn:
        user = await users.get_user(conn, user_id)
        paid = await payments.user_payments(conn, user_id, MAX_PAYMENTS)
        account = await money.get_account(conn, user_id)
    if user is None:
        raise BadCallback("unknown user")
    return user, paid, account


def _payment_line(ctx: Ctx, p: payments.StarsPayment) -> str:
    status = (
        ctx.t("admin.refund.status_refunded") if p.status == "refunded" else ctx.t("admin.refund.status_paid")
    )
    return ctx.t(
        "admin.refund.line",
        at=short_when(ctx, p.paid_at),
        stars=p.stars,
        amount=Safe(rub(p.kopecks, ctx.lang)),
        status=status,
        code=short_code(p.telegram_payment_charge_id),
    )


@routes.callback("adm.pay", admin=True)
async def payments_screen(ctx: Ctx, args: list[str]) -> None:
    await clear_input(ctx)
    user_id = user_id_arg(args)
    user, paid, account = await _payments_of(ctx, user_id)
    lines = [
        ctx.t(
            "admin.refund.title",
            zone=ctx.zone(),
            name=user.first_name,
            id=user_id,
            balance=Safe(rub(account.balance, ctx.lang)),
        )
    ]
    lines += [_payment_line(ctx, p) for p in paid] or [ctx.t("admin.refund.none")]
    rows: list[list[Button]] = [
        [
            Button.callback(
                ctx.t("admin.refund.button", stars=p.stars, at=short_when(ctx, p.paid_at)),
                cb("adm.rf", user_id, short_code(p.telegram_payment_charge_id)),
            )
        ]
        for p in paid
        if p.status == "paid"
    ]
    rows.append(nav_row(ctx, cb("adm.u", user_id)))
    await ctx.show("\n".join(lines), rows)


async def _find(ctx: Ctx, args: list[str]) -> tuple[users.User, payments.StarsPayment, money.Account]:
    user_id = user_id_arg(args)
    code = str_arg(args, 1)
    user, paid, account = await _payments_of(ctx, user_id)
    for p in paid:
        if short_code(p.telegram_payment_charge_id) == code:
            return user, p, account
    raise BadCallback("unknown payment")


@routes.callback("adm.rf", admin=True)
async def refund_confirm_screen(ctx: Ctx, args: list[str]) -> None:
    """Show what the refund will do before doing it; refuse at once if the balance cannot cover it."""
    user, payment, account = await _find(ctx, args)
    back = cb("adm.pay", user.user_id)
    keyboard: Keyboard
    if payment.status == "refunded":
        text = ctx.t(
            "admin.refund.already", stars=payment.stars, at=short_when(ctx, payment.refunded_at or payment.paid_at)
        )
        keyboard = [nav_row(ctx, back)]
    elif account.balance < payment.kopecks:
        text = _insufficient_text(ctx, payment, account.balance)
        keyboard = [nav_row(ctx, back)]
    else:
        text = ctx.t(
            "admin.refund.confirm",
            name=user.first_name,
            id=user.user_id,
            stars=payment.stars,
            amount=Safe(rub(payment.kopecks, ctx.lang)),
            before=Safe(rub(account.balance, ctx.lang)),
            after=Safe(rub(account.balance - payment.kopecks, ctx.lang)),
        )
        keyboard = [
            [
                Button.callback(
                    ctx.t("admin.refund.do"),
                    cb("adm.rfok", user.user_id, short_code(payment.telegram_payment_charge_id)),
                ),
                Button.callback(ctx.t("common.cancel"), back),
            ]
        ]
    await ctx.show(text, keyboard)


def _insufficient_text(ctx: Ctx, payment: payments.StarsPayment, balance: int) -> str:
    return ctx.t(
        "admin.refund.insufficient",
        stars=payment.stars,
        amount=Safe(rub(payment.kopecks, ctx.lang)),
        balance=Safe(rub(balance, ctx.lang)),
    )


@routes.callback("adm.rfok", admin=True, answers_itself=True)
async def refund_button(ctx: Ctx, args: list[str]) -> None:
    """Answers the tap at once ("refunding…"): the Telegram call may take a few seconds."""
    await ctx.answer(ctx.t("admin.refund.working"))
    user, payment, _ = await _find(ctx, args)
    result = await refund_stars_payment(
        ctx.deps.db,
        ctx.tg,
        admin_id=ctx.user_id,
        charge_id=payment.telegram_payment_charge_id,
        metrics=ctx.deps.metrics,
        timeout_s=ctx.deps.settings.limits.stars_refund_timeout_s,
        lookup_timeout_s=ctx.deps.settings.limits.stars_refund_lookup_s,
    )
    back = [nav_row(ctx, cb("adm.pay", user.user_id))]
    amount = Safe(rub(result.payment.kopecks, ctx.lang))
    balance = Safe(rub(result.balance, ctx.lang))
    if result.outcome == "refunded":
        text = ctx.t(
            "admin.refund.done",
            stars=result.payment.stars,
            amount=amount,
            balance=balance,
            name=user.first_name,
        )
    elif result.outcome == "already_refunded":
        text = ctx.t(
            "admin.refund.already",
            stars=result.payment.stars,
            at=short_when(ctx, result.payment.refunded_at or result.payment.paid_at),
        )
    elif result.outcome == "insufficient":
        text = _insufficient_text(ctx, result.payment, result.balance)
    elif result.outcome == "no_answer":
        text = ctx.t("admin.refund.no_answer")
    elif result.outcome == "not_refunded":
        text = ctx.t("edges.refund_not_done", stars=result.payment.stars)
    else:
        text = ctx.t("admin.refund.refused", detail=result.detail or "—")
    await ctx.show(text, back)
