"""Inbox throughput: updates stored, claimed and finished per second with 1, 4 and 16 workers.

Each row runs on an emptied ``updates`` table with N updates spread over N/10 chats:

* **put/s** — W concurrent writers storing updates one statement each (the webhook path: one
  autocommit ``INSERT … ON CONFLICT DO NOTHING`` per update, NOTIFY trigger included);
* **drain/s** — emptying that backlog with W handlers, in two dispatcher patterns: *W claimers*
  (each worker calls ``claim(limit=16)`` and finishes its batch) and *1 claimer → W handlers*
  (one task per instance claims as many chats as there are idle handlers and feeds them through
  a channel); each handled update costs one ``done``;
* **pipeline/s** — writers and workers at the same time, end to end, with the put→done latency
  of each update (p50 / p95).

The database is ``KIEBOT_BENCH_DATABASE_URL`` when set, else an embedded PostgreSQL in a
temporary directory; ``KIEBOT_BENCH_UPDATES`` changes N (default 2000). Run
``python -m benchmarks store`` (the runner calls :func:`main`) or ``python -m benchmarks.store``. Ledger operations are measured separately in ``benchmarks/ledger.py``; it can reuse
:func:`open_bench_database`.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import statistics
import sys
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import msgspec
import trio
import trio_asyncio

from kiebot.store import inbox
from kiebot.store.db import Database
from kiebot.store.embedded import embedded_postgres
from kiebot.store.migrations import apply_migrations

WORKER_COUNTS = (1, 4, 16)
UPDATES = 2000
BATCH = 16


class InboxRow(msgspec.Struct, frozen=True):
    pattern: str
    workers: int
    updates: int
    put_per_s: float
    drain_per_s: float
    pipeline_per_s: float
    latency_p50_ms: float
    latency_p95_ms: float
    avg_batch: float


@contextlib.asynccontextmanager
async def open_bench_database(pool_size: int = 40) -> AsyncIterator[Database]:
    """A migrated database for benchmarks; call inside ``trio_asyncio.open_loop()``."""
    url = os.environ.get("KIEBOT_BENCH_DATABASE_URL")
    if url:
        async with Database.open(url, max_size=pool_size) as db:
            await apply_migrations(db)
            yield db
        return
    root = Path(tempfile.mkdtemp(prefix="kbb-", dir="/tmp"))
    try:
        async with embedded_postgres(root / "pgdata", database="bench") as server, Database.open(
            server.url, max_size=pool_size
        ) as db:
            await apply_migrations(db)
            yield db
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _raw(update_id: int, chat: int) -> bytes:
    return (
        b'{"update_id":%d,"message":{"message_id":%d,"date":1700000000,'
        b'"chat":{"id":%d,"type":"private"},"from":{"id":%d,"is_bot":false,"first_name":"B"},"text":"hello"}}'
        % (update_id, update_id, chat, chat)
    )


def _plan(count: int, first_id: int) -> list[tuple[int, int]]:
    chats = max(1, count // 10)
    return [(first_id + i, 9_000_000 + (i * 7919) % chats) for i in range(count)]


async def _put_all(db: Database, plan: list[tuple[int, int]], writers: int, put_at: dict[int, float] | None) -> None:
    queue = iter(plan)

    async def writer() -> None:
        for update_id, chat in queue:
            async with db.connection() as conn:
                if put_at is not None:
                    put_at[update_id] = trio.current_time()
                await inbox.put(conn, update_id, chat, "message", _raw(update_id, chat), "test")

    async with trio.open_nursery() as nursery:
        for _ in range(writers):
            nursery.start_soon(writer)


async def _drain_claimers(db: Database, total: int, workers: int, done_at: dict[int, float], batches: list[int]) -> None:
    """W workers, each claiming its own batches and finishing them one by one."""
    finished = trio.Event()

    async def worker(name: str) -> None:
        while not finished.is_set():
            async with db.connection() as conn:
                claimed = await inbox.claim(conn, name, limit=BATCH)
            if not claimed:
                if len(done_at) >= total:
                    finished.set()
                await trio.sleep(0.001)
                continue
            batches.append(len(claimed))
            for item in claimed:
                async with db.connection() as conn:
                    await inbox.done(conn, item.update_id, item.token)
                done_at[item.update_id] = trio.current_time()

    async with trio.open_nursery() as nursery:
        for n in range(workers):
            nursery.start_soon(worker, f"bench-{n}")


async def _drain_fed(db: Database, total: int, workers: int, done_at: dict[int, float], batches: list[int]) -> None:
    """One claimer per instance claims as many chats as there are idle handlers (W) and feeds them."""
    idle = workers
    progress = trio.Event()
    send, receive = trio.open_memory_channel[inbox.ClaimedUpdate](0)

    async def handler() -> None:
        nonlocal idle, progress
        async for item in receive:
            async with db.connection() as conn:
                await inbox.done(conn, item.update_id, item.token)
            done_at[item.update_id] = trio.current_time()
            idle += 1
            progress.set()

    async with trio.open_nursery() as nursery:
        for _ in range(workers):
            nursery.start_soon(handler)
        async with send:
            while len(done_at) < total:
                if idle == 0:
                    progress = trio.Event()
                    await progress.wait()
                    continue
                async with db.connection() as conn:
                    claimed = await inbox.claim(conn, "bench-fed", limit=idle)
                if not claimed:
                    progress = trio.Event()
                    with trio.move_on_after(0.005):
                        await progress.wait()
                    continue
                batches.append(len(claimed))
                idle -= len(claimed)
                for item in claimed:
                    await send.send(item)


Drain = Callable[[Database, int, int, dict[int, float], list[int]], Awaitable[None]]
PATTERNS: tuple[tuple[str, Drain], ...] = (
    ("W claimers", _drain_claimers),
    ("1 claimer → W handlers", _drain_fed),
)


async def measure_inbox(db: Database, pattern: str, drain: Drain, workers: int, updates: int = UPDATES) -> InboxRow:
    await db.execute("TRUNCATE updates")
    plan = _plan(updates, 1)

    start = trio.current_time()
    await _put_all(db, plan, workers, None)
    put_s = trio.current_time() - start

    batches: list[int] = []
    start = trio.current_time()
    await drain(db, updates, workers, {}, batches)
    drain_s = trio.current_time() - start

    await db.execute("TRUNCATE updates")
    pipeline_plan = _plan(updates, 1_000_000)
    put_at: dict[int, float] = {}
    done_at: dict[int, float] = {}
    start = trio.current_time()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(_put_all, db, pipeline_plan, workers, put_at)
        nursery.start_soon(drain, db, updates, workers, done_at, batches)
    pipeline_s = trio.current_time() - start
    latencies = sorted((done_at[u] - put_at[u]) * 1000 for u, _ in pipeline_plan)
    return InboxRow(
        pattern=pattern,
        workers=workers,
        updates=updates,
        put_per_s=updates / put_s,
        drain_per_s=updates / drain_s,
        pipeline_per_s=updates / pipeline_s,
        latency_p50_ms=statistics.median(latencies),
        latency_p95_ms=latencies[int(len(latencies) * 0.95) - 1],
        avg_batch=sum(batches) / max(1, len(batches)),
    )


def format_table(rows: list[InboxRow]) -> str:
    lines = [
        "| pattern | workers | updates | put/s | drain (claim+done)/s | pipeline/s | put→done p50 ms | p95 ms | avg claim batch |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r.pattern} | {r.workers} | {r.updates} | {r.put_per_s:,.0f} | {r.drain_per_s:,.0f} | {r.pipeline_per_s:,.0f} "
            f"| {r.latency_p50_ms:.1f} | {r.latency_p95_ms:.1f} | {r.avg_batch:.1f} |"
        )
    return "\n".join(lines)


async def run_inbox_benchmark(updates: int = UPDATES) -> list[InboxRow]:
    async with trio_asyncio.open_loop(), open_bench_database(pool_size=2 * max(WORKER_COUNTS) + 4) as db:
        return [
            await measure_inbox(db, pattern, drain, workers, updates)
            for pattern, drain in PATTERNS
            for workers in WORKER_COUNTS
        ]


def main() -> int:
    updates = int(os.environ.get("KIEBOT_BENCH_UPDATES", UPDATES))
    rows = trio.run(run_inbox_benchmark, updates)
    print(f"### Inbox (PostgreSQL, {os.cpu_count()} CPU cores)\n")
    print(format_table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
