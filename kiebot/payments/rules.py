"""Money in: the rules between the payment screens and ``kiebot.store.payments``.

The screens (``kiebot/bot/screens/{balance,stars,manual_topup,terms}.py``) talk to users; this
module decides, in one place, what a payment is worth and whether it may go through:

* **Stars** (https://core.telegram.org/bots/payments-stars): how many kopecks ``N`` Stars buy
  (:func:`stars_to_kopecks`, ``STARS_RUB_RATE`` rubles per Star, rounded down so we never credit
  more than the invoice promised), the 1–10000 bounds of one invoice (``createInvoiceLink`` caps a
  Stars price at 10000), the pre-checkout verdict (:func:`judge_precheckout`: the order exists,
  belongs to the payer, is open, not expired, same amount, the payer is not banned), the credit on
  ``successful_payment`` (:func:`credit_stars`, exactly once per ``telegram_payment_charge_id``)
  and the record of a ``refunded_payment`` (:func:`record_refund`).
* **Reconciliation** (:func:`reconcile_stars`): Telegram's own Stars ledger
  (``getStarTransactions``) against ours, crediting a payment whose update was lost and recording
  a refund we never heard of — both through the same once-per-charge paths.
* **Manual top-ups**: amount bounds, the receipt reference (:class:`Receipt`), the admins'
  decision with its audit row in the same transaction (:func:`decide_topup`), and where each
  admin's copy of a request lives so the others can be updated once someone decides
  (:func:`remember_admin_copy`).

Metrics (``kiebot.metrics``) are bumped here, next to the effect they count, and only when the
effect happened now (a repeated update changes no counter).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_DOWN, Decimal
from typing import Literal

import msgspec

from kiebot.logs import mask_user_id
from kiebot.metrics import Metrics
from kiebot.store import admin as store_admin
from kiebot.store import kv, money, payments, users
from kiebot.store.db import Conn, Database
from kiebot.store.users import UnknownUser
from kiebot.telegram.client import TelegramClient
from kiebot.telegram.types import (
    Message,
    PreCheckoutQuery,
    RefundedPayment,
    StarTransaction,
    SuccessfulPayment,
)

log = logging.getLogger(__name__)

STARS_CURRENCY = "XTR"
MIN_STARS = 1
#: One invoice at most: the Bot API caps a Stars price at 10000 (createInvoiceLink,
#: https://core.telegram.org/bots/api#createinvoicelink); sendInvoice gets the same bound.
MAX_STARS = 10_000
#: An invoice may be paid within this time; later the pre-checkout declines it ("expired") so a
#: week-old invoice is not paid at a rate that has changed since.
ORDER_TTL_S = 3600.0

MANUAL_MIN_KOPECKS = 100_00
MANUAL_MAX_KOPECKS = 100_000_00
MANUAL_PRESETS_RUB = (100, 500, 1000, 5000)
#: Requests one user may have waiting for an admin (a spam guard for the admins' chats).
MANUAL_MAX_PENDING = 3
MAX_REASON_CHARS = 500


# ---- amounts ----------------------------------------------------------------------------------


def stars_to_kopecks(stars: int, rub_per_star: float) -> int:
    """What ``stars`` Stars credit, in kopecks (rounded down; exact for rates like 1.0 or 1.25).

    ``Decimal(str(rate))`` keeps the rate as written in ``STARS_RUB_RATE`` (1.1 stays 1.1, not
    1.100000000000000088...), so 10 ⭐ at 1.1 is exactly 11 ₽.
    """
    value = Decimal(str(rub_per_star)) * stars * 100
    return int(value.to_integral_value(rounding=ROUND_DOWN))


AmountProblem = Literal["not_a_number", "too_small", "too_large"]


class AmountError(ValueError):
    """Typed input that is not an acceptable amount; ``problem`` picks the text for the user."""

    def __init__(self, problem: AmountProblem) -> None:
        super().__init__(problem)
        self.problem = problem


_SPACES = re.compile(r"[\s\u00a0\u202f_']")
_STARS_RE = re.compile(r"^(\d{1,9})(?:⭐|⭐️|stars?|звезд[аы]?|зв\.?)?$", re.IGNORECASE)
_RUB_RE = re.compile(r"^(\d{1,9})(?:[.,](\d{1,2}))?(?:₽|р\.?|руб\.?|rub|rubles?|рублей|рубля|рубль)?$", re.IGNORECASE)


def parse_stars(text: str) -> int:
    """``"150"``, ``"1 000"``, ``"150 ⭐"`` → Stars within :data:`MIN_STARS`..:data:`MAX_STARS`.

    Raises:
        AmountError: not a whole number, or out of bounds.
    """
    match = _STARS_RE.match(_SPACES.sub("", text or ""))
    if match is None:
        raise AmountError("not_a_number")
    stars = int(match.group(1))
    if stars < MIN_STARS:
        raise AmountError("too_small")
    if stars > MAX_STARS:
        raise AmountError("too_large")
    return stars


def parse_rubles(text: str) -> int:
    """``"1500"``, ``"1 500,50"``, ``"1500 ₽"`` → kopecks within the manual top-up bounds.

    Raises:
        AmountError: not an amount, or out of bounds.
    """
    match = _RUB_RE.match(_SPACES.sub("", text or ""))
    if match is None:
        raise AmountError("not_a_number")
    whole, cents = match.group(1), match.group(2) or "0"
    kopecks = int(whole) * 100 + int(cents.ljust(2, "0"))
    return check_manual_amount(kopecks)


def check_manual_amount(kopecks: int) -> int:
    """``kopecks`` if within the manual bounds (also for amounts arriving in button data)."""
    if kopecks < MANUAL_MIN_KOPECKS:
        raise AmountError("too_small")
    if kopecks > MANUAL_MAX_KOPECKS:
        raise AmountError("too_large")
    return kopecks


# ---- Stars: pre-checkout -------------------------------------------------------------------------

Verdict = Literal[
    "ok",
    "unknown",
    "wrong_user",
    "expired",
    "amount_mismatch",
    "already_paid",
    "banned",
    "currency",
    "unavailable",
]


async def judge_precheckout(conn: Conn, query: PreCheckoutQuery, now: datetime, payer: users.User | None) -> Verdict:
    """Whether Telegram may take the Stars (https://core.telegram.org/bots/api#answerprecheckoutquery).

    ``payer`` is the stored user (None if unknown: then no order can be theirs). Reads only, by
    primary key, so the answer goes out well within the 10 seconds Telegram waits.
    """
    if query.currency != STARS_CURRENCY:
        return "currency"
    if payer is not None and payer.banned:
        return "banned"
    try:
        await payments.check_order(
            conn, query.invoice_payload, user_id=query.from_.id, stars=query.total_amount, now=now
        )
    except payments.OrderRefused as refused:
        return refused.problem
    return "ok"


# ---- Stars: payment and refund -------------------------------------------------------------------


class StarsCredit(msgspec.Struct, frozen=True, kw_only=True):
    """The outcome of a ``successful_payment``: what was (or had been) credited and the balance."""

    stars: int
    kopecks: int
    credited: bool
    balance: int


async def credit_stars(
    db: Database, metrics: Metrics, *, user_id: int, paid: SuccessfulPayment, rub_per_star: float
) -> StarsCredit:
    """Credit a ``successful_payment`` once per ``telegram_payment_charge_id``.

    The value is the order's (what the invoice screen promised), not today's rate; only a payment
    without a matching order (it cannot pass pre-checkout, but Telegram's word that money arrived
    beats ours) falls back to ``STARS_RUB_RATE``.

    Raises:
        money.IdempotencyConflict: the charge id is already recorded for another user or amount.
        ValueError: the payment is not in Stars, or its value rounds to zero kopecks.
    """
    if paid.currency != STARS_CURRENCY:
        raise ValueError(f"not a Stars payment: {paid.currency!r}")
    stars = paid.total_amount
    async with db.transaction() as conn:
        order = await payments.get_order(conn, paid.invoice_payload)
        if order is not None and order.user_id == user_id and order.stars == stars:
            kopecks = order.kopecks
        else:
            kopecks = stars_to_kopecks(stars, rub_per_star)
            log.warning(
                "Stars payment without a matching order; credited at the configured rate",
                extra={"user": mask_user_id(user_id), "stars": stars, "kopecks": kopecks},
            )
        if kopecks <= 0:
            raise ValueError("the payment is worth zero kopecks at the configured rate")
        recorded = await payments.record_stars_payment(
            conn,
            user_id=user_id,
            charge_id=paid.telegram_payment_charge_id,
            payload=paid.invoice_payload,
            stars=stars,
            kopecks=kopecks,
        )
    if recorded.credited:
        metrics.stars_payments.inc()
        metrics.stars_received.inc(stars)
        metrics.topup_kopecks.labels(method="stars").inc(kopecks)
    return StarsCredit(
        stars=stars, kopecks=recorded.payment.kopecks, credited=recorded.credited, balance=recorded.balance
    )


RefundStatus = Literal["recorded", "already", "unknown", "not_covered"]


class RefundNews(msgspec.Struct, frozen=True, kw_only=True):
    """What a ``refunded_payment`` meant for our books.

    * ``recorded`` — the credited kopecks were debited now;
    * ``already`` — someone (the admin panel's refund) had recorded it before;
    * ``unknown`` — no such charge in our books (nothing to debit);
    * ``not_covered`` — the user already spent part of it: nothing was debited (the balance
      cannot go below zero), the payment stays ``paid`` and admins must settle it by hand.
    """

    status: RefundStatus
    stars: int
    kopecks: int = 0
    balance: int = 0
    available: int = 0


async def record_refund(db: Database, metrics: Metrics, refunded: RefundedPayment) -> RefundNews:
    """Record an incoming ``refunded_payment`` (https://core.telegram.org/bots/api#refundedpayment)."""
    charge_id = refunded.telegram_payment_charge_id
    stars = refunded.total_amount
    async with db.connection() as conn:
        try:
            result = await payments.mark_refunded(conn, charge_id)
        except payments.UnknownPayment:
            return RefundNews(status="unknown", stars=stars)
        except money.InsufficientFunds as short:
            payment = await payments.get_stars_payment(conn, charge_id)
            return RefundNews(
                status="not_covered",
                stars=stars,
                kopecks=payment.kopecks if payment is not None else short.needed,
                available=short.available,
            )
    if result.refunded_now:
        metrics.stars_refunds.inc()
    return RefundNews(
        status="recorded" if result.refunded_now else "already",
        stars=result.payment.stars,
        kopecks=result.payment.kopecks,
        balance=result.balance,
    )


# ---- manual top-ups ---------------------------------------------------------------------------

ReceiptKind = Literal["photo", "document"]
RECEIPT_MIME_TYPES = frozenset(("application/pdf", "image/jpeg", "image/png", "image/webp", "image/heic", "image/heif"))


@dataclass(frozen=True)
class Receipt:
    """A receipt Telegram keeps for us: re-sent to admins by ``file_id`` (never downloaded).

    ``manual_topups.receipt_file_id`` stores :meth:`encode` — ``"photo:<file_id>"`` or
    ``"document:<file_id>"`` — because a file_id can only be re-sent with the method of its own
    kind (sendPhoto for a photo, sendDocument for a document). A bare id (no prefix) is a photo.
    """

    kind: ReceiptKind
    file_id: str

    def encode(self) -> str:
        return f"{self.kind}:{self.file_id}"

    @classmethod
    def decode(cls, stored: str | None) -> Receipt | None:
        if not stored:
            return None
        kind, sep, file_id = stored.partition(":")
        if sep and kind == "document":
            return cls("document", file_id)
        if sep and kind == "photo":
            return cls("photo", file_id)
        return cls("photo", stored)

    @classmethod
    def from_message(cls, message: Message) -> Receipt | None:
        """The receipt in a user's message: the largest photo, or an image/PDF document."""
        photo = message.largest_photo
        if photo is not None:
            return cls("photo", photo.file_id)
        document = message.document
        if document is not None and (document.mime_type or "").lower() in RECEIPT_MIME_TYPES:
            return cls("document", document.file_id)
        return None


async def create_topup_request(
    conn: Conn, metrics: Metrics, *, user_id: int, kopecks: int, receipt: Receipt
) -> payments.ManualTopup:
    """A pending request (in the caller's transaction, so the conversation state that asked for
    the receipt can be cleared atomically with it); nothing is credited until an admin approves.

    Raises:
        payments.TooManyPending: the user has :data:`MANUAL_MAX_PENDING` requests waiting.
        AmountError: the amount is outside the manual bounds.
    """
    try:
        topup = await payments.create_request(
            conn, user_id, check_manual_amount(kopecks), receipt.encode(), max_pending=MANUAL_MAX_PENDING
        )
    except payments.TooManyPending:
        metrics.manual_topups.labels(outcome="too_many").inc()
        raise
    metrics.manual_topups.labels(outcome="requested").inc()
    return topup


async def decide_topup(
    db: Database, metrics: Metrics, *, request_id: int, admin_id: int, approve: bool, reason: str | None
) -> payments.Decision:
    """The first admin decision wins (``store.payments.decide``); an approval credits once. The
    audit row is written in the same transaction, only by the decision that took effect.

    Raises:
        payments.UnknownTopup: no such request.
    """
    reason = reason.strip()[:MAX_REASON_CHARS] if reason else None
    async with db.transaction() as conn:
        decision = await payments.decide(conn, request_id, admin_id, approve, reason)
        if decision.decided_now:
            topup = decision.topup
            await store_admin.record_admin_action(
                conn,
                admin_id,
                "topup_approve" if approve else "topup_reject",
                f"topup:{topup.id}",
                before={"status": "pending", "user_id": topup.user_id, "amount_kopecks": topup.amount_kopecks},
                after={"status": topup.status, "reason": reason},
            )
    if decision.decided_now:
        metrics.manual_topups.labels(outcome="approved" if approve else "rejected").inc()
        if approve:
            metrics.topup_kopecks.labels(method="manual").inc(decision.topup.amount_kopecks)
    return decision


def _copies_key(request_id: int) -> str:
    return f"manual_topup.copies.{request_id}"


async def remember_admin_copy(conn: Conn, request_id: int, admin_id: int, message_id: int) -> None:
    """Note that ``admin_id`` holds a copy of the request (message ``message_id``; an admin may
    hold several, e.g. the notification and one opened from the panel), so every copy can be
    updated when any admin decides. Cosmetic state, hence ``kv``: losing it only leaves stale
    buttons, which then answer "already decided"."""
    async with conn.transaction():
        copies = await admin_copies(conn, request_id)
        if (admin_id, message_id) not in copies:
            copies.append((admin_id, message_id))
        await kv.put(conn, _copies_key(request_id), [list(c) for c in copies])


async def admin_copies(conn: Conn, request_id: int) -> list[tuple[int, int]]:
    """``(admin_id, message_id)`` of every copy of the request sent to admins, oldest first."""
    stored = await kv.get_as(conn, _copies_key(request_id), list[tuple[int, int]])
    return list(stored or [])


async def forget_admin_copies(conn: Conn, request_id: int) -> None:
    await kv.delete(conn, _copies_key(request_id))


# ---- Stars reconciliation -------------------------------------------------------------------------

RECONCILE_OFFSET_KEY = "stars.reconciled_offset"
#: Transactions younger than this are left to the normal ``successful_payment`` path (the bot
#: usually handles it within a second); the reconciliation only mops up what that path lost.
RECONCILE_MIN_AGE_S = 600.0
RECONCILE_PAGE = 100


class MissedPayment(msgspec.Struct, frozen=True, kw_only=True):
    user_id: int
    charge_id: str
    credit: StarsCredit


class MissedRefund(msgspec.Struct, frozen=True, kw_only=True):
    user_id: int
    charge_id: str
    news: RefundNews


class Reconciliation(msgspec.Struct, frozen=True, kw_only=True):
    """What a pass found: payments credited only now, refunds recorded only now (or that could
    not be debited), charges it could not settle, and how many transactions it read."""

    credited: list[MissedPayment]
    refunds: list[MissedRefund]
    problems: list[str]
    scanned: int
    offset: int


async def reconcile_stars(
    db: Database,
    tg: TelegramClient,
    metrics: Metrics,
    *,
    rub_per_star: float,
    now: float,
    min_age_s: float = RECONCILE_MIN_AGE_S,
    page: int = RECONCILE_PAGE,
) -> Reconciliation:
    """Compare Telegram's Stars ledger with ours and settle what the update path missed.

    ``getStarTransactions`` (https://core.telegram.org/bots/api#getstartransactions) lists every
    incoming invoice payment (``source`` = the user, id = ``telegram_payment_charge_id``) and every
    refund (``receiver`` = the user, same id), oldest first. A payment whose ``successful_payment``
    never got credited (an update parked after repeated failures, a lost delivery) is credited
    here through the same once-per-charge path; a refund we never heard of is recorded. Both are
    idempotent, so a transaction seen twice changes nothing. The position reached is kept in
    ``kv`` and a pass stops at the first transaction younger than ``min_age_s`` (``now`` is a
    Unix time), so nothing is taken from under the normal path.
    """
    async with db.connection() as conn:
        offset = await kv.get_as(conn, RECONCILE_OFFSET_KEY, int) or 0
    credited: list[MissedPayment] = []
    refunds: list[MissedRefund] = []
    problems: list[str] = []
    scanned = 0
    while True:
        batch = (await tg.get_star_transactions(offset=offset, limit=page)).transactions
        stop = False
        for tx in batch:
            if tx.date > now - min_age_s:
                stop = True
                break
            scanned += 1
            offset += 1
            await _reconcile_one(db, metrics, tx, rub_per_star, credited, refunds, problems)
        if stop or len(batch) < page:
            break
    async with db.connection() as conn:
        await kv.put(conn, RECONCILE_OFFSET_KEY, offset)
    return Reconciliation(credited=credited, refunds=refunds, problems=problems, scanned=scanned, offset=offset)


async def refund_listed(db: Database, tg: TelegramClient, charge_id: str, user_id: int, *, page: int = RECONCILE_PAGE) -> bool:
    """Whether Telegram's Stars ledger lists the refund of ``charge_id`` to ``user_id``.

    Used when ``refundStarPayment``'s answer was lost: the refund either took effect or did not,
    and ``getStarTransactions`` (https://core.telegram.org/bots/api#getstartransactions) says which,
    instead of guessing. A refund is a transaction with the charge's id and the user as
    ``receiver``. The scan starts where the reconciliation stopped (everything before that is
    older than :data:`RECONCILE_MIN_AGE_S`, and this refund is seconds old) and pages to the end.

    Raises:
        TelegramError: the ledger could not be read.
    """
    async with db.connection() as conn:
        offset = await kv.get_as(conn, RECONCILE_OFFSET_KEY, int) or 0
    while True:
        batch = (await tg.get_star_transactions(offset=offset, limit=page)).transactions
        for tx in batch:
            receiver = tx.receiver
            if tx.id == charge_id and receiver is not None and receiver.user is not None and receiver.user.id == user_id:
                return True
        if len(batch) < page:
            return False
        offset += len(batch)


async def _reconcile_one(
    db: Database,
    metrics: Metrics,
    tx: StarTransaction,
    rub_per_star: float,
    credited: list[MissedPayment],
    refunds: list[MissedRefund],
    problems: list[str],
) -> None:
    partner = tx.source or tx.receiver
    if partner is None or partner.type != "user" or partner.user is None:
        return
    if partner.transaction_type not in (None, "invoice_payment") or partner.invoice_payload is None:
        return
    user_id = partner.user.id
    if tx.source is not None:
        async with db.connection() as conn:
            if await payments.get_stars_payment(conn, tx.id) is not None:
                return
        paid = SuccessfulPayment(
            currency=STARS_CURRENCY,
            total_amount=tx.amount,
            invoice_payload=partner.invoice_payload,
            telegram_payment_charge_id=tx.id,
        )
        try:
            credit = await credit_stars(db, metrics, user_id=user_id, paid=paid, rub_per_star=rub_per_star)
        except (money.IdempotencyConflict, UnknownUser, ValueError) as exc:
            log.error("reconcile: Stars payment not credited", extra={"user": mask_user_id(user_id), "error": type(exc).__name__})
            problems.append(tx.id)
            return
        if credit.credited:
            log.warning("reconcile: credited a Stars payment the update path missed", extra={"user": mask_user_id(user_id)})
            credited.append(MissedPayment(user_id=user_id, charge_id=tx.id, credit=credit))
        return
    news = await record_refund(
        db,
        metrics,
        RefundedPayment(currency=STARS_CURRENCY, total_amount=tx.amount, invoice_payload=partner.invoice_payload, telegram_payment_charge_id=tx.id),
    )
    if news.status in ("recorded", "not_covered"):
        log.warning("reconcile: a Stars refund the update path missed", extra={"user": mask_user_id(user_id), "status": news.status})
        refunds.append(MissedRefund(user_id=user_id, charge_id=tx.id, news=news))
    elif news.status == "unknown":
        problems.append(tx.id)
