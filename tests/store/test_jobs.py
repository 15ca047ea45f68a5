"""Jobs: idempotent creation with its hold, the guarded state machine, money settled exactly once
with the state change, leases and SKIP LOCKED claims."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import trio
import trio.lowlevel

from kiebot.store import free_tier, jobs, money, users
from kiebot.store.db import Conn, Database
from tests.support.jobs import z_image_job

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
async def db(store_db: Database) -> Database:
    """A fresh database with every migration applied by the real runner (tests/store/conftest.py)."""
    async with store_db.connection() as conn:
        for user_id in (1, 2):
            await users.touch_user(conn, user_id, first_name=f"u{user_id}")
        await money.credit(conn, 1, 1000, kind="welcome", key="welcome:1")
    return store_db


async def _create(conn: Conn, key: str, *, user_id: int = 1, quote: int = 300, **kw: Any) -> jobs.CreatedJob:
    return await z_image_job(
        conn,
        user_id,
        key,
        params={"prompt": "a cat", "aspect_ratio": "1:1"},
        quote_kopecks=quote,
        timeout_s=600,
        credits=0.8,
        fx_rate=78.0,
        markup=2.0,
        request_id="req-1",
        **kw,
    )


async def _count(conn: Conn, sql: str, *args: Any) -> int:
    return int(await conn.fetchval(sql, *args))


async def _drive(conn: Conn, job_id: int, *states: jobs.JobState) -> None:
    for state in states:
        extra: dict[str, Any] = {}
        if state == "submitted":
            extra["kie_task_id"] = f"task-{job_id}"
        if state == "succeeded":
            extra["result"] = {"urls": ["https://example.invalid/r.png"], "kind": "image"}
        assert await jobs.transition(conn, job_id, state, **extra)


async def test_create_is_idempotent_by_key_and_holds_once(db: Database) -> None:
    with trio.fail_after(10):
        async with db.connection() as conn:
            first = await _create(conn, "confirm:abc")
            again = await _create(conn, "confirm:abc")
            assert first.created
            assert not again.created
            assert again.job.id == first.job.id
            assert first.job.state == "queued"
            assert first.job.params == {"prompt": "a cat", "aspect_ratio": "1:1"}
            assert await money.get_account(conn, 1) == money.Account(user_id=1, balance=700, held=300)
            assert await _count(conn, "SELECT count(*) FROM ledger WHERE kind = 'hold'") == 1
            with pytest.raises(money.IdempotencyConflict):
                await _create(conn, "confirm:abc", user_id=2)


async def test_concurrent_double_tap_makes_one_job_and_one_hold(db: Database) -> None:
    results: list[jobs.CreatedJob] = []

    async def tap() -> None:
        async with db.connection() as c:
            results.append(await _create(c, "confirm:double"))

    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            for _ in range(6):
                nursery.start_soon(tap)
        assert len({r.job.id for r in results}) == 1
        assert sorted(r.created for r in results) == [False] * 5 + [True]
        async with db.connection() as conn:
            assert await _count(conn, "SELECT count(*) FROM jobs") == 1
            assert await money.get_account(conn, 1) == money.Account(user_id=1, balance=700, held=300)


async def test_create_without_funds_creates_nothing(db: Database) -> None:
    with trio.fail_after(10):
        async with db.connection() as conn:
            with pytest.raises(money.InsufficientFunds):
                await _create(conn, "confirm:big", quote=1001)
            assert await _count(conn, "SELECT count(*) FROM jobs") == 0
            assert await _count(conn, "SELECT count(*) FROM job_transitions") == 0
            # A dry run never touches money, a zero quote holds nothing.
            dry = await _create(conn, "confirm:dry", quote=5000, dry_run=True)
            assert dry.job.dry_run
            assert not dry.job.holds_money
            assert (await money.get_account(conn, 1)).balance == 1000


async def test_delivery_captures_exactly_once(db: Database) -> None:
    with trio.fail_after(10):
        async with db.connection() as conn:
            job = (await _create(conn, "k")).job
            await _drive(conn, job.id, "submitting", "submitted", "succeeded", "delivered")
            assert not await jobs.transition(conn, job.id, "delivered")
            done = await jobs.get_job(conn, job.id)
            assert done is not None
            assert done.state == "delivered"
            assert done.kie_task_id == f"task-{job.id}"
            assert done.result == {"urls": ["https://example.invalid/r.png"], "kind": "image"}
            assert done.finished_at is not None
            assert done.delivered_at is not None
            assert await money.get_account(conn, 1) == money.Account(user_id=1, balance=700, held=0)
            assert await _count(conn, "SELECT count(*) FROM ledger WHERE kind = 'capture'") == 1
            history = await jobs.job_history(conn, job.id)
            assert [(h.from_state, h.to_state) for h in history] == [
                (None, "queued"),
                ("queued", "submitting"),
                ("submitting", "submitted"),
                ("submitted", "succeeded"),
                ("succeeded", "delivered"),
            ]
            assert (await jobs.find_by_task_id(conn, f"task-{job.id}")) == done
            assert await money.check_invariants(conn) == []
            assert await jobs.job_money_violations(conn) == []


@pytest.mark.parametrize(
    ("path", "exit_state"),
    [
        ((), "cancelled"),
        (("submitting",), "failed"),
        (("submitting", "submitted"), "timed_out"),
        (("submitting", "submitted", "succeeded"), "failed"),
    ],
)
async def test_every_exit_without_result_releases_once(
    db: Database, path: tuple[jobs.JobState, ...], exit_state: jobs.JobState
) -> None:
    with trio.fail_after(10):
        async with db.connection() as conn:
            job = (await _create(conn, "k")).job
            await _drive(conn, job.id, *path)
            assert await jobs.transition(conn, job.id, exit_state, error_code="E1", error_message="boom")
            assert not await jobs.transition(conn, job.id, exit_state)
            assert await money.get_account(conn, 1) == money.Account(user_id=1, balance=1000, held=0)
            releases = await conn.fetch("SELECT reason FROM ledger WHERE kind = 'release'")
            assert [r["reason"] for r in releases] == ["E1"]
            ended = await jobs.get_job(conn, job.id)
            assert ended is not None
            assert (ended.state, ended.error_code, ended.error_message) == (exit_state, "E1", "boom")
            assert ended.finished_at is not None


async def test_illegal_transitions_are_refused_and_write_nothing(db: Database) -> None:
    with trio.fail_after(10):
        async with db.connection() as conn:
            job = (await _create(conn, "k")).job
            before = await _count(conn, "SELECT count(*) FROM job_transitions")
            for target in ("submitted", "succeeded", "delivered"):
                with pytest.raises(jobs.IllegalTransition):
                    await jobs.transition(conn, job.id, target, kie_task_id="t", result={"urls": []})
            await _drive(conn, job.id, "submitting", "submitted")
            with pytest.raises(jobs.IllegalTransition) as info:
                await jobs.transition(conn, job.id, "cancelled")  # cancel only while queued
            assert (info.value.from_state, info.value.to_state) == ("submitted", "cancelled")
            await _drive(conn, job.id, "succeeded", "delivered")
            finals: tuple[jobs.JobState, ...] = ("failed", "queued", "timed_out")
            for final in finals:
                with pytest.raises(jobs.IllegalTransition):
                    await jobs.transition(conn, job.id, final)
            assert await _count(conn, "SELECT count(*) FROM job_transitions") == before + 4
            assert await _count(conn, "SELECT count(*) FROM ledger WHERE kind = 'release'") == 0
            with pytest.raises(jobs.UnknownJob):
                await jobs.transition(conn, 99999, "failed")
            with pytest.raises(ValueError, match="task id"):
                await jobs.transition(conn, job.id, "submitted")


async def test_two_workers_racing_to_end_a_job_release_once(db: Database) -> None:
    outcomes: list[str] = []
    with trio.fail_after(10):
        async with db.connection() as conn:
            job = (await _create(conn, "k")).job
            await _drive(conn, job.id, "submitting", "submitted")

        async def end(state: jobs.JobState) -> None:
            async with db.connection() as c:
                try:
                    changed = await jobs.transition(c, job.id, state, error_code=state)
                except jobs.IllegalTransition:
                    outcomes.append("illegal")
                else:
                    outcomes.append("changed" if changed else "no-op")

        async with trio.open_nursery() as nursery:
            for state in ("failed", "failed", "failed", "timed_out", "timed_out", "failed"):
                nursery.start_soon(end, state)
        assert outcomes.count("changed") == 1
        assert len(outcomes) == 6
        async with db.connection() as conn:
            assert await _count(conn, "SELECT count(*) FROM ledger WHERE kind = 'release'") == 1
            assert await money.get_account(conn, 1) == money.Account(user_id=1, balance=1000, held=0)
            assert await money.check_invariants(conn) == []
            assert await jobs.job_money_violations(conn) == []


async def test_lease_expiry_hands_the_job_to_another_worker(db: Database) -> None:
    with trio.fail_after(10):
        async with db.connection() as conn:
            job = (await _create(conn, "k")).job
            [mine] = await jobs.claim_jobs(conn, "w1", ["queued"], 10, 30, now=T0)
            assert (mine.id, mine.lease_owner, mine.attempts) == (job.id, "w1", 1)
            assert await jobs.claim_jobs(conn, "w2", ["queued"], 10, 30, now=T0 + timedelta(seconds=29)) == []
            assert await jobs.renew_lease(conn, job.id, "w1", 30, now=T0 + timedelta(seconds=20))
            assert await jobs.claim_jobs(conn, "w2", ["queued"], 10, 30, now=T0 + timedelta(seconds=49)) == []
            [taken] = await jobs.claim_jobs(conn, "w2", ["queued"], 10, 30, now=T0 + timedelta(seconds=51))
            assert (taken.lease_owner, taken.attempts) == ("w2", 2)
            # The first worker comes back: it lost the job and must not move it.
            assert not await jobs.renew_lease(conn, job.id, "w1", 30)
            with pytest.raises(jobs.LeaseLost):
                await jobs.transition(conn, job.id, "submitting", owner="w1")
            assert await jobs.transition(conn, job.id, "submitting", owner="w2")
            # A transient error puts it back in the queue, free for anyone at once.
            assert await jobs.transition(conn, job.id, "queued", owner="w2", note="429 from Kie")
            [again] = await jobs.claim_jobs(conn, "w3", ["queued"], 10, 30, now=T0 + timedelta(seconds=52))
            assert (again.lease_owner, again.attempts) == ("w3", 3)
            assert await jobs.release_lease(conn, job.id, "w3")
            assert not await jobs.release_lease(conn, job.id, "w3")


@pytest.mark.slow
async def test_concurrent_claims_never_overlap(db: Database) -> None:
    claimed: dict[str, list[int]] = {}
    with trio.fail_after(30):
        async with db.connection() as conn:
            await money.credit(conn, 2, 10_000, kind="welcome", key="welcome:2")
            created = [(await _create(conn, f"k{i}", user_id=2, quote=10)).job.id for i in range(160)]

        async def worker(name: str) -> None:
            mine = claimed.setdefault(name, [])
            while True:
                async with db.connection() as c:
                    batch = await jobs.claim_jobs(c, name, ["queued"], 7, 60)
                if not batch:
                    return
                mine.extend(j.id for j in batch)
                await trio.lowlevel.checkpoint()

        async with trio.open_nursery() as nursery:
            for i in range(8):
                nursery.start_soon(worker, f"w{i}")
        every = [job_id for ids in claimed.values() for job_id in ids]
        assert sorted(every) == sorted(created)  # each job claimed exactly once
        assert sum(1 for ids in claimed.values() if ids) >= 2  # the claims really were concurrent


async def test_lookups_reconcile_and_progress(db: Database) -> None:
    with trio.fail_after(10):
        async with db.connection() as conn:
            a = (await _create(conn, "a")).job
            b = (await _create(conn, "b")).job
            c = (await _create(conn, "c")).job
            await _drive(conn, b.id, "submitting", "submitted")
            await jobs.set_progress_message(conn, b.id, 555)
            assert "callback_token" not in repr(a).replace("callback_token=***", "")
            assert a.callback_token not in repr(a)
            found = await jobs.find_by_callback_token(conn, a.callback_token)
            assert found is not None
            assert found.id == a.id
            assert await jobs.find_by_callback_token(conn, "nope") is None
            assert [j.id for j in await jobs.recent_jobs(conn, 1, limit=2)] == [c.id, b.id]
            reloaded = await jobs.get_job(conn, b.id)
            assert reloaded is not None
            assert reloaded.progress_message_id == 555
            # b was submitted just now (database clock): stale only for a far-future ``now``.
            late = reloaded.updated_at + timedelta(seconds=121)
            assert [j.id for j in await jobs.jobs_needing_reconcile(conn, reloaded.updated_at)] == []
            assert [j.id for j in await jobs.jobs_needing_reconcile(conn, late)] == [b.id]
            # Past the 600 s deadline every unfinished job needs attention.
            assert await jobs.transition(conn, c.id, "cancelled")
            overdue = await jobs.jobs_needing_reconcile(
                conn, c.deadline_at + timedelta(seconds=1), stale_after_s=10**9
            )
            assert [j.id for j in overdue] == [a.id, b.id]


async def test_free_job_claims_a_use_and_gives_it_back(db: Database) -> None:
    limits = free_tier.FreeLimits(daily=5, hourly=2)
    with trio.fail_after(10):
        async with db.connection() as conn:
            job = (await _create(conn, "f1", user_id=2, quote=0, free=True, free_limits=limits, now=T0)).job
            assert not job.holds_money
            status = await free_tier.free_status(conn, 2, T0, limits)
            assert status.left_today == 4
            await _drive(conn, job.id, "submitting")
            assert await jobs.transition(conn, job.id, "failed", error_code="E")
            status = await free_tier.free_status(conn, 2, T0, limits)
            assert status.left_today == 5
            assert await _count(conn, "SELECT count(*) FROM ledger WHERE user_id = 2") == 0
            with pytest.raises(ValueError, match="free_limits"):
                await _create(conn, "f2", user_id=2, quote=0, free=True)


async def test_job_money_violations_find_orphaned_holds(db: Database) -> None:
    with trio.fail_after(10):
        async with db.connection() as conn:
            delivered = (await _create(conn, "d", quote=100)).job
            await _drive(conn, delivered.id, "submitting", "submitted", "succeeded", "delivered")
            failed = (await _create(conn, "f", quote=100)).job
            assert await jobs.transition(conn, failed.id, "failed", error_code="E")
            active = (await _create(conn, "a", quote=100)).job
            await _drive(conn, active.id, "submitting")
            assert await jobs.job_money_violations(conn) == []

            # What a crash between "job ended" and "hold settled" would leave, were they separate
            # transactions (the original bot's orphaned holds): the check names each such job.
            await conn.execute("UPDATE jobs SET state = 'timed_out' WHERE id = $1", active.id)
            orphan = (await _create(conn, "o", quote=100)).job
            await conn.execute("UPDATE jobs SET state = 'delivered' WHERE id = $1", orphan.id)
            problems = {(v.job_id, v.problem) for v in await jobs.job_money_violations(conn)}
            assert problems == {
                (active.id, "ended without result but not released"),
                (orphan.id, "delivered but not captured"),
            }
