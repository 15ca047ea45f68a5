"""The ledger: idempotent credits/debits/holds/settlements, typed refusals that write nothing,
the database's own last line of defence, and a seeded model-based run compared step by step."""

from __future__ import annotations

import random

import pytest
import trio

from kiebot.store import money, users
from kiebot.store.db import CheckViolation, Conn, Database, PostgresError


@pytest.fixture
async def db(store_db: Database) -> Database:
    """A fresh database with every migration applied by the real runner (tests/store/conftest.py)."""
    return store_db


async def _users(conn: Conn, *ids: int) -> None:
    for user_id in ids:
        await users.touch_user(conn, user_id, first_name=f"u{user_id}")


async def _ledger_count(conn: Conn) -> int:
    return int(await conn.fetchval("SELECT count(*) FROM ledger"))


async def test_credit_is_idempotent_by_key(db: Database) -> None:
    with trio.fail_after(10):
        async with db.connection() as conn:
            await _users(conn, 1, 2)
            first = await money.credit(conn, 1, 500, kind="topup_stars", key="stars:abc", payment="abc")
            again = await money.credit(conn, 1, 500, kind="topup_stars", key="stars:abc", payment="abc")
            assert not first.repeated
            assert again.repeated
            assert again.entry == first.entry
            assert (await money.get_account(conn, 1)).balance == 500
            with pytest.raises(money.IdempotencyConflict):
                await money.credit(conn, 1, 501, kind="topup_stars", key="stars:abc")
            with pytest.raises(money.IdempotencyConflict):
                await money.credit(conn, 2, 500, kind="topup_stars", key="stars:abc")
            assert await _ledger_count(conn) == 1
            assert (await money.get_account(conn, 2)).balance == 0


async def test_hold_refused_without_funds_writes_nothing(db: Database) -> None:
    with trio.fail_after(10):
        async with db.connection() as conn:
            await _users(conn, 1)
            await money.credit(conn, 1, 250, kind="welcome", key="welcome:1")
            with pytest.raises(money.InsufficientFunds) as info:
                await money.hold(conn, 1, 300, ref="job-1")
            assert (info.value.needed, info.value.available) == (300, 250)
            assert await _ledger_count(conn) == 1
            assert await money.get_account(conn, 1) == money.Account(user_id=1, balance=250, held=0)
            # An unknown hold cannot be settled either.
            with pytest.raises(money.UnknownHold):
                await money.capture(conn, 1, ref="job-1")


async def test_hold_capture_release_lifecycle(db: Database) -> None:
    with trio.fail_after(10):
        async with db.connection() as conn:
            await _users(conn, 1, 2)
            await money.credit(conn, 1, 1000, kind="welcome", key="welcome:1")

            held = await money.hold(conn, 1, 300, ref="10", job_id=10)
            assert (held.balance, held.held) == (700, 300)
            assert (await money.hold(conn, 1, 300, ref="10")).repeated
            with pytest.raises(money.IdempotencyConflict):
                await money.hold(conn, 1, 301, ref="10")

            captured = await money.capture(conn, 1, ref="10", job_id=10)
            assert (captured.balance, captured.held, captured.entry.amount) == (700, 0, -300)
            assert (await money.capture(conn, 1, ref="10")).repeated
            with pytest.raises(money.HoldAlreadySettled) as settled:
                await money.release(conn, 1, ref="10")
            assert settled.value.outcome == "captured"

            await money.hold(conn, 1, 200, ref="11")
            released = await money.release(conn, 1, ref="11", reason="provider failed")
            assert (released.balance, released.held) == (700, 0)
            assert (await money.release(conn, 1, ref="11")).repeated
            with pytest.raises(money.HoldAlreadySettled) as settled:
                await money.capture(conn, 1, ref="11")
            assert settled.value.outcome == "released"

            # Another user cannot settle someone else's hold.
            await money.hold(conn, 1, 100, ref="12")
            with pytest.raises(money.UnknownHold):
                await money.release(conn, 2, ref="12")

            assert await money.total_held(conn) == 100
            kinds = [e.kind for e in await money.recent_ledger(conn, 1, limit=3)]
            assert kinds == ["hold", "release", "hold"]
            assert await money.check_invariants(conn) == []


async def test_debit_and_adjust_never_overdraw(db: Database) -> None:
    with trio.fail_after(10):
        async with db.connection() as conn:
            await _users(conn, 1)
            await money.credit(conn, 1, 500, kind="topup_stars", key="stars:x")
            await money.hold(conn, 1, 400, ref="j")
            # Held money is not available for a refund.
            with pytest.raises(money.InsufficientFunds) as info:
                await money.debit(conn, 1, 200, kind="stars_refund", key="refund:x")
            assert (info.value.needed, info.value.available) == (200, 100)
            with pytest.raises(money.InsufficientFunds):
                await money.adjust(conn, 1, -101, key="adj:1", admin_id=9, reason="oops")
            assert await _ledger_count(conn) == 2

            minus = await money.adjust(conn, 1, -100, key="adj:2", admin_id=9, reason="correction")
            assert (minus.balance, minus.entry.admin_id, minus.entry.reason) == (0, 9, "correction")
            plus = await money.adjust(conn, 1, 50, key="adj:3", admin_id=9, reason="gift")
            assert plus.balance == 50
            with pytest.raises(ValueError, match="non-zero"):
                await money.adjust(conn, 1, 0, key="adj:4", admin_id=9, reason="nothing")
            with pytest.raises(ValueError, match="positive"):
                await money.credit(conn, 1, -5, kind="welcome", key="w")
            with pytest.raises(users.UnknownUser):
                await money.credit(conn, 404, 5, kind="welcome", key="welcome:404")
            assert await money.check_invariants(conn) == []


async def test_operations_compose_in_the_callers_transaction(db: Database) -> None:
    with trio.fail_after(10):
        async with db.connection() as conn:
            await _users(conn, 1)
            with pytest.raises(RuntimeError):
                async with conn.transaction():
                    await money.credit(conn, 1, 100, kind="welcome", key="welcome:1")
                    await money.hold(conn, 1, 60, ref="a")
                    raise RuntimeError("the caller's next step failed")
            assert await _ledger_count(conn) == 0
            assert await money.get_account(conn, 1) == money.Account(user_id=1, balance=0, held=0)

            # A refused step inside a savepoint leaves the caller's earlier steps alone.
            async with conn.transaction():
                await money.credit(conn, 1, 100, kind="welcome", key="welcome:1")
                with pytest.raises(money.InsufficientFunds):
                    await money.hold(conn, 1, 600, ref="b")
            assert (await money.get_account(conn, 1)).balance == 100


async def test_database_is_the_last_line_of_defence(db: Database) -> None:
    with trio.fail_after(10):
        async with db.connection() as conn:
            await _users(conn, 1)
            await money.credit(conn, 1, 100, kind="welcome", key="welcome:1")
            await money.hold(conn, 1, 40, ref="r")
            await money.capture(conn, 1, ref="r")
            with pytest.raises(CheckViolation):
                await conn.execute("UPDATE accounts SET balance = -1 WHERE user_id = 1")
            with pytest.raises(PostgresError, match="append-only"):
                await conn.execute("UPDATE ledger SET amount = amount + 1")
            with pytest.raises(PostgresError, match="append-only"):
                await conn.execute("DELETE FROM ledger")
            with pytest.raises(CheckViolation):  # a capture must have the shape amount = held_delta < 0
                await conn.execute(
                    "INSERT INTO ledger (user_id, kind, amount, held_delta, idempotency_key, hold_ref)"
                    " VALUES (1, 'capture', -5, 0, 'x', 'r2')"
                )
            with pytest.raises(PostgresError):  # a second settlement of one hold
                await conn.execute(
                    "INSERT INTO ledger (user_id, kind, amount, held_delta, idempotency_key, hold_ref)"
                    " VALUES (1, 'release', 0, -40, 'release:r', 'r')"
                )
            # check_invariants sees a tampered account.
            await conn.execute("UPDATE accounts SET balance = balance + 1 WHERE user_id = 1")
            violations = await money.check_invariants(conn)
            assert [(v.user_id, v.problem) for v in violations] == [(1, "sums")]


async def test_concurrent_repeats_of_one_key_have_one_effect(db: Database) -> None:
    with trio.fail_after(15):
        async with db.connection() as conn:
            await _users(conn, 1)
        results: list[money.Posting] = []

        async def credit_once() -> None:
            async with db.connection() as c:
                results.append(await money.credit(c, 1, 700, kind="topup_stars", key="stars:dup"))

        async with trio.open_nursery() as nursery:
            for _ in range(10):
                nursery.start_soon(credit_once)
        assert len({p.entry.id for p in results}) == 1
        assert sorted(p.repeated for p in results) == [False] + [True] * 9
        async with db.connection() as conn:
            assert (await money.get_account(conn, 1)).balance == 700
            assert await money.check_invariants(conn) == []


async def test_concurrent_holds_never_overdraw(db: Database) -> None:
    with trio.fail_after(15):
        async with db.connection() as conn:
            await _users(conn, 1)
            await money.credit(conn, 1, 1000, kind="welcome", key="welcome:1")
        outcomes: list[str] = []

        async def try_hold(ref: str) -> None:
            async with db.connection() as c:
                try:
                    await money.hold(c, 1, 300, ref=ref)
                    outcomes.append("held")
                except money.InsufficientFunds:
                    outcomes.append("refused")

        async with trio.open_nursery() as nursery:
            for i in range(10):
                nursery.start_soon(try_hold, f"job-{i}")
        assert sorted(outcomes) == ["held"] * 3 + ["refused"] * 7
        async with db.connection() as conn:
            assert await money.get_account(conn, 1) == money.Account(user_id=1, balance=100, held=900)
            assert await money.check_invariants(conn) == []


class _Model:
    """The ledger as plain Python: what the database must agree with after every step."""

    def __init__(self) -> None:
        self.balance: dict[int, int] = {}
        self.held: dict[int, int] = {}
        self.keys: dict[str, tuple[int, int]] = {}  # key -> (user, amount)
        self.holds: dict[str, tuple[int, int]] = {}  # ref -> (user, amount)
        self.settled: dict[str, str] = {}


@pytest.mark.slow
async def test_seeded_random_sequence_matches_a_model(db: Database) -> None:
    rng = random.Random(20261126)
    model = _Model()
    user_ids = list(range(1, 7))
    with trio.fail_after(60):
        async with db.connection() as conn:
            await _users(conn, *user_ids)
            for step in range(300):
                user = rng.choice(user_ids)
                op = rng.choice(["credit", "credit", "hold", "capture", "release", "adjust", "debit"])
                bal, held = model.balance.get(user, 0), model.held.get(user, 0)
                if op == "credit":
                    key = f"c:{user}:{rng.randrange(15)}"
                    amount = 100 + 37 * int(key.rsplit(":", 1)[1])
                    posting = await money.credit(conn, user, amount, kind="topup_stars", key=key)
                    assert posting.repeated == (key in model.keys)
                    if key not in model.keys:
                        model.keys[key] = (user, amount)
                        model.balance[user] = bal + amount
                elif op in ("adjust", "debit"):
                    n = rng.randrange(10)
                    key = f"{op}:{user}:{n}"
                    amount = 50 + 13 * n
                    try:
                        if op == "adjust":
                            posting = await money.adjust(conn, user, -amount, key=key, admin_id=1, reason="r")
                        else:
                            posting = await money.debit(conn, user, amount, kind="stars_refund", key=key)
                    except money.InsufficientFunds:
                        assert key not in model.keys
                        assert bal < amount
                    else:
                        assert posting.repeated == (key in model.keys)
                        if key not in model.keys:
                            assert bal >= amount
                            model.keys[key] = (user, amount)
                            model.balance[user] = bal - amount
                elif op == "hold":
                    ref = f"{user}-{rng.randrange(12)}"
                    amount = 20 + 7 * int(ref.rsplit("-", 1)[1])
                    try:
                        posting = await money.hold(conn, user, amount, ref=ref)
                    except money.InsufficientFunds:
                        assert ref not in model.holds
                        assert bal < amount
                    else:
                        assert posting.repeated == (ref in model.holds)
                        if ref not in model.holds:
                            model.holds[ref] = (user, amount)
                            model.balance[user] = bal - amount
                            model.held[user] = held + amount
                else:
                    ref = f"{user}-{rng.randrange(12)}"
                    try:
                        if op == "capture":
                            posting = await money.capture(conn, user, ref=ref)
                        else:
                            posting = await money.release(conn, user, ref=ref)
                    except money.UnknownHold:
                        assert ref not in model.holds
                    except money.HoldAlreadySettled as err:
                        refused_because = err.outcome
                        assert (refused_because, op) in {("captured", "release"), ("released", "capture")}
                        assert refused_because == model.settled[ref] + "d"
                    else:
                        assert posting.repeated == (model.settled.get(ref) == op)
                        if ref not in model.settled:
                            model.settled[ref] = op
                            amount = model.holds[ref][1]
                            model.held[user] = held - amount
                            if op == "release":
                                model.balance[user] = bal + amount
                for uid in user_ids:
                    account = await money.get_account(conn, uid)
                    expected = (model.balance.get(uid, 0), model.held.get(uid, 0))
                    assert (account.balance, account.held) == expected, f"step {step} user {uid}"
                if step % 25 == 0:
                    assert await money.check_invariants(conn) == []
            assert await money.check_invariants(conn) == []
            assert len(model.settled) > 10
            assert len(model.holds) > 20
