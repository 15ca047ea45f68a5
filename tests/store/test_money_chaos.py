"""The ledger under concurrency and crashes.

Eight workers run seeded random credit/hold/capture/release/adjust/debit sequences over a few
users, with duplicate keys on purpose. Some operations kill their own connection mid-transaction
(server side with ``pg_terminate_backend`` or client side with ``Conn.terminate()``), and a killer
task terminates random busy backends at random moments, so some commits are lost and some succeed
without the client hearing it; workers retry those with the same key, as real callers would.

A checker on its own connection reads ``check_invariants`` over and over while all this runs:
every committed snapshot must satisfy ``balance + held = sum(amount)``, ``held = sum(held_delta)``,
nothing below zero, each hold settled at most once. At the end: every acknowledged operation is in
the ledger exactly once, every self-killed operation left no trace.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable

import asyncpg
import pytest
import trio

from kiebot.store import money, users
from kiebot.store.db import Conn, Database, DatabaseUnavailable

SEED = 7_340_021
USERS = list(range(101, 105))
WORKERS = 8
OPS_PER_WORKER = 70


@pytest.fixture
async def db(store_db: Database) -> Database:
    """A fresh database with every migration applied by the real runner (tests/store/conftest.py)."""
    return store_db


Op = Callable[[Conn], Awaitable[money.Posting]]

# A connection the server terminated while it sat idle in a transaction can surface as asyncpg's
# InternalClientError ("cannot switch to state 15; another operation (2) is in progress") on the
# next statement or the rollback, which kiebot.store.db does not translate to DatabaseUnavailable
# yet (reported to the owner of db.py). Until it does, count it as the lost connection it is.
LOST = (DatabaseUnavailable, asyncpg.exceptions.InternalClientError)


class Run:
    def __init__(self) -> None:
        self.acknowledged: dict[str, int] = {}  # idempotency key -> ledger entry id the caller saw
        self.self_killed_keys: set[str] = set()  # unique keys whose only attempt was killed
        self.refusals = 0
        self.repeats = 0
        self.lost_connections = 0
        self.snapshots_checked = 0
        self.violations: list[money.Violation] = []


def _pick(rng: random.Random, worker: int, n: int) -> tuple[str, Op]:
    """One random operation; keys come from small shared spaces so workers collide on purpose."""
    user = rng.choice(USERS)
    roll = rng.random()
    if roll < 0.25:
        k = rng.randrange(12)
        key, amount = f"credit:{user}:{k}", 100 + 20 * k
        return key, lambda c: money.credit(c, user, amount, kind="topup_stars", key=key)
    if roll < 0.55:
        r = rng.randrange(10)
        ref, amount = f"{user}-{r}", 80 + 25 * r
        return money.hold_key(ref), lambda c: money.hold(c, user, amount, ref=ref)
    if roll < 0.7:
        ref = f"{user}-{rng.randrange(10)}"
        return money.capture_key(ref), lambda c: money.capture(c, user, ref=ref)
    if roll < 0.85:
        ref = f"{user}-{rng.randrange(10)}"
        return money.release_key(ref), lambda c: money.release(c, user, ref=ref)
    if roll < 0.93:
        k = rng.randrange(8)
        key, delta = f"adjust:{user}:{k}", (-1) ** k * (30 + 10 * k)
        return key, lambda c: money.adjust(c, user, delta, key=key, admin_id=1, reason="chaos")
    k = rng.randrange(8)
    key, amount = f"refund:{user}:{k}", 60 + 20 * k
    return key, lambda c: money.debit(c, user, amount, kind="stars_refund", key=key)


def _unique_op(worker: int, n: int, rng: random.Random) -> tuple[str, Op]:
    """An operation whose key nobody else uses: if its transaction is killed it must leave nothing."""
    user = rng.choice(USERS)
    if rng.random() < 0.5:
        key = f"once:{worker}:{n}"
        return key, lambda c: money.credit(c, user, 111, kind="welcome", key=key)
    ref = f"once-{worker}-{n}"
    return money.hold_key(ref), lambda c: money.hold(c, user, 1, ref=ref)


async def _attempt(db: Database, run: Run, key: str, op: Op) -> None:
    """Run ``op`` until it is acknowledged or refused; a lost connection means "retry, same key"."""
    for _ in range(6):
        try:
            async with db.connection() as conn:
                posting = await op(conn)
        except LOST:
            run.lost_connections += 1
            continue
        except (money.InsufficientFunds, money.UnknownHold, money.HoldAlreadySettled):
            run.refusals += 1
            return
        run.repeats += posting.repeated
        assert posting.entry.idempotency_key == key
        seen = run.acknowledged.setdefault(key, posting.entry.id)
        assert seen == posting.entry.id, f"{key} acknowledged as two different entries"
        return
    raise AssertionError(f"{key}: no attempt got through")


async def _killed_in_flight(db: Database, run: Run, key: str, op: Op, *, server_side: bool) -> None:
    """Run ``op`` in a transaction and kill the connection before it commits."""
    try:
        async with db.connection() as conn, conn.transaction():
            pid = await conn.fetchval("SELECT pg_backend_pid()")
            await op(conn)
            if server_side:
                async with db.connection() as other:
                    await other.fetchval("SELECT pg_terminate_backend($1, 5000)", pid)
            else:
                conn.terminate()
    except LOST:
        run.self_killed_keys.add(key)
    except (money.InsufficientFunds, money.UnknownHold, money.HoldAlreadySettled):
        run.refusals += 1
    else:
        raise AssertionError(f"{key}: a transaction on a killed connection committed")


async def _worker(db: Database, run: Run, worker: int) -> None:
    rng = random.Random(SEED * 1000 + worker)
    for n in range(OPS_PER_WORKER):
        if rng.random() < 0.12:
            key, op = _unique_op(worker, n, rng)
            await _killed_in_flight(db, run, key, op, server_side=rng.random() < 0.5)
        else:
            key, op = _pick(rng, worker, n)
            await _attempt(db, run, key, op)
        if rng.random() < 0.3:
            await trio.sleep(0.001 * rng.randrange(3))


async def _checker(db: Database, run: Run, protected: set[int], done: trio.Event) -> None:
    async with db.dedicated() as conn:
        protected.add(await conn.fetchval("SELECT pg_backend_pid()"))
        while not done.is_set():
            run.violations.extend(await money.check_invariants(conn))
            run.snapshots_checked += 1
            await trio.sleep(0.01)


async def _killer(db: Database, protected: set[int], done: trio.Event, rng: random.Random) -> int:
    kills = 0
    async with db.dedicated() as conn:
        protected.add(await conn.fetchval("SELECT pg_backend_pid()"))
        while not done.is_set():
            await trio.sleep(0.005 + 0.03 * rng.random())
            victim = await conn.fetchval(
                """
                SELECT pid FROM pg_stat_activity
                WHERE datname = current_database() AND backend_type = 'client backend'
                  AND state IN ('active', 'idle in transaction') AND pid <> ALL($1::int[])
                ORDER BY pid LIMIT 1 OFFSET $2
                """,
                sorted(protected),
                rng.randrange(3),
            )
            if victim is not None:
                kills += bool(await conn.fetchval("SELECT pg_terminate_backend($1)", victim))
    return kills


@pytest.mark.slow
async def test_ledger_survives_concurrency_duplicates_and_killed_connections(db: Database) -> None:
    run = Run()
    protected: set[int] = set()
    done = trio.Event()
    kills: list[int] = []
    with trio.fail_after(90):
        async with db.connection() as conn:
            for user in USERS:
                await users.touch_user(conn, user, first_name=f"u{user}")
                await money.credit(conn, user, 500, kind="welcome", key=f"welcome:{user}")

        async def killer() -> None:
            kills.append(await _killer(db, protected, done, random.Random(SEED)))

        async with trio.open_nursery() as outer:
            outer.start_soon(_checker, db, run, protected, done)
            outer.start_soon(killer)
            async with trio.open_nursery() as workers:
                for worker in range(WORKERS):
                    workers.start_soon(_worker, db, run, worker)
            done.set()

        async with db.connection() as conn:
            assert run.violations == []
            assert await money.check_invariants(conn) == []
            rows = await conn.fetch("SELECT idempotency_key, id FROM ledger")
            ledger = {r["idempotency_key"]: r["id"] for r in rows}
            assert len(ledger) == len(rows)
            # Every acknowledged operation is there, as the very entry the caller was shown.
            missing = {k for k, entry_id in run.acknowledged.items() if ledger.get(k) != entry_id}
            assert missing == set()
            # Every operation whose transaction was killed before COMMIT left nothing behind.
            assert run.self_killed_keys.isdisjoint(ledger)
            # A hold is captured or released at most once, never both.
            twice = await conn.fetchval(
                "SELECT count(*) FROM (SELECT hold_ref FROM ledger WHERE kind IN ('capture', 'release')"
                " GROUP BY hold_ref HAVING count(*) > 1) t"
            )
            assert twice == 0
            negative = await conn.fetchval("SELECT count(*) FROM accounts WHERE balance < 0 OR held < 0")
            assert negative == 0

    print(
        f"\nchaos: acknowledged={len(run.acknowledged)} repeats={run.repeats} refusals={run.refusals} self_killed={len(run.self_killed_keys)} lost={run.lost_connections} killer={kills[0]} snapshots={run.snapshots_checked}"
    )
    # The run really exercised what it claims to.
    assert run.snapshots_checked >= 5
    assert len(run.self_killed_keys) >= 10
    assert run.repeats >= 10
    assert run.refusals >= 5
    assert len(run.acknowledged) >= 100
    assert kills[0] + run.lost_connections >= 1
