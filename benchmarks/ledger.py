"""Ledger throughput: money operations per second with 1, 4 and 16 concurrent workers.

For each worker count, on a fresh set of accounts:

* **credits/s** — W workers crediting random users among 1,000 (one transaction each: lock the
  account, look the key up, insert the ledger row and move the account in one statement);
* **hold+capture pairs/s** — W workers each holding a quote and then capturing it, as a delivered
  generation does (two transactions per pair);
* **hot account credits/s** — W workers crediting the *same* user: the account row lock
  serialises them, which is the price of the invariant under contention;
* credit latency p50 / p95 in milliseconds (distinct users).

Every row ends with :func:`kiebot.store.money.check_invariants` returning nothing — a benchmark
that broke the ledger would not be worth its numbers. The database is
``KIEBOT_BENCH_DATABASE_URL`` when set, else an embedded PostgreSQL (see
:func:`benchmarks.store.open_bench_database`). Run ``python -m benchmarks ledger`` or
``python -m benchmarks.ledger``; ``KIEBOT_BENCH_LEDGER_OPS`` sets the operations per row (2,000).
"""

from __future__ import annotations

import os
import random
import statistics
import sys
from collections.abc import Awaitable, Callable

import msgspec
import trio
import trio_asyncio

from benchmarks.store import open_bench_database
from kiebot.store import money
from kiebot.store.db import Conn, Database

WORKER_COUNTS = (1, 4, 16)
OPS = 2000
USERS = 1000


class LedgerRow(msgspec.Struct, frozen=True):
    workers: int
    ops: int
    credits_per_s: float
    pairs_per_s: float
    hot_credits_per_s: float
    credit_p50_ms: float
    credit_p95_ms: float


async def _setup(db: Database, base: int) -> list[int]:
    ids = list(range(base, base + USERS))
    async with db.connection() as conn:
        await conn.executemany(
            "INSERT INTO users (user_id, first_name) VALUES ($1, 'bench')", [(i,) for i in ids]
        )
        for user_id in ids:
            await money.credit(conn, user_id, 10_000_000, kind="welcome", key=f"welcome:{user_id}")
        # Fresh statistics, as a live database has: plans for a just-filled table are otherwise
        # made for an empty one (asyncpg caches prepared statements per connection).
        await conn.execute("ANALYZE")
    return ids


async def _run(
    db: Database, workers: int, ops: int, op: Callable[[Conn, int], Awaitable[None]]
) -> tuple[float, list[float]]:
    """Run ``op(conn, n)`` for n in 0..ops-1 spread over ``workers`` tasks; (seconds, latencies)."""
    numbers = iter(range(ops))
    latencies: list[float] = []

    async def worker() -> None:
        for n in numbers:
            started = trio.current_time()
            async with db.connection() as conn:
                await op(conn, n)
            latencies.append(trio.current_time() - started)

    start = trio.current_time()
    async with trio.open_nursery() as nursery:
        for _ in range(workers):
            nursery.start_soon(worker)
    return trio.current_time() - start, latencies


async def measure_ledger(db: Database, workers: int, ops: int = OPS) -> LedgerRow:
    base = 10_000_000 * workers
    ids = await _setup(db, base)
    rng = random.Random(workers)
    targets = [rng.choice(ids) for _ in range(ops)]

    async def credit(conn: Conn, n: int) -> None:
        await money.credit(conn, targets[n], 100, kind="topup_stars", key=f"bench:{workers}:c:{n}")

    async def hold_capture(conn: Conn, n: int) -> None:
        ref = f"bench-{workers}-{n}"
        await money.hold(conn, targets[n], 250, ref=ref)
        await money.capture(conn, targets[n], ref=ref)

    async def hot_credit(conn: Conn, n: int) -> None:
        await money.credit(conn, ids[0], 1, kind="topup_stars", key=f"bench:{workers}:hot:{n}")

    credit_s, latencies = await _run(db, workers, ops, credit)
    pairs = ops // 2
    pairs_s, _ = await _run(db, workers, pairs, hold_capture)
    hot_s, _ = await _run(db, workers, ops, hot_credit)

    async with db.connection() as conn:
        violations = await money.check_invariants(conn)
    if violations:
        raise AssertionError(f"ledger invariants broken by the benchmark: {violations[:3]}")
    latencies.sort()
    return LedgerRow(
        workers=workers,
        ops=ops,
        credits_per_s=ops / credit_s,
        pairs_per_s=pairs / pairs_s,
        hot_credits_per_s=ops / hot_s,
        credit_p50_ms=statistics.median(latencies) * 1000,
        credit_p95_ms=latencies[int(len(latencies) * 0.95) - 1] * 1000,
    )


def format_table(rows: list[LedgerRow]) -> str:
    lines = [
        "| workers | ops | credits/s | hold+capture pairs/s | hot-account credits/s | credit p50 ms | p95 ms |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r.workers} | {r.ops} | {r.credits_per_s:,.0f} | {r.pairs_per_s:,.0f} | {r.hot_credits_per_s:,.0f} "
            f"| {r.credit_p50_ms:.1f} | {r.credit_p95_ms:.1f} |"
        )
    return "\n".join(lines)


async def run_ledger_benchmark(ops: int = OPS) -> list[LedgerRow]:
    async with trio_asyncio.open_loop(), open_bench_database(pool_size=max(WORKER_COUNTS) + 4) as db:
        return [await measure_ledger(db, workers, ops) for workers in WORKER_COUNTS]


def main() -> int:
    ops = int(os.environ.get("KIEBOT_BENCH_LEDGER_OPS", OPS))  # argv belongs to the benchmark runner
    rows = trio.run(run_ledger_benchmark, ops)
    print(f"### Ledger (PostgreSQL, {os.cpu_count()} CPU cores)\n")
    print(format_table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
