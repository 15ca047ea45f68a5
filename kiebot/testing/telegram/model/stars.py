"""Telegram Stars bookkeeping of the fake: invoices, pre-checkout queries, charges, refunds.

Plain data; the flows live in ``fake_telegram_methods_payments`` (the bot's side) and
``fake_telegram_users`` (the user paying). Rules from https://core.telegram.org/bots/payments-stars
and https://core.telegram.org/bots/api#payments: the bot must answer a ``pre_checkout_query``
within 10 seconds; a successful payment carries a unique ``telegram_payment_charge_id``;
``refundStarPayment`` refunds a charge once; ``getStarTransactions`` lists incoming payments and
refunds (``StarTransaction``, a refund has the id of the charge it returns).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any, Literal

import trio

from kiebot.testing.telegram.model.world import SimMessage


@dataclass(eq=False)
class Invoice:
    title: str
    description: str
    payload: str
    currency: str
    amount: int
    start_parameter: str = ""
    chat_id: int | None = None
    message_id: int | None = None
    link: str | None = None
    subscription_period: int | None = None

    def to_api(self) -> dict[str, Any]:
        """The ``Invoice`` object of an invoice message."""
        return {
            "title": self.title,
            "description": self.description,
            "start_parameter": self.start_parameter,
            "currency": self.currency,
            "total_amount": self.amount,
        }


@dataclass(eq=False)
class PreCheckout:
    id: str
    user_id: int
    invoice: Invoice
    deadline: float
    answered: trio.Event = field(default_factory=trio.Event)
    ok: bool | None = None
    error_message: str | None = None
    expired: bool = False


@dataclass(eq=False)
class Payment:
    """One successful Stars payment (a "charge")."""

    telegram_payment_charge_id: str
    user_id: int
    amount: int
    currency: str
    payload: str
    date: int
    invoice: Invoice
    message: SimMessage
    update: dict[str, Any] | None
    status: Literal["paid", "refunded"] = "paid"
    refund_date: int | None = None
    refund_message: SimMessage | None = None


@dataclass(eq=False)
class PaymentResult:
    """What happened when a user tried to pay: ``paid``, ``declined`` (the bot answered ok=False,
    ``error_message`` is what the user saw) or ``timeout`` (no answer in time)."""

    status: Literal["paid", "declined", "timeout"]
    pre_checkout_query_id: str
    user_id: int
    amount: int
    payload: str
    telegram_payment_charge_id: str | None = None
    error_message: str | None = None
    message: SimMessage | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "pre_checkout_query_id": self.pre_checkout_query_id,
            "user_id": self.user_id,
            "amount": self.amount,
            "payload": self.payload,
            "telegram_payment_charge_id": self.telegram_payment_charge_id,
            "error_message": self.error_message,
            "message_id": self.message.message_id if self.message else None,
        }


class StarsBook:
    def __init__(self) -> None:
        self.links: dict[str, Invoice] = {}
        self.by_message: dict[tuple[int, int], Invoice] = {}
        self.precheckouts: dict[str, PreCheckout] = {}
        self.payments: list[Payment] = []
        self.by_charge: dict[str, Payment] = {}
        self.attempts: list[PaymentResult] = []
        self.transactions: list[dict[str, Any]] = []

    @staticmethod
    def new_query_id() -> str:
        return str(secrets.randbelow(9 * 10**18) + 10**18)

    @staticmethod
    def new_charge_id() -> str:
        return "stxF" + secrets.token_urlsafe(48)

    def new_link(self, invoice: Invoice) -> str:
        slug = secrets.token_urlsafe(12)
        invoice.link = "https://t.me/$" + slug
        self.links[invoice.link] = invoice
        return invoice.link

    def record(self, payment: Payment, user: dict[str, Any]) -> None:
        self.payments.append(payment)
        self.by_charge[payment.telegram_payment_charge_id] = payment
        self.transactions.append(
            {
                "id": payment.telegram_payment_charge_id,
                "amount": payment.amount,
                "date": payment.date,
                "source": self._partner(payment, user),
            }
        )

    def record_refund(self, payment: Payment, user: dict[str, Any]) -> None:
        self.transactions.append(
            {
                "id": payment.telegram_payment_charge_id,
                "amount": payment.amount,
                "date": payment.refund_date,
                "receiver": self._partner(payment, user),
            }
        )

    @staticmethod
    def _partner(payment: Payment, user: dict[str, Any]) -> dict[str, Any]:
        """``TransactionPartnerUser`` for an invoice payment."""
        return {
            "type": "user",
            "transaction_type": "invoice_payment",
            "user": user,
            "invoice_payload": payment.payload,
        }
