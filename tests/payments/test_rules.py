"""The money-in rules of ``kiebot.payments.rules`` on a real PostgreSQL, without the app: amounts, the
pre-checkout verdict for every case, crediting Stars once, recording refunds, manual requests and
decisions. The ledger invariant is checked after each database test (``books_db`` fixture)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import msgspec
import pytest
import trio

from kiebot.metrics import Metrics
from kiebot.payments import rules as pay
from kiebot.store import admin as store_admin
from kiebot.store import money, payments, users
from kiebot.store.db import Database
from kiebot.telegram.types import Message, PreCheckoutQuery, RefundedPayment, SuccessfulPayment, decode_update
from kiebot.telegram.types import User as TgUser

ANN = 6_000_001
BOB = 6_000_002
ADMIN = 6_000_009
NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)

# ---- amounts (pure) -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("stars", "rate", "kopecks"),
    [(1, 1.0, 100), (50, 1.0, 50_00), (10, 1.1, 11_00), (7, 1.6, 11_20), (3, 0.333, 99), (1, 0.001, 0), (10_000, 2.5, 25_000_00)],
)
def test_stars_to_kopecks_is_exact_and_rounds_down(stars: int, rate: float, kopecks: int) -> None:
    assert pay.stars_to_kopecks(stars, rate) == kopecks


@pytest.mark.parametrize(("text", "stars"), [("150", 150), ("1 000", 1000), ("1\u00a0234", 1234), ("150 ⭐", 150), ("10000", 10000), (" 1 ", 1)])
def test_parse_stars_accepts_plain_numbers(text: str, stars: int) -> None:
    assert pay.parse_stars(text) == stars


@pytest.mark.parametrize(
    ("text", "problem"),
    [("0", "too_small"), ("10001", "too_large"), ("abc", "not_a_number"), ("1.5", "not_a_number"), ("-5", "not_a_number"), ("", "not_a_number")],
)
def test_parse_stars_explains_what_is_wrong(text: str, problem: str) -> None:
    with pytest.raises(pay.AmountError) as refused:
        pay.parse_stars(text)
    assert refused.value.problem == problem


@pytest.mark.parametrize(
    ("text", "kopecks"),
    [("1500", 1500_00), ("1 500,5", 1500_50), ("1500.05", 1500_05), ("1500 ₽", 1500_00), ("1500р", 1500_00), ("100", 100_00), ("100000", 100_000_00)],
)
def test_parse_rubles(text: str, kopecks: int) -> None:
    assert pay.parse_rubles(text) == kopecks


@pytest.mark.parametrize(
    ("text", "problem"),
    [("99,99", "too_small"), ("100000,01", "too_large"), ("1,234", "not_a_number"), ("сто", "not_a_number"), ("1e5", "not_a_number")],
)
def test_parse_rubles_refusals(text: str, problem: str) -> None:
    with pytest.raises(pay.AmountError) as refused:
        pay.parse_rubles(text)
    assert refused.value.problem == problem


def _message(**fields: object) -> Message:
    body = {"message_id": 1, "date": 1, "chat": {"id": ANN, "type": "private"}, **fields}
    return msgspec.convert(body, Message)


def test_receipt_from_photo_pdf_and_image_document_only() -> None:
    photo = _message(photo=[{"file_id": "small", "width": 90, "height": 90}, {"file_id": "big", "width": 900, "height": 900}])
    assert pay.Receipt.from_message(photo) == pay.Receipt("photo", "big")
    pdf = _message(document={"file_id": "doc1", "mime_type": "application/pdf", "file_name": "r.pdf"})
    assert pay.Receipt.from_message(pdf) == pay.Receipt("document", "doc1")
    png = _message(document={"file_id": "doc2", "mime_type": "image/png"})
    assert pay.Receipt.from_message(png) == pay.Receipt("document", "doc2")
    assert pay.Receipt.from_message(_message(document={"file_id": "z", "mime_type": "application/zip"})) is None
    assert pay.Receipt.from_message(_message(text="paid!")) is None


def test_receipt_round_trip_and_bare_ids() -> None:
    for receipt in (pay.Receipt("photo", "AgACAbc-_9"), pay.Receipt("document", "BQACxyz")):
        assert pay.Receipt.decode(receipt.encode()) == receipt
    assert pay.Receipt.decode("AgACbare") == pay.Receipt("photo", "AgACbare")
    assert pay.Receipt.decode(None) is None


# ---- the database rules ---------------------------------------------------------------------------


async def _people(db: Database) -> None:
    async with db.connection() as conn:
        for user_id in (ANN, BOB, ADMIN):
            await users.touch_user(conn, user_id, first_name=f"u{user_id}")


def _query(user_id: int, payload: str, stars: int, currency: str = "XTR") -> PreCheckoutQuery:
    return PreCheckoutQuery(
        id="q1", from_=TgUser(id=user_id, first_name="x"), currency=currency, total_amount=stars, invoice_payload=payload
    )


async def _verdict(db: Database, query: PreCheckoutQuery, now: datetime = NOW) -> str:
    async with db.connection() as conn:
        payer = await users.get_user(conn, query.from_.id)
        return await pay.judge_precheckout(conn, query, now, payer)


async def test_precheckout_verdict_for_every_case(books_db: Database) -> None:
    with trio.fail_after(20):
        await _people(books_db)
        async with books_db.connection() as conn:
            order = await payments.create_order(conn, ANN, stars=50, kopecks=50_00, now=NOW, ttl_s=pay.ORDER_TTL_S)
        assert len(order.payload.encode()) <= 128
        assert await _verdict(books_db, _query(ANN, order.payload, 50)) == "ok"
        assert await _verdict(books_db, _query(ANN, "topup_nonexistent", 50)) == "unknown"
        assert await _verdict(books_db, _query(BOB, order.payload, 50)) == "wrong_user"
        assert await _verdict(books_db, _query(ANN, order.payload, 51)) == "amount_mismatch"
        assert await _verdict(books_db, _query(ANN, order.payload, 50, "USD")) == "currency"
        late = NOW + timedelta(seconds=pay.ORDER_TTL_S + 1)
        assert await _verdict(books_db, _query(ANN, order.payload, 50), late) == "expired"
        async with books_db.connection() as conn:
            await users.set_banned(conn, ANN, True)
        assert await _verdict(books_db, _query(ANN, order.payload, 50)) == "banned"
        async with books_db.connection() as conn:
            await users.set_banned(conn, ANN, False)
            await payments.record_stars_payment(conn, user_id=ANN, charge_id="ch1", payload=order.payload, stars=50, kopecks=50_00)
        assert await _verdict(books_db, _query(ANN, order.payload, 50)) == "already_paid"


def _paid(payload: str, stars: int, charge: str, currency: str = "XTR") -> SuccessfulPayment:
    return SuccessfulPayment(
        currency=currency, total_amount=stars, invoice_payload=payload, telegram_payment_charge_id=charge
    )


async def test_credit_uses_the_orders_value_once_per_charge(books_db: Database) -> None:
    with trio.fail_after(20):
        await _people(books_db)
        metrics = Metrics()
        async with books_db.connection() as conn:
            order = await payments.create_order(conn, ANN, stars=100, kopecks=150_00, now=NOW)
        # The rate changed since the invoice (1.5 → 1.0): the user gets what the invoice promised.
        first = await pay.credit_stars(books_db, metrics, user_id=ANN, paid=_paid(order.payload, 100, "ch-a"), rub_per_star=1.0)
        assert (first.credited, first.kopecks, first.balance) == (True, 150_00, 150_00)
        again = await pay.credit_stars(books_db, metrics, user_id=ANN, paid=_paid(order.payload, 100, "ch-a"), rub_per_star=1.0)
        assert (again.credited, again.kopecks, again.balance) == (False, 150_00, 150_00)
        # No matching order (Telegram's word that money arrived wins): the configured rate.
        orphan = await pay.credit_stars(books_db, metrics, user_id=ANN, paid=_paid("topup_gone", 10, "ch-b"), rub_per_star=2.0)
        assert (orphan.credited, orphan.kopecks, orphan.balance) == (True, 20_00, 170_00)
        with pytest.raises(money.IdempotencyConflict):
            await pay.credit_stars(books_db, metrics, user_id=BOB, paid=_paid(order.payload, 100, "ch-a"), rub_per_star=1.0)
        with pytest.raises(ValueError, match="not a Stars payment"):
            await pay.credit_stars(books_db, metrics, user_id=ANN, paid=_paid("p", 1, "ch-c", "USD"), rub_per_star=1.0)
        with pytest.raises(ValueError, match="zero kopecks"):
            await pay.credit_stars(books_db, metrics, user_id=ANN, paid=_paid("p", 1, "ch-d"), rub_per_star=0.0)
        assert metrics.registry.get_sample_value("kiebot_stars_payments_total") == 2
        assert metrics.registry.get_sample_value("kiebot_stars_received_total") == 110
        assert metrics.registry.get_sample_value("kiebot_topup_kopecks_total", {"method": "stars"}) == 170_00


def _refunded(charge: str, stars: int) -> RefundedPayment:
    return RefundedPayment(currency="XTR", total_amount=stars, invoice_payload="p", telegram_payment_charge_id=charge)


async def test_refund_outcomes(books_db: Database) -> None:
    with trio.fail_after(20):
        await _people(books_db)
        metrics = Metrics()
        async with books_db.connection() as conn:
            await payments.record_stars_payment(conn, user_id=ANN, charge_id="r1", payload="p1", stars=50, kopecks=50_00)
            await payments.record_stars_payment(conn, user_id=BOB, charge_id="r2", payload="p2", stars=40, kopecks=40_00)
            await money.hold(conn, BOB, 30_00, ref="job-1")
        unknown = await pay.record_refund(books_db, metrics, _refunded("nope", 5))
        assert (unknown.status, unknown.stars) == ("unknown", 5)
        recorded = await pay.record_refund(books_db, metrics, _refunded("r1", 50))
        assert (recorded.status, recorded.kopecks, recorded.balance) == ("recorded", 50_00, 0)
        already = await pay.record_refund(books_db, metrics, _refunded("r1", 50))
        assert (already.status, already.balance) == ("already", 0)
        short = await pay.record_refund(books_db, metrics, _refunded("r2", 40))
        assert (short.status, short.kopecks, short.available) == ("not_covered", 40_00, 10_00)
        async with books_db.connection() as conn:
            bob = await payments.get_stars_payment(conn, "r2")
            assert bob is not None
            assert bob.status == "paid"
            assert (await money.get_account(conn, BOB)).balance == 10_00
        assert metrics.registry.get_sample_value("kiebot_stars_refunds_total") == 1


async def test_manual_requests_wait_for_one_decision(books_db: Database) -> None:
    with trio.fail_after(20):
        await _people(books_db)
        metrics = Metrics()
        receipt = pay.Receipt("photo", "AgACreceipt")
        async with books_db.transaction() as conn:
            ids = [
                (await pay.create_topup_request(conn, metrics, user_id=ANN, kopecks=k, receipt=receipt)).id
                for k in (100_00, 200_00, 300_00)
            ]
        async with books_db.transaction() as conn:
            with pytest.raises(payments.TooManyPending):
                await pay.create_topup_request(conn, metrics, user_id=ANN, kopecks=100_00, receipt=receipt)
        async with books_db.transaction() as conn:
            with pytest.raises(pay.AmountError):
                await pay.create_topup_request(conn, metrics, user_id=BOB, kopecks=99_99, receipt=receipt)
        async with books_db.connection() as conn:
            stored = await payments.get_request(conn, ids[0])
            assert stored is not None
            assert pay.Receipt.decode(stored.receipt_file_id) == receipt
            assert (await money.get_account(conn, ANN)).balance == 0

        approved = await pay.decide_topup(books_db, metrics, request_id=ids[1], admin_id=ADMIN, approve=True, reason=None)
        late = await pay.decide_topup(books_db, metrics, request_id=ids[1], admin_id=BOB, approve=False, reason="late")
        assert approved.decided_now
        assert not late.decided_now
        assert (late.topup.status, late.topup.decided_by) == ("approved", ADMIN)
        rejected = await pay.decide_topup(
            books_db, metrics, request_id=ids[2], admin_id=ADMIN, approve=False, reason="  " + "x" * 900
        )
        assert rejected.topup.reason == "x" * pay.MAX_REASON_CHARS
        with pytest.raises(payments.UnknownTopup):
            await pay.decide_topup(books_db, metrics, request_id=10**9, admin_id=ADMIN, approve=True, reason=None)
        async with books_db.connection() as conn:
            assert (await money.get_account(conn, ANN)).balance == 200_00
            audit = await store_admin.recent_admin_actions(conn)
        assert sorted((a.action, a.target) for a in audit) == [
            ("topup_approve", f"topup:{ids[1]}"),
            ("topup_reject", f"topup:{ids[2]}"),
        ]
        sample = metrics.registry.get_sample_value
        assert sample("kiebot_manual_topups_total", {"outcome": "requested"}) == 3
        assert sample("kiebot_manual_topups_total", {"outcome": "too_many"}) == 1
        assert sample("kiebot_manual_topups_total", {"outcome": "approved"}) == 1
        assert sample("kiebot_manual_topups_total", {"outcome": "rejected"}) == 1
        assert sample("kiebot_topup_kopecks_total", {"method": "manual"}) == 200_00


async def test_concurrent_decisions_credit_once(books_db: Database) -> None:
    with trio.fail_after(20):
        await _people(books_db)
        metrics = Metrics()
        async with books_db.transaction() as conn:
            topup = await pay.create_topup_request(
                conn, metrics, user_id=ANN, kopecks=500_00, receipt=pay.Receipt("photo", "f")
            )
        outcomes: list[bool] = []

        async def decide(admin_id: int, approve: bool) -> None:
            decision = await pay.decide_topup(
                books_db, metrics, request_id=topup.id, admin_id=admin_id, approve=approve, reason="r"
            )
            outcomes.append(decision.decided_now)

        async with trio.open_nursery() as nursery:
            for i in range(8):
                nursery.start_soon(decide, ADMIN if i % 2 else BOB, i % 3 != 0)
        assert sorted(outcomes) == [False] * 7 + [True]
        async with books_db.connection() as conn:
            final = await payments.get_request(conn, topup.id)
            assert final is not None
            credited = 500_00 if final.status == "approved" else 0
            assert (await money.get_account(conn, ANN)).balance == credited
            assert len(await store_admin.recent_admin_actions(conn)) == 1


async def test_admin_copies_are_remembered_until_forgotten(books_db: Database) -> None:
    with trio.fail_after(20):
        async with books_db.connection() as conn:
            assert await pay.admin_copies(conn, 7) == []
            await pay.remember_admin_copy(conn, 7, ADMIN, 11)
            await pay.remember_admin_copy(conn, 7, BOB, 12)
            await pay.remember_admin_copy(conn, 7, ADMIN, 14)  # a second copy from the panel
            await pay.remember_admin_copy(conn, 7, ADMIN, 14)  # remembered once
            await pay.remember_admin_copy(conn, 8, ADMIN, 13)
            assert await pay.admin_copies(conn, 7) == [(ADMIN, 11), (BOB, 12), (ADMIN, 14)]
            await pay.forget_admin_copies(conn, 7)
            assert await pay.admin_copies(conn, 7) == []
            assert await pay.admin_copies(conn, 8) == [(ADMIN, 13)]


def test_updates_with_payments_decode() -> None:
    """The hooks read these fields; a real update shape decodes into them."""
    raw = (
        b'{"update_id":1,"message":{"message_id":5,"date":1,"chat":{"id":1,"type":"private"},'
        b'"from":{"id":1,"is_bot":false,"first_name":"A"},"refunded_payment":{"currency":"XTR",'
        b'"total_amount":50,"invoice_payload":"p","telegram_payment_charge_id":"c"}}}'
    )
    update = decode_update(raw)
    assert update.message is not None
    assert update.message.refunded_payment == _refunded("c", 50)
