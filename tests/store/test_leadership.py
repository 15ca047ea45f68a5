"""Leadership on a real PostgreSQL: one leader among contenders, immediate step-down on a lost or
hung connection, take-over within the retry interval, graceful hand-over, leader-only services."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
import trio

from kiebot.runtime.leader import Leadership, run_while_leader
from kiebot.store import leadership as store
from kiebot.store.db import Database

FAST = {"heartbeat_s": 0.2, "retry_s": 0.3, "timeout_s": 1.0}


async def _timed(wait: Callable[[], Awaitable[None]], limit_s: float) -> float:
    """Run ``wait()`` within ``limit_s`` seconds; returns how long it took."""
    start = trio.current_time()
    with trio.fail_after(limit_s):
        await wait()
    return trio.current_time() - start


# With a long heartbeat, stepping down within a fraction of a second proves the loss was noticed
# from the connection itself, not by the next heartbeat.
LONG_HEARTBEAT = {**FAST, "heartbeat_s": 10.0}


@contextlib.asynccontextmanager
async def _contenders(db: Database, intervals: dict[str, float]) -> AsyncIterator[tuple[Leadership, Leadership, trio.Nursery]]:
    a = Leadership(db, instance="alpha", name="test", **intervals)
    b = Leadership(db, instance="beta", name="test", **intervals)
    async with trio.open_nursery() as nursery:
        assert await nursery.start(a.run) is a
        await nursery.start(b.run)
        yield a, b, nursery
        nursery.cancel_scope.cancel()


@pytest.fixture
async def two(store_db: Database) -> AsyncIterator[tuple[Leadership, Leadership, trio.Nursery]]:
    async with _contenders(store_db, FAST) as contenders:
        yield contenders


@pytest.fixture
async def two_long(store_db: Database) -> AsyncIterator[tuple[Leadership, Leadership, trio.Nursery]]:
    async with _contenders(store_db, LONG_HEARTBEAT) as contenders:
        yield contenders


async def test_exactly_one_of_two_contenders_leads(store_db: Database, two: tuple[Leadership, Leadership, trio.Nursery]) -> None:
    a, b, _ = two
    with trio.fail_after(10):
        assert [a.is_leader, b.is_leader] == [True, False], "the first to start wins"
        assert (a.mode, b.mode) == ("active", "passive")
        await trio.sleep(1.0)  # several heartbeats and retries later, still exactly one
        assert [a.is_leader, b.is_leader] == [True, False]
        assert a.terms == 1
        assert b.terms == 0

        info = await b.current_leader()
        assert info is not None
        assert (info.instance, info.since) == ("alpha", a.since)
        assert info.heartbeat_age_s < 1.0, "heartbeats refresh the row"
        status = await b.status()
        assert status.mode == "passive"
        assert status.leader is not None
        assert (status.leader.instance, status.leader.since) == ("alpha", a.since)
        async with store_db.connection() as conn:
            assert await store.try_acquire(conn, store.lock_key("test")) is False
            assert await store.lock_holder_pid(conn, store.lock_key("test")) is not None
            assert await store.lock_holder_pid(conn, store.lock_key("other")) is None


async def test_terminated_leader_connection_moves_leadership(
    store_db: Database, two_long: tuple[Leadership, Leadership, trio.Nursery]
) -> None:
    a, b, _ = two_long
    with trio.fail_after(15):
        async with store_db.connection() as conn:
            pid = await store.lock_holder_pid(conn, store.lock_key("test"))
            assert pid is not None
            await conn.execute("SELECT pg_terminate_backend($1)", pid)
        stepped_down = await _timed(a.wait_until_follower, 5)
        assert stepped_down < 1.0, "a lost connection means stepping down at once, not at the next heartbeat"
        took_over = await _timed(b.wait_until_leader, 5)
        assert took_over <= FAST["retry_s"] + 0.5
        assert not a.is_leader
        info = await a.current_leader()
        assert info is not None
        assert (info.instance, info.since) == ("beta", b.since)
        # The old leader reconnects as a follower and stays one.
        await trio.sleep(1.0)
        assert [a.is_leader, b.is_leader] == [False, True]
        assert b.terms == 1


@pytest.mark.slow
async def test_hung_heartbeat_steps_down(store_db: Database, two: tuple[Leadership, Leadership, trio.Nursery]) -> None:
    a, b, _ = two
    with trio.fail_after(20):
        # Another session locks the leadership table: the heartbeat UPDATE now hangs.
        async with store_db.dedicated() as blocker, blocker.transaction():
            await blocker.execute("LOCK TABLE leadership IN ACCESS EXCLUSIVE MODE")
            await _timed(a.wait_until_follower, FAST["heartbeat_s"] + FAST["timeout_s"] + 1.5)
            assert not b.is_leader, "the follower cannot write the row yet either"
        # Once the table is free, exactly one of them leads again.
        async with trio.open_nursery() as race:

            async def first_leader(candidate: Leadership) -> None:
                await candidate.wait_until_leader()
                race.cancel_scope.cancel()

            race.start_soon(first_leader, a)
            race.start_soon(first_leader, b)
        await trio.sleep(0.8)
        assert [a.is_leader, b.is_leader].count(True) == 1


async def test_graceful_shutdown_hands_over_and_clears_the_row(store_db: Database) -> None:
    with trio.fail_after(15):
        a = Leadership(store_db, instance="alpha", name="test", **FAST)
        b = Leadership(store_db, instance="beta", name="test", **FAST)
        async with trio.open_nursery() as outer:
            await outer.start(b.run)
            async with trio.open_nursery() as inner:
                await _timed(b.wait_until_leader, 2)
                await inner.start(a.run)
                assert not a.is_leader
                inner.cancel_scope.cancel()
            assert b.is_leader
            outer.cancel_scope.cancel()
        assert not b.is_leader
        async with store_db.connection() as conn:
            assert await store.get_leader(conn, "test") is None, "a graceful leader removes its row"
            assert await store.try_acquire(conn, store.lock_key("test")) is True, "and its lock"


async def test_leader_only_service_runs_only_while_leading(
    store_db: Database, two_long: tuple[Leadership, Leadership, trio.Nursery]
) -> None:
    a, b, nursery = two_long
    running: dict[str, int] = {"alpha": 0, "beta": 0}
    starts: dict[str, int] = {"alpha": 0, "beta": 0}
    started = {"alpha": trio.Event(), "beta": trio.Event()}
    stopped = {"alpha": trio.Event(), "beta": trio.Event()}

    def poller(name: str) -> Callable[[], Awaitable[None]]:
        async def run() -> None:
            starts[name] += 1
            running[name] += 1
            started[name].set()
            try:
                await trio.sleep_forever()
            finally:
                running[name] -= 1
                stopped[name].set()

        return run

    nursery.start_soon(run_while_leader, a, poller("alpha"))
    nursery.start_soon(run_while_leader, b, poller("beta"))
    with trio.fail_after(15):
        await _timed(started["alpha"].wait, 2)
        assert running["beta"] == 0
        async with store_db.connection() as conn:
            pid = await store.lock_holder_pid(conn, store.lock_key("test"))
            await conn.execute("SELECT pg_terminate_backend($1)", pid)
        assert await _timed(stopped["alpha"].wait, 5) < 1.0, "cancelled the moment leadership is lost"
        await _timed(started["beta"].wait, 5)
        await trio.sleep(0.5)
        assert running == {"alpha": 0, "beta": 1}
        assert starts == {"alpha": 1, "beta": 1}


async def test_unreachable_database_starts_as_follower_and_keeps_trying(store_db: Database) -> None:
    down = Database("postgresql://nobody@127.0.0.1:1/none", pool=None)
    leadership = Leadership(down, instance="alpha", name="test", **FAST)
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            await nursery.start(leadership.run)
            assert not leadership.is_leader
            await trio.sleep(0.8)
            assert not leadership.is_leader
            nursery.cancel_scope.cancel()


def test_lock_keys_are_stable_and_distinct() -> None:
    assert store.lock_key("kiebot") == store.lock_key()
    assert store.lock_key("kiebot") != store.lock_key("test")
    assert -(2**63) <= store.lock_key("kiebot") < 2**63


async def test_idle_session_timeout_frees_the_lock_of_a_frozen_leader(store_db: Database) -> None:
    """A leader that stops heartbeating (a frozen process) loses the lock by the server's hand."""
    key = store.lock_key("frozen")
    with trio.fail_after(10):
        async with store_db.dedicated() as frozen:
            await store.prepare_session(frozen, idle_timeout_s=0.5)
            assert await frozen.fetchval("SHOW idle_session_timeout") == "500ms"
            assert await store.try_acquire(frozen, key)
            lost = frozen.lost_event()
            async with store_db.connection() as other:
                assert await store.try_acquire(other, key) is False
                assert await _timed(lost.wait, 5) < 2.0
                assert await store.try_acquire(other, key) is True
                await store.release(other, key)
