"""Payments: Stars credited once per charge (also when duplicates race), refunds debited once and
refused without funds, orders validated and expired, manual top-ups decided once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import trio

from kiebot.store import money, payments, users
from kiebot.store.db import Conn, Database

T0 = datetime(2026, 4, 2, 10, 0, tzinfo=UTC)


@pytest.fixture
async def db(store_db: Database) -> Database:
    async with store_db.connection() as conn:
        for user_id in (1, 2):
            await users.touch_user(conn, user_id, first_name=f"u{user_id}")
    return store_db


async def _ledger(conn: Conn) -> list[tuple[str, int, str]]:
    rows = await conn.fetch("SELECT kind, amount, idempotency_key FROM ledger ORDER BY id")
    return [(r["kind"], r["amount"], r["idempotency_key"]) for r in rows]


async def _order_status(conn: Conn, payload: str) -> str:
    order = await payments.get_order(conn, payload)
    assert order is not None
    return order.status


async def test_order_validation_for_pre_checkout(db: Database) -> None:
    with trio.fail_after(10):
        async with db.connection() as conn:
            order = await payments.create_order(conn, 1, stars=100, kopecks=10_000, now=T0, ttl_s=600)
            assert 1 <= len(order.payload.encode()) <= 128
            assert order.status == "open"
            assert await payments.check_order(conn, order.payload, user_id=1, stars=100, now=T0) == order
            cases = [
                ("nope", 1, 100, T0, "unknown"),
                (order.payload, 2, 100, T0, "wrong_user"),
                (order.payload, 1, 99, T0, "amount_mismatch"),
                (order.payload, 1, 100, T0 + timedelta(seconds=600), "expired"),
            ]
            for payload, user_id, stars, now, problem in cases:
                with pytest.raises(payments.OrderRefused) as info:
                    await payments.check_order(conn, payload, user_id=user_id, stars=stars, now=now)
                assert info.value.problem == problem


async def test_orders_expire(db: Database) -> None:
    with trio.fail_after(10):
        async with db.connection() as conn:
            old = await payments.create_order(conn, 1, stars=50, kopecks=5000, now=T0, ttl_s=600)
            fresh = await payments.create_order(
                conn, 1, stars=50, kopecks=5000, now=T0 + timedelta(minutes=9)
            )
            assert await payments.expire_orders(conn, T0 + timedelta(minutes=10)) == 1
            assert await payments.expire_orders(conn, T0 + timedelta(minutes=10)) == 0
            assert await _order_status(conn, old.payload) == "expired"
            assert await _order_status(conn, fresh.payload) == "open"
            with pytest.raises(payments.OrderRefused) as info:
                await payments.check_order(conn, old.payload, user_id=1, stars=50, now=T0)
            assert info.value.problem == "expired"


async def test_duplicate_successful_payment_credits_once(db: Database) -> None:
    with trio.fail_after(10):
        async with db.connection() as conn:
            order = await payments.create_order(conn, 1, stars=100, kopecks=10_000, now=T0)
            first = await payments.record_stars_payment(
                conn, user_id=1, charge_id="ch_1", payload=order.payload, stars=100, kopecks=10_000
            )
            again = await payments.record_stars_payment(
                conn, user_id=1, charge_id="ch_1", payload=order.payload, stars=100, kopecks=10_000
            )
            assert (first.credited, first.balance) == (True, 10_000)
            assert (again.credited, again.balance) == (False, 10_000)
            assert again.payment == first.payment
            assert await _ledger(conn) == [("topup_stars", 10_000, "stars:ch_1")]
            assert await _order_status(conn, order.payload) == "paid"
            with pytest.raises(payments.OrderRefused) as info:
                await payments.check_order(conn, order.payload, user_id=1, stars=100, now=T0)
            assert info.value.problem == "already_paid"
            with pytest.raises(money.IdempotencyConflict):
                await payments.record_stars_payment(
                    conn, user_id=2, charge_id="ch_1", payload=order.payload, stars=100, kopecks=10_000
                )


async def test_concurrent_duplicate_payments_credit_once(db: Database) -> None:
    results: list[payments.PaymentRecorded] = []

    async def deliver() -> None:
        async with db.connection() as c:
            results.append(
                await payments.record_stars_payment(
                    c, user_id=1, charge_id="ch_race", payload="p", stars=250, kopecks=25_000
                )
            )

    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            for _ in range(8):
                nursery.start_soon(deliver)
        assert sorted(r.credited for r in results) == [False] * 7 + [True]
        async with db.connection() as conn:
            assert (await money.get_account(conn, 1)).balance == 25_000
            assert await _ledger(conn) == [("topup_stars", 25_000, "stars:ch_race")]


async def test_refund_debits_once_and_only_when_covered(db: Database) -> None:
    with trio.fail_after(10):
        async with db.connection() as conn:
            await payments.record_stars_payment(
                conn, user_id=1, charge_id="a", payload="p", stars=50, kopecks=5000
            )
            await payments.record_stars_payment(
                conn, user_id=1, charge_id="b", payload="p", stars=30, kopecks=3000
            )
            refund = await payments.mark_refunded(conn, "a")
            assert (refund.refunded_now, refund.balance, refund.payment.status) == (True, 3000, "refunded")
            assert refund.payment.refunded_at is not None
            again = await payments.mark_refunded(conn, "a")
            assert (again.refunded_now, again.balance) == (False, 3000)

            # Spend most of "b" on a generation: its refund is no longer covered and writes nothing.
            await money.hold(conn, 1, 2500, ref="job-7")
            before = await _ledger(conn)
            with pytest.raises(money.InsufficientFunds) as info:
                await payments.mark_refunded(conn, "b")
            assert (info.value.needed, info.value.available) == (3000, 500)
            assert await _ledger(conn) == before
            still_paid = await payments.get_stars_payment(conn, "b")
            assert still_paid is not None
            assert still_paid.status == "paid"
            with pytest.raises(payments.UnknownPayment):
                await payments.mark_refunded(conn, "zzz")
            assert [p.telegram_payment_charge_id for p in await payments.user_payments(conn, 1)] in (
                ["b", "a"],
                ["a", "b"],
            )
            assert await money.check_invariants(conn) == []


async def test_concurrent_refunds_debit_once(db: Database) -> None:
    outcomes: list[bool] = []

    async def refund() -> None:
        async with db.connection() as c:
            outcomes.append((await payments.mark_refunded(c, "r")).refunded_now)

    with trio.fail_after(10):
        async with db.connection() as conn:
            await payments.record_stars_payment(
                conn, user_id=1, charge_id="r", payload="p", stars=10, kopecks=1000
            )
            await money.credit(conn, 1, 5000, kind="welcome", key="welcome:1")
        async with trio.open_nursery() as nursery:
            for _ in range(5):
                nursery.start_soon(refund)
        assert sorted(outcomes) == [False] * 4 + [True]
        async with db.connection() as conn:
            assert (await money.get_account(conn, 1)).balance == 5000


async def test_manual_topup_approve_and_reject(db: Database) -> None:
    with trio.fail_after(10):
        async with db.connection() as conn:
            a = await payments.create_request(conn, 1, 50_000, "receipt-file-1")
            b = await payments.create_request(conn, 1, 20_000, None)
            assert a.status == "pending"
            assert (await money.get_account(conn, 1)).balance == 0  # nothing before an admin decides
            assert [t.id for t in await payments.list_pending(conn)] == [a.id, b.id]

            approved = await payments.decide(conn, a.id, admin_id=900, approve=True, reason="receipt ok")
            assert approved.decided_now
            assert (approved.topup.status, approved.topup.decided_by) == ("approved", 900)
            rejected = await payments.decide(conn, b.id, admin_id=901, approve=False, reason="no receipt")
            assert (rejected.topup.status, rejected.topup.reason) == ("rejected", "no receipt")
            late = await payments.decide(conn, a.id, admin_id=901, approve=False)
            assert not late.decided_now
            assert (late.topup.status, late.topup.decided_by) == ("approved", 900)

            assert (await money.get_account(conn, 1)).balance == 50_000
            [entry] = await money.recent_ledger(conn, 1)
            assert (entry.kind, entry.admin_id, entry.idempotency_key) == (
                "topup_manual",
                900,
                f"manual:{a.id}",
            )
            assert await payments.list_pending(conn) == []
            with pytest.raises(payments.UnknownTopup):
                await payments.decide(conn, 12345, admin_id=900, approve=True)


async def test_two_admins_deciding_at_once_make_one_decision(db: Database) -> None:
    decisions: list[payments.Decision] = []
    with trio.fail_after(10):
        async with db.connection() as conn:
            request = await payments.create_request(conn, 2, 30_000, "receipt")

        async def admin(admin_id: int, approve: bool) -> None:
            async with db.connection() as c:
                decisions.append(await payments.decide(c, request.id, admin_id, approve))

        async with trio.open_nursery() as nursery:
            for admin_id, approve in ((900, True), (901, True), (902, False), (903, True)):
                nursery.start_soon(admin, admin_id, approve)
        winners = [d for d in decisions if d.decided_now]
        assert len(winners) == 1
        assert {(d.topup.status, d.topup.decided_by) for d in decisions} == {
            (winners[0].topup.status, winners[0].topup.decided_by)
        }
        async with db.connection() as conn:
            expected = 30_000 if winners[0].topup.status == "approved" else 0
            assert (await money.get_account(conn, 2)).balance == expected
            assert int(await conn.fetchval("SELECT count(*) FROM ledger")) == (1 if expected else 0)

        # All approving at once: still one credit.
        async with db.connection() as conn:
            request = await payments.create_request(conn, 1, 7_000, "receipt")
        decisions.clear()
        async with trio.open_nursery() as nursery:
            for admin_id in (900, 901, 902, 903, 904):
                nursery.start_soon(admin, admin_id, True)
        assert sum(d.decided_now for d in decisions) == 1
        async with db.connection() as conn:
            assert (await money.get_account(conn, 1)).balance == 7_000
            assert int(await conn.fetchval("SELECT count(*) FROM ledger WHERE user_id = 1")) == 1


async def test_pending_requests_are_limited(db: Database) -> None:
    with trio.fail_after(10):
        async with db.connection() as conn:
            for _ in range(3):
                await payments.create_request(conn, 1, 100, None)
            with pytest.raises(payments.TooManyPending):
                await payments.create_request(conn, 1, 100, None)
            with pytest.raises(users.UnknownUser):
                await payments.create_request(conn, 404, 100, None)
            with pytest.raises(users.UnknownUser):
                await payments.record_stars_payment(
                    conn, user_id=404, charge_id="x", payload="p", stars=1, kopecks=100
                )
            assert await payments.get_stars_payment(conn, "x") is None
