"""Jobs end to end under concurrency and crashes: double taps, workers claiming with leases,
duplicated callbacks, racing failures, and connections killed mid-transition. At the end every job
is final, its money settled exactly once the right way, and the ledger invariants hold."""

from __future__ import annotations

import random
from typing import Any

import asyncpg
import pytest
import trio

from kiebot.store import free_tier, jobs, money, users
from kiebot.store.db import Database, DatabaseUnavailable

SEED = 99_173
USERS = (501, 502, 503, 504)
WORKERS = 6
LEASE_S = 0.3
LIMITS = free_tier.FreeLimits(daily=3, hourly=3)
# See tests/store/test_money_chaos.py: a server-killed connection may surface as asyncpg's
# InternalClientError, which kiebot.store.db does not translate yet (reported).
LOST = (DatabaseUnavailable, asyncpg.exceptions.InternalClientError)


@pytest.fixture
async def db(store_db: Database) -> Database:
    async with store_db.connection() as conn:
        for user_id in USERS:
            await users.touch_user(conn, user_id, first_name="x")
            await money.credit(conn, user_id, 2_000, kind="welcome", key=money.welcome_key(user_id))
    return store_db


async def _confirm(db: Database, rng: random.Random, n: int, created: list[int], refusals: list[str]) -> None:
    """A user taps "confirm" (sometimes twice at once: one job, one hold)."""
    user_id = rng.choice(USERS)
    free = rng.random() < 0.25
    quote = 0 if free else rng.choice((150, 300, 700, 2_500))  # 2,500 > any balance: always refused
    taps = 2 if rng.random() < 0.3 else 1
    timeout_s = 0.05 if rng.random() < 0.25 else 600.0  # some jobs overrun their deadline at once

    async def tap() -> None:
        try:
            async with db.connection() as conn:
                result = await jobs.create_job(
                    conn,
                    user_id=user_id,
                    chat_id=user_id,
                    model_id="z-image",
                    kind="text_to_image",
                    params={"n": n},
                    quote_kopecks=quote,
                    idempotency_key=f"confirm:{n}",
                    timeout_s=timeout_s,
                    free=free,
                    free_limits=LIMITS,
                )
        except (money.InsufficientFunds, free_tier.FreeLimitReached) as err:
            refusals.append(type(err).__name__)
        else:
            if result.created:
                created.append(result.job.id)

    async with trio.open_nursery() as nursery:
        for _ in range(taps):
            nursery.start_soon(tap)


async def _step(db: Database, rng: random.Random, job: jobs.Job, name: str, kills: list[int]) -> None:
    """Advance one claimed job by one state, like a generation worker and Kie callbacks would."""
    plan: dict[str, list[tuple[jobs.JobState, dict[str, Any]]]] = {
        "queued": [("submitting", {}), ("cancelled", {})],
        "submitting": [("submitted", {"kie_task_id": f"task-{job.id}"}), ("failed", {"error_code": "422"})],
        "submitted": [("succeeded", {"result": {"urls": ["u"]}}), ("failed", {"error_code": "501"})],
        "succeeded": [("delivered", {}), ("failed", {"error_code": "blocked"})],
    }
    choices = plan[job.state]
    target, extra = choices[0] if rng.random() < 0.8 else choices[1]
    kill = rng.random() < 0.1
    async with db.connection() as conn:
        if kill:  # the worker dies mid-transition: the transaction must leave nothing behind
            try:
                async with conn.transaction():
                    await jobs.transition(conn, job.id, target, owner=name, **extra)
                    conn.terminate()
            except LOST:
                kills.append(job.id)
                return
            except (jobs.LeaseLost, jobs.IllegalTransition):
                return  # refused before the kill: nothing was written either
            raise AssertionError("a transition on a killed connection committed")
        try:
            await jobs.transition(conn, job.id, target, owner=name, **extra)
        except (jobs.LeaseLost, jobs.IllegalTransition):
            return  # another worker took it over, or the deadline sweep ended it: stop
    if rng.random() < 0.3:  # a duplicated callback or a second worker repeats or races the move
        rival: jobs.JobState = rng.choice([target, "failed", "timed_out"])
        try:
            async with db.connection() as conn:
                await jobs.transition(conn, job.id, rival, **extra)
        except jobs.IllegalTransition:
            pass


async def _worker(db: Database, index: int, stop: trio.Event, kills: list[int]) -> None:
    rng = random.Random(SEED + index)
    name = f"w{index}"
    while not stop.is_set():
        claimed: list[jobs.Job] = []
        try:
            async with db.connection() as conn:
                claimed = await jobs.claim_jobs(conn, name, jobs.ACTIVE_STATES, 3, LEASE_S)
            for job in claimed:
                await _step(db, rng, job, name, kills)
        except LOST:
            pass
        await trio.sleep(0.01 if not claimed else 0)


async def _reconciler(db: Database, stop: trio.Event, timed_out: list[int]) -> None:
    """The scheduler's sweep: jobs past their deadline are timed out, racing the workers."""
    while not stop.is_set():
        try:
            async with db.connection() as conn:
                now = await conn.fetchval("SELECT now()")
                for job in await jobs.jobs_needing_reconcile(conn, now, stale_after_s=3600):
                    try:
                        if await jobs.transition(conn, job.id, "timed_out", error_code="deadline"):
                            timed_out.append(job.id)
                    except jobs.IllegalTransition:
                        pass  # a worker finished it meanwhile
        except LOST:
            pass
        await trio.sleep(0.02)


@pytest.mark.slow
async def test_jobs_pipeline_settles_every_job_exactly_once(db: Database) -> None:
    rng = random.Random(SEED)
    created: list[int] = []
    refusals: list[str] = []
    kills: list[int] = []
    timed_out: list[int] = []
    stop = trio.Event()
    with trio.fail_after(90):
        async with trio.open_nursery() as nursery:
            for i in range(WORKERS):
                nursery.start_soon(_worker, db, i, stop, kills)
            nursery.start_soon(_reconciler, db, stop, timed_out)
            for n in range(40):
                await _confirm(db, rng, n, created, refusals)
                await trio.sleep(0.005)
            while True:
                async with db.connection() as conn:
                    active = await conn.fetchval(
                        "SELECT count(*) FROM jobs WHERE state = ANY($1::text[])", list(jobs.ACTIVE_STATES)
                    )
                if active == 0:
                    break
                await trio.sleep(0.05)
            stop.set()

        async with db.connection() as conn:
            assert await money.check_invariants(conn) == []
            assert await jobs.job_money_violations(conn) == []
            assert int(await conn.fetchval("SELECT count(*) FROM jobs")) == len(created)
            assert await money.total_held(conn) == 0
            rows = await conn.fetch("SELECT state, count(*) AS n FROM jobs GROUP BY state")
            states: dict[str, int] = {r["state"]: int(r["n"]) for r in rows}
            settlements = await conn.fetch(
                "SELECT hold_ref, count(*) AS n FROM ledger WHERE kind IN ('capture', 'release') GROUP BY hold_ref"
            )
            assert all(r["n"] == 1 for r in settlements)
            unreturned_failed_free = await conn.fetchval(
                """
                SELECT count(*) FROM jobs j JOIN free_usage f ON f.job_id = j.id
                WHERE j.free AND j.state <> 'delivered' AND f.returned_at IS NULL
                """
            )
            assert unreturned_failed_free == 0
    print("\njobs chaos:", states, "kills", len(kills), "refusals", len(refusals), "swept", len(timed_out))
    assert len(created) >= 20
    assert len(kills) >= 2  # some transitions died mid-transaction and their jobs were retaken
    assert timed_out  # the deadline sweep won some races
    assert refusals  # some confirmations were refused (no money or no free use) and left nothing
    assert states.get("delivered", 0) >= 1
    assert sum(states.get(s, 0) for s in ("failed", "cancelled", "timed_out")) >= 3
