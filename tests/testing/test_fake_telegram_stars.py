"""Telegram Stars end to end through the fake: invoice rules, pre-checkout answered in time, late
or declined, successful_payment, refunds (twice, unknown), transactions, duplicate delivery.
A small polling "bot" written with plain httpx plays the bot's side."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import trio

from kiebot.testing.telegram.server import FakeTelegram, SimError
from tests.support.cashier import cashier

USER = 5001
INVOICE = {
    "title": "100 ⭐ top-up",
    "description": "Balance top-up: 100 ₽",
    "payload": "topup:42",
    "currency": "XTR",
    "prices": [{"label": "Top-up", "amount": 100}],
}


@pytest.fixture
async def fake(nursery: trio.Nursery) -> FakeTelegram:
    server = FakeTelegram(precheckout_timeout=0.5)
    await nursery.start(server.serve)
    server.add_user(USER, "Dasha")
    return server


async def call(client: httpx.AsyncClient, fake: FakeTelegram, method: str, **params: Any) -> tuple[int, dict[str, Any]]:
    return await fake.call_raw(client, method, **params)


async def send_invoice(
    client: httpx.AsyncClient, fake: FakeTelegram, **overrides: Any
) -> tuple[int, dict[str, Any]]:
    return await call(client, fake, "sendInvoice", chat_id=USER, **(INVOICE | overrides))


@pytest.mark.parametrize(
    ("overrides", "description"),
    [
        ({"currency": "USD"}, "Bad Request: PAYMENT_PROVIDER_INVALID"),
        ({"provider_token": "284685063:TEST:abc"}, "Bad Request: PAYMENT_PROVIDER_INVALID"),
        (
            {"prices": [{"label": "a", "amount": 50}, {"label": "b", "amount": 50}]},
            "Bad Request: STARS_INVOICE_INVALID",
        ),
        ({"prices": [{"label": "a", "amount": 0}]}, "Bad Request: CURRENCY_TOTAL_AMOUNT_INVALID"),
        ({"payload": "x" * 129}, "Bad Request: INVOICE_PAYLOAD_INVALID"),
        ({"payload": ""}, "Bad Request: INVOICE_PAYLOAD_INVALID"),
        ({"title": "t" * 33}, "Bad Request: TITLE_INVALID"),
        ({"description": "d" * 256}, "Bad Request: DESCRIPTION_INVALID"),
        ({"max_tip_amount": 10}, "Bad Request: STARS_INVOICE_INVALID"),
        ({"prices": "not json"}, "Bad Request: can't parse prices JSON object"),
    ],
)
async def test_stars_invoices_follow_telegrams_rules(
    fake: FakeTelegram, client: httpx.AsyncClient, overrides: dict[str, Any], description: str
) -> None:
    with trio.fail_after(5):
        status, body = await send_invoice(client, fake, **overrides)
    assert (status, body["description"]) == (400, description)
    assert fake.transcript(USER) == []


async def test_a_paid_invoice_yields_one_successful_payment(
    fake: FakeTelegram, client: httpx.AsyncClient
) -> None:
    with trio.fail_after(10):
        status, sent = await send_invoice(client, fake, provider_token="")
        message_id = sent["result"]["message_id"]
        async with cashier(client, fake) as seen:
            result = await fake.pay_invoice(USER, message_id)
            await fake.wait_for(lambda: len(seen) == 2)
        _, transactions = await call(client, fake, "getStarTransactions")
        _, balance = await call(client, fake, "getMyStarBalance")
    assert status == 200
    assert sent["result"]["invoice"] == {
        "title": "100 ⭐ top-up",
        "description": "Balance top-up: 100 ₽",
        "start_parameter": "",
        "currency": "XTR",
        "total_amount": 100,
    }
    assert result.status == "paid"
    query, paid = seen[0]["pre_checkout_query"], seen[1]["message"]["successful_payment"]
    assert (query["currency"], query["total_amount"], query["invoice_payload"], query["from"]["id"]) == (
        "XTR",
        100,
        "topup:42",
        USER,
    )
    assert paid == {
        "currency": "XTR",
        "total_amount": 100,
        "invoice_payload": "topup:42",
        "telegram_payment_charge_id": result.telegram_payment_charge_id,
        "provider_payment_charge_id": "",
    }
    [payment] = fake.payments
    assert (payment.user_id, payment.amount, payment.status) == (USER, 100, "paid")
    [transaction] = transactions["result"]["transactions"]
    assert transaction["id"] == result.telegram_payment_charge_id
    assert transaction["amount"] == 100
    assert transaction["source"]["type"] == "user"
    assert transaction["source"]["transaction_type"] == "invoice_payment"
    assert transaction["source"]["invoice_payload"] == "topup:42"
    assert balance["result"] == {"amount": 100}
    with pytest.raises(SimError, match="already paid"):
        await fake.pay_invoice(USER, message_id)


async def test_a_declined_payment_records_the_bots_reason(
    fake: FakeTelegram, client: httpx.AsyncClient
) -> None:
    with trio.fail_after(10):
        _, sent = await send_invoice(client, fake)
        async with cashier(client, fake, {"ok": False, "error_message": "Этот счёт устарел"}) as seen:
            result = await fake.pay_invoice(USER, sent["result"]["message_id"])
        no_reason = await call(client, fake, "answerPreCheckoutQuery", pre_checkout_query_id="1", ok=False)
    assert (result.status, result.error_message, result.telegram_payment_charge_id) == (
        "declined",
        "Этот счёт устарел",
        None,
    )
    assert fake.payments == []
    assert [list(u)[1] for u in seen] == ["pre_checkout_query"]
    assert no_reason[1]["description"] == "Bad Request: ERROR_MESSAGE_EMPTY"


async def test_an_unanswered_pre_checkout_times_out_and_late_answers_fail(
    fake: FakeTelegram, client: httpx.AsyncClient
) -> None:
    with trio.fail_after(10):
        _, sent = await send_invoice(client, fake)
        started = trio.current_time()
        result = await fake.pay_invoice(USER, sent["result"]["message_id"])
        waited = trio.current_time() - started
        late = await call(
            client,
            fake,
            "answerPreCheckoutQuery",
            pre_checkout_query_id=result.pre_checkout_query_id,
            ok=True,
        )
    assert result.status == "timeout"
    assert 0.45 < waited < 2
    assert late == (
        400,
        {
            "ok": False,
            "error_code": 400,
            "description": "Bad Request: query is too old and response timeout expired or query ID is invalid",
        },
    )
    assert fake.payments == []
    assert [a.status for a in fake.payment_attempts] == ["timeout"]


async def test_a_bot_that_filters_out_pre_checkout_queries_never_gets_paid(
    fake: FakeTelegram, client: httpx.AsyncClient
) -> None:
    with trio.fail_after(10):
        await call(client, fake, "getUpdates", allowed_updates=["message", "callback_query"])
        _, sent = await send_invoice(client, fake)
        result = await fake.pay_invoice(USER, sent["result"]["message_id"])
        _, updates = await call(client, fake, "getUpdates")
    assert result.status == "timeout"
    assert updates["result"] == []


async def test_refunds_once_then_already_refunded(fake: FakeTelegram, client: httpx.AsyncClient) -> None:
    with trio.fail_after(10):
        _, sent = await send_invoice(client, fake)
        async with cashier(client, fake) as seen:
            result = await fake.pay_invoice(USER, sent["result"]["message_id"])
            charge = result.telegram_payment_charge_id
            first = await call(
                client, fake, "refundStarPayment", user_id=USER, telegram_payment_charge_id=charge
            )
            await fake.wait_for(lambda: any("refunded_payment" in u.get("message", {}) for u in seen))
        second = await call(
            client, fake, "refundStarPayment", user_id=USER, telegram_payment_charge_id=charge
        )
        unknown = await call(
            client, fake, "refundStarPayment", user_id=USER, telegram_payment_charge_id="stxNOPE"
        )
        other_user = await call(
            client, fake, "refundStarPayment", user_id=USER + 1, telegram_payment_charge_id=charge
        )
        no_user = await call(client, fake, "refundStarPayment", telegram_payment_charge_id=charge)
        _, transactions = await call(client, fake, "getStarTransactions", offset=0, limit=10)
        _, balance = await call(client, fake, "getMyStarBalance")
    assert first == (200, {"ok": True, "result": True})
    assert second[1]["description"] == "Bad Request: CHARGE_ALREADY_REFUNDED"
    assert unknown[1]["description"] == "Bad Request: CHARGE_NOT_FOUND"
    assert other_user[1]["description"] == "Bad Request: CHARGE_NOT_FOUND"
    assert no_user[1]["description"] == "Bad Request: invalid user_id specified"
    refunded = next(
        u["message"]["refunded_payment"] for u in seen if "refunded_payment" in u.get("message", {})
    )
    assert refunded["telegram_payment_charge_id"] == charge
    assert refunded["total_amount"] == 100
    incoming, outgoing = transactions["result"]["transactions"]
    assert incoming["id"] == outgoing["id"] == charge
    assert "source" in incoming
    assert outgoing["receiver"]["user"]["id"] == USER
    assert fake.payments[0].status == "refunded"
    assert balance["result"] == {"amount": 0}


async def test_a_successful_payment_can_be_delivered_twice(
    fake: FakeTelegram, client: httpx.AsyncClient
) -> None:
    with trio.fail_after(10):
        _, sent = await send_invoice(client, fake)
        async with cashier(client, fake) as seen:
            result = await fake.pay_invoice(USER, sent["result"]["message_id"])
            assert result.telegram_payment_charge_id is not None
            fake.redeliver_payment(result.telegram_payment_charge_id)
            await fake.wait_for(lambda: len(seen) == 3)
    payments = [u for u in seen if "message" in u]
    assert len(payments) == 2
    assert payments[0]["update_id"] != payments[1]["update_id"]
    assert payments[0]["message"] == payments[1]["message"]
    assert len(fake.payments) == 1


async def test_invoice_links_can_be_paid(fake: FakeTelegram, client: httpx.AsyncClient) -> None:
    with trio.fail_after(10):
        status, link = await call(client, fake, "createInvoiceLink", **INVOICE)
        async with cashier(client, fake):
            result = await fake.pay_invoice_link(USER, link["result"])
    assert status == 200
    assert link["result"].startswith("https://t.me/$")
    assert result.status == "paid"
    assert fake.payments[0].payload == "topup:42"
