"""Payments: Telegram Stars invoices and charges, and manual bank top-ups an admin approves.

What the original bot got wrong (reference §5 and §9): no Stars at all, later Stars credited by an
in-memory session and not idempotent on ``telegram_payment_charge_id``, and manual top-ups credited
on any photo. Here:

* **Orders** (``invoice_orders``): every invoice carries a random payload that names an order with
  its user, Stars amount, ruble value and expiry. The pre-checkout query is answered from
  :func:`check_order` (exists, same user, not expired, same amount), so a stale or forged invoice
  is declined before the user pays (https://core.telegram.org/bots/api#answerprecheckoutquery).
* **Stars payments** (``stars_payments``): :func:`record_stars_payment` inserts the charge and
  credits the balance in one transaction, exactly once per charge id — a duplicated
  ``successful_payment`` (Telegram may deliver an update twice; two instances may race) returns
  "already credited". :func:`mark_refunded` debits the credited kopecks once, and only if the
  available balance covers them (otherwise :class:`~kiebot.store.money.InsufficientFunds` and
  nothing is written), before the bot calls ``refundStarPayment``
  (https://core.telegram.org/bots/api#refundstarpayment).
* **Manual top-ups** (``manual_topups``): a request with its receipt waits for an admin;
  :func:`decide` lets the first decision win atomically and credits an approval in the same
  transaction.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import Literal

import msgspec

from kiebot.store import money
from kiebot.store.db import Conn, Record
from kiebot.store.users import UnknownUser

# ---- invoice orders -----------------------------------------------------------------------------


class Order(msgspec.Struct, frozen=True, kw_only=True):
    payload: str
    user_id: int
    stars: int
    kopecks: int
    created_at: datetime
    expires_at: datetime
    status: str


OrderProblem = Literal["unknown", "wrong_user", "expired", "amount_mismatch", "already_paid"]


class OrderRefused(Exception):
    """Pre-checkout must be declined; ``problem`` picks the text shown to the user."""

    def __init__(self, payload: str, problem: OrderProblem) -> None:
        super().__init__(f"order {payload!r} refused: {problem}")
        self.payload = payload
        self.problem = problem


_ORDER_COLUMNS = "payload, user_id, stars, kopecks, created_at, expires_at, status"


def _order(row: Record) -> Order:
    return Order(**{k: row[k] for k in Order.__struct_fields__})


async def create_order(
    conn: Conn, user_id: int, *, stars: int, kopecks: int, now: datetime, ttl_s: float = 3600.0
) -> Order:
    """A new open order; its ``payload`` (1–128 bytes, as sendInvoice requires) goes in the invoice."""
    if stars <= 0 or kopecks <= 0:
        raise ValueError("an order needs positive stars and kopecks")
    row = await conn.fetchrow(
        f"""
        INSERT INTO invoice_orders (payload, user_id, stars, kopecks, created_at, expires_at)
        VALUES ($1, $2, $3, $4, $5, $6)
        RETURNING {_ORDER_COLUMNS}
        """,
        "topup_" + secrets.token_urlsafe(18),
        user_id,
        stars,
        kopecks,
        now,
        now + timedelta(seconds=ttl_s),
    )
    assert row is not None
    return _order(row)


async def get_order(conn: Conn, payload: str) -> Order | None:
    row = await conn.fetchrow(f"SELECT {_ORDER_COLUMNS} FROM invoice_orders WHERE payload = $1", payload)
    return None if row is None else _order(row)


async def check_order(conn: Conn, payload: str, *, user_id: int, stars: int, now: datetime) -> Order:
    """Validate a pre-checkout query against its order.

    Raises:
        OrderRefused: unknown payload, another user's order, expired, different amount, or paid.
    """
    order = await get_order(conn, payload)
    if order is None:
        raise OrderRefused(payload, "unknown")
    if order.user_id != user_id:
        raise OrderRefused(payload, "wrong_user")
    if order.status == "paid":
        raise OrderRefused(payload, "already_paid")
    if order.status == "expired" or order.expires_at <= now:
        raise OrderRefused(payload, "expired")
    if order.stars != stars:
        raise OrderRefused(payload, "amount_mismatch")
    return order


async def expire_orders(conn: Conn, now: datetime) -> int:
    """Mark open orders past their expiry as expired (periodic clean-up); returns how many."""
    status = await conn.execute(
        "UPDATE invoice_orders SET status = 'expired' WHERE status = 'open' AND expires_at <= $1", now
    )
    return int(status.rsplit(" ", 1)[1])


# ---- Stars payments -------------------------------------------------------------------------------


class StarsPayment(msgspec.Struct, frozen=True, kw_only=True):
    telegram_payment_charge_id: str
    user_id: int
    payload: str
    stars: int
    kopecks: int
    status: str
    paid_at: datetime
    refunded_at: datetime | None


class PaymentRecorded(msgspec.Struct, frozen=True, kw_only=True):
    """``credited`` is False when this charge was already recorded: nothing was credited now."""

    payment: StarsPayment
    credited: bool
    balance: int


class RefundRecorded(msgspec.Struct, frozen=True, kw_only=True):
    """``refunded_now`` is False when the charge was already refunded: nothing was debited now."""

    payment: StarsPayment
    refunded_now: bool
    balance: int


class UnknownPayment(LookupError):
    def __init__(self, charge_id: str) -> None:
        super().__init__("unknown Stars payment")
        self.charge_id = charge_id


_PAYMENT_COLUMNS = (
    "telegram_payment_charge_id, user_id, payload, stars, kopecks, status, paid_at, refunded_at"
)


def _payment(row: Record) -> StarsPayment:
    return StarsPayment(**{k: row[k] for k in StarsPayment.__struct_fields__})


def stars_credit_key(charge_id: str) -> str:
    return f"stars:{charge_id}"


def stars_refund_key(charge_id: str) -> str:
    return f"stars_refund:{charge_id}"


async def record_stars_payment(
    conn: Conn, *, user_id: int, charge_id: str, payload: str, stars: int, kopecks: int
) -> PaymentRecorded:
    """Record a ``successful_payment`` and credit ``kopecks`` — once per ``charge_id``.

    A concurrent duplicate waits on the primary key until the first commits, then finds it.

    Raises:
        money.IdempotencyConflict: the charge id was recorded for another user or amount.
        UnknownUser: the payer never talked to the bot (touch the user first).
    """
    async with conn.transaction():
        if await conn.fetchval("SELECT 1 FROM users WHERE user_id = $1", user_id) is None:
            raise UnknownUser(user_id)
        row = await conn.fetchrow(
            f"""
            INSERT INTO stars_payments (telegram_payment_charge_id, user_id, payload, stars, kopecks)
            VALUES ($1, $2, $3, $4, $5)
            ON CONFLICT (telegram_payment_charge_id) DO NOTHING
            RETURNING {_PAYMENT_COLUMNS}
            """,
            charge_id,
            user_id,
            payload,
            stars,
            kopecks,
        )
        if row is None:
            existing = await get_stars_payment(conn, charge_id)
            assert existing is not None
            if (existing.user_id, existing.stars, existing.kopecks) != (user_id, stars, kopecks):
                raise money.IdempotencyConflict(stars_credit_key(charge_id))
            account = await money.get_account(conn, user_id)
            return PaymentRecorded(payment=existing, credited=False, balance=account.balance)
        posting = await money.credit(
            conn, user_id, kopecks, kind="topup_stars", key=stars_credit_key(charge_id), payment=charge_id
        )
        await conn.execute(
            "UPDATE invoice_orders SET status = 'paid' WHERE payload = $1 AND status <> 'paid'", payload
        )
        return PaymentRecorded(payment=_payment(row), credited=True, balance=posting.balance)


async def mark_refunded(conn: Conn, charge_id: str) -> RefundRecorded:
    """Debit what the charge credited and mark it refunded — once, and only if the balance covers it.

    Call it before ``refundStarPayment``; if Telegram then refuses, credit the user back with an
    admin adjustment (the ledger keeps both rows).

    Raises:
        UnknownPayment: no such charge.
        money.InsufficientFunds: the user already spent part of it; nothing is written.
    """
    async with conn.transaction():
        row = await conn.fetchrow(
            f"SELECT {_PAYMENT_COLUMNS} FROM stars_payments WHERE telegram_payment_charge_id = $1 FOR UPDATE",
            charge_id,
        )
        if row is None:
            raise UnknownPayment(charge_id)
        payment = _payment(row)
        if payment.status == "refunded":
            account = await money.get_account(conn, payment.user_id)
            return RefundRecorded(payment=payment, refunded_now=False, balance=account.balance)
        posting = await money.debit(
            conn,
            payment.user_id,
            payment.kopecks,
            kind="stars_refund",
            key=stars_refund_key(charge_id),
            payment=charge_id,
        )
        updated = await conn.fetchrow(
            f"""
            UPDATE stars_payments SET status = 'refunded', refunded_at = now()
            WHERE telegram_payment_charge_id = $1
            RETURNING {_PAYMENT_COLUMNS}
            """,
            charge_id,
        )
        assert updated is not None
        return RefundRecorded(payment=_payment(updated), refunded_now=True, balance=posting.balance)


async def get_stars_payment(conn: Conn, charge_id: str) -> StarsPayment | None:
    row = await conn.fetchrow(
        f"SELECT {_PAYMENT_COLUMNS} FROM stars_payments WHERE telegram_payment_charge_id = $1", charge_id
    )
    return None if row is None else _payment(row)


async def user_payments(conn: Conn, user_id: int, limit: int = 20) -> list[StarsPayment]:
    rows = await conn.fetch(
        f"SELECT {_PAYMENT_COLUMNS} FROM stars_payments WHERE user_id = $1 ORDER BY paid_at DESC LIMIT $2",
        user_id,
        limit,
    )
    return [_payment(r) for r in rows]


# ---- manual top-ups -------------------------------------------------------------------------------


class ManualTopup(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    user_id: int
    amount_kopecks: int
    receipt_file_id: str | None
    status: str
    decided_by: int | None
    decided_at: datetime | None
    reason: str | None
    created_at: datetime


class Decision(msgspec.Struct, frozen=True, kw_only=True):
    """``decided_now`` is False when another admin decided first; ``topup`` shows their decision."""

    topup: ManualTopup
    decided_now: bool


class UnknownTopup(LookupError):
    def __init__(self, request_id: int) -> None:
        super().__init__(f"no manual top-up request {request_id}")
        self.request_id = request_id


class TooManyPending(Exception):
    """The user already has ``limit`` requests waiting for an admin (a spam guard)."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"already {limit} pending top-up requests")
        self.limit = limit


_TOPUP_COLUMNS = (
    "id, user_id, amount_kopecks, receipt_file_id, status, decided_by, decided_at, reason, created_at"
)


def _topup(row: Record) -> ManualTopup:
    return ManualTopup(**{k: row[k] for k in ManualTopup.__struct_fields__})


def manual_credit_key(request_id: int) -> str:
    return f"manual:{request_id}"


async def create_request(
    conn: Conn, user_id: int, amount_kopecks: int, receipt_file_id: str | None, *, max_pending: int = 3
) -> ManualTopup:
    """A top-up request awaiting an admin. Nothing is credited until :func:`decide` approves it.

    Raises:
        TooManyPending: the user already has ``max_pending`` requests waiting.
    """
    if amount_kopecks <= 0:
        raise ValueError("amount_kopecks must be positive")
    async with conn.transaction():
        # Serialise one user's requests so the pending count cannot be raced past.
        if await conn.fetchval("SELECT 1 FROM users WHERE user_id = $1 FOR NO KEY UPDATE", user_id) is None:
            raise UnknownUser(user_id)
        pending = await conn.fetchval(
            "SELECT count(*) FROM manual_topups WHERE user_id = $1 AND status = 'pending'", user_id
        )
        if pending >= max_pending:
            raise TooManyPending(max_pending)
        row = await conn.fetchrow(
            f"""
            INSERT INTO manual_topups (user_id, amount_kopecks, receipt_file_id) VALUES ($1, $2, $3)
            RETURNING {_TOPUP_COLUMNS}
            """,
            user_id,
            amount_kopecks,
            receipt_file_id,
        )
        assert row is not None
        return _topup(row)


async def decide(
    conn: Conn, request_id: int, admin_id: int, approve: bool, reason: str | None = None
) -> Decision:
    """Approve (crediting the amount) or reject a pending request. The first decision wins: a
    concurrent or later one changes nothing and gets the first one back (``decided_now=False``).

    Raises:
        UnknownTopup: no such request.
    """
    async with conn.transaction():
        row = await conn.fetchrow(
            f"""
            UPDATE manual_topups
            SET status = CASE WHEN $3 THEN 'approved' ELSE 'rejected' END,
                decided_by = $2, decided_at = now(), reason = $4
            WHERE id = $1 AND status = 'pending'
            RETURNING {_TOPUP_COLUMNS}
            """,
            request_id,
            admin_id,
            approve,
            reason,
        )
        if row is None:
            existing = await get_request(conn, request_id)
            if existing is None:
                raise UnknownTopup(request_id)
            return Decision(topup=existing, decided_now=False)
        topup = _topup(row)
        if approve:
            await money.credit(
                conn,
                topup.user_id,
                topup.amount_kopecks,
                kind="topup_manual",
                key=manual_credit_key(topup.id),
                payment=f"manual:{topup.id}",
                admin_id=admin_id,
                reason=reason,
            )
        return Decision(topup=topup, decided_now=True)


async def get_request(conn: Conn, request_id: int) -> ManualTopup | None:
    row = await conn.fetchrow(f"SELECT {_TOPUP_COLUMNS} FROM manual_topups WHERE id = $1", request_id)
    return None if row is None else _topup(row)


async def list_pending(conn: Conn, limit: int = 20) -> list[ManualTopup]:
    """Requests waiting for an admin, oldest first."""
    rows = await conn.fetch(
        f"SELECT {_TOPUP_COLUMNS} FROM manual_topups WHERE status = 'pending' ORDER BY created_at, id LIMIT $1",
        limit,
    )
    return [_topup(r) for r in rows]
