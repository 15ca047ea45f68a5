"""The createTask window (20 per 10 s) under virtual time: exact waits, FIFO, cancellation."""

from __future__ import annotations

import pytest
import trio
import trio.testing

from kiebot.kie.throttle import SlidingWindowThrottle


async def test_21st_acquisition_waits_exactly_until_the_window_frees(
    autojump_clock: trio.testing.MockClock,
) -> None:
    with trio.fail_after(60):
        throttle = SlidingWindowThrottle(20, 10.0)
        t0 = trio.current_time()
        for _ in range(20):
            await throttle.acquire()
        assert trio.current_time() == t0
        await throttle.acquire()
        assert trio.current_time() == t0 + 10.0


async def test_window_slides_with_spread_out_acquisitions(autojump_clock: trio.testing.MockClock) -> None:
    with trio.fail_after(60):
        throttle = SlidingWindowThrottle(3, 10.0)
        t0 = trio.current_time()
        admitted = []
        for _ in range(3):
            await throttle.acquire()
            admitted.append(trio.current_time() - t0)
            await trio.sleep(1.0)
        # Now at t0+3; the window holds t0, t0+1, t0+2.
        for _ in range(3):
            await throttle.acquire()
            admitted.append(trio.current_time() - t0)
        assert admitted == [0.0, 1.0, 2.0, 10.0, 11.0, 12.0]
        assert throttle.next_free_at() == t0 + 20.0


async def test_waiters_are_admitted_in_arrival_order(autojump_clock: trio.testing.MockClock) -> None:
    with trio.fail_after(60):
        throttle = SlidingWindowThrottle(2, 5.0)
        order: list[tuple[int, float]] = []
        t0 = trio.current_time()

        async def worker(n: int) -> None:
            await throttle.acquire()
            order.append((n, trio.current_time() - t0))

        async with trio.open_nursery() as nursery:
            for n in range(5):
                nursery.start_soon(worker, n)
                await trio.testing.wait_all_tasks_blocked()
        assert order == [(0, 0.0), (1, 0.0), (2, 5.0), (3, 5.0), (4, 10.0)]


async def test_a_cancelled_waiter_takes_no_slot(autojump_clock: trio.testing.MockClock) -> None:
    with trio.fail_after(60):
        throttle = SlidingWindowThrottle(1, 10.0)
        t0 = trio.current_time()
        await throttle.acquire()
        with trio.move_on_after(3):
            await throttle.acquire()
        assert trio.current_time() == t0 + 3
        await throttle.acquire()
        assert trio.current_time() == t0 + 10.0


def test_rejects_nonsense_limits() -> None:
    with pytest.raises(ValueError):
        SlidingWindowThrottle(0, 10)
    with pytest.raises(ValueError):
        SlidingWindowThrottle(1, 0)
