"""Bot API methods of Telegram Stars payments: sendInvoice, createInvoiceLink,
answerPreCheckoutQuery, refundStarPayment, getStarTransactions, getMyStarBalance.

Stars rules (https://core.telegram.org/bots/api#sendinvoice,
https://core.telegram.org/bots/payments-stars): currency ``XTR``; ``provider_token`` empty or
absent; exactly one ``LabeledPrice``; no tips; title 1–32 and description 1–255 characters;
payload 1–128 bytes; a subscription period, if any, is 30 days. The fake has no payment providers,
so any other currency is refused. Error names are Telegram's (``STARS_INVOICE_INVALID``,
``CHARGE_ALREADY_REFUNDED``, ...) as the server passes them through.
"""

from __future__ import annotations

from typing import Any

from kiebot.testing.telegram.methods.messages import reply_target, sent
from kiebot.testing.telegram.model.stars import Invoice
from kiebot.testing.telegram.model.state import State
from kiebot.testing.telegram.model.world import now
from kiebot.testing.telegram.rules import errors as E
from kiebot.testing.telegram.rules.errors import BotApiError, bad_request
from kiebot.testing.telegram.rules.params import Params, missing
from kiebot.testing.telegram.rules.validate import reply_markup, writable_chat

SUBSCRIPTION_PERIOD = 2592000


def stars_invoice(params: Params) -> Invoice:
    title = params.text("title", required=True) or ""
    description = params.text("description", required=True) or ""
    payload = params.text("payload", required=True) or ""
    currency = params.text("currency", required=True) or ""
    if not 1 <= len(title) <= 32:
        raise bad_request(E.INVOICE_TITLE_INVALID)
    if not 1 <= len(description) <= 255:
        raise bad_request(E.INVOICE_DESCRIPTION_INVALID)
    if not 1 <= len(payload.encode("utf-8")) <= 128:
        raise bad_request(E.INVOICE_PAYLOAD_INVALID)
    if currency != "XTR" or params.text("provider_token"):
        raise bad_request(E.PAYMENT_PROVIDER_INVALID)
    prices = params.json("prices")
    if prices is None:
        raise missing("prices")
    if not isinstance(prices, list) or not all(isinstance(p, dict) for p in prices):
        raise bad_request("can't parse prices JSON object")
    if len(prices) != 1:
        raise bad_request(E.STARS_INVOICE_INVALID)
    amount, label = prices[0].get("amount"), prices[0].get("label")
    if not isinstance(label, str) or not isinstance(amount, int) or isinstance(amount, bool):
        raise bad_request("can't parse prices JSON object")
    if amount <= 0:
        raise bad_request(E.CURRENCY_TOTAL_AMOUNT_INVALID)
    if (params.integer("max_tip_amount") or 0) > 0 or params.json("suggested_tip_amounts"):
        raise bad_request(E.STARS_INVOICE_INVALID)
    period = params.integer("subscription_period")
    if period is not None and period != SUBSCRIPTION_PERIOD:
        raise bad_request("SUBSCRIPTION_PERIOD_INVALID")
    return Invoice(
        title=title,
        description=description,
        payload=payload,
        currency=currency,
        amount=amount,
        start_parameter=params.text("start_parameter") or "",
        subscription_period=period,
    )


async def send_invoice(state: State, params: Params) -> dict[str, Any]:
    chat_id = params.chat_id()
    invoice = stars_invoice(params)
    markup = reply_markup(
        params.json("reply_markup", "reply keyboard markup"), inline_only=True, allow_pay=True
    )
    chat = writable_chat(state.world, chat_id)
    message = state.world.new_bot_message(
        chat.id,
        kind="invoice",
        invoice=invoice.to_api(),
        reply_markup=markup,
        reply_to_message_id=reply_target(state, chat, params),
    )
    invoice.chat_id, invoice.message_id = chat.id, message.message_id
    state.stars.by_message[(chat.id, message.message_id)] = invoice
    return sent(state, message)


async def create_invoice_link(state: State, params: Params) -> str:
    invoice = stars_invoice(params)
    link = state.stars.new_link(invoice)
    state.publish("invoice_link_created", link=link, amount=invoice.amount, payload=invoice.payload)
    return link


async def answer_pre_checkout_query(state: State, params: Params) -> bool:
    query_id = params.text("pre_checkout_query_id", required=True) or ""
    if not params.has("ok"):
        raise missing("ok")
    ok = params.flag("ok")
    error_message = params.text("error_message")
    if not ok and not error_message:
        raise bad_request(E.ERROR_MESSAGE_EMPTY)
    query = state.stars.precheckouts.get(query_id)
    if query is None or query.answered.is_set() or query.expired:
        raise bad_request(E.QUERY_TOO_OLD)
    query.ok, query.error_message = ok, None if ok else error_message
    query.answered.set()
    state.publish(
        "pre_checkout_answered", pre_checkout_query_id=query_id, ok=ok, error_message=query.error_message
    )
    return True


async def refund_star_payment(state: State, params: Params) -> bool:
    try:
        user_id = params.integer("user_id")
    except BotApiError:
        user_id = None
    if user_id is None or user_id <= 0:
        raise bad_request(E.INVALID_USER_ID)
    charge_id = params.text("telegram_payment_charge_id") or ""
    if not charge_id:
        raise bad_request(E.CHARGE_ID_EMPTY)
    payment = state.stars.by_charge.get(charge_id)
    if payment is None or payment.user_id != user_id:
        raise bad_request(E.CHARGE_NOT_FOUND)
    if payment.status == "refunded":
        raise bad_request(E.CHARGE_ALREADY_REFUNDED)
    payment.status, payment.refund_date = "refunded", now()
    user = state.world.users[user_id]
    refunded = {
        "currency": payment.currency,
        "total_amount": payment.amount,
        "invoice_payload": payment.payload,
        "telegram_payment_charge_id": charge_id,
        "provider_payment_charge_id": "",
    }
    chat = payment.message.chat_id
    message = state.world.new_message(
        chat, from_bot=False, sender_id=user_id, kind="refunded_payment", payment=refunded
    )
    payment.refund_message = message
    state.stars.record_refund(payment, user.to_api())
    state.publish("message_received", chat_id=chat, message=state.serialize_message(message))
    state.publish(
        "payment_refunded", telegram_payment_charge_id=charge_id, user_id=user_id, amount=payment.amount
    )
    state.emit("message", state.message_to_api(message))
    return True


async def get_star_transactions(state: State, params: Params) -> dict[str, Any]:
    offset = max(params.integer("offset") or 0, 0)
    limit = params.integer("limit")
    if limit is None or not 1 <= limit <= 100:
        limit = 100
    return {"transactions": state.stars.transactions[offset : offset + limit]}


async def get_my_star_balance(state: State, params: Params) -> dict[str, Any]:
    balance = sum(p.amount for p in state.stars.payments if p.status == "paid")
    return {"amount": balance}


HANDLERS = {
    "sendInvoice": send_invoice,
    "createInvoiceLink": create_invoice_link,
    "answerPreCheckoutQuery": answer_pre_checkout_query,
    "refundStarPayment": refund_star_payment,
    "getStarTransactions": get_star_transactions,
    "getMyStarBalance": get_my_star_balance,
}
