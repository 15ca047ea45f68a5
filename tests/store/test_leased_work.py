"""The leased-work loop shared by the inbox dispatcher and the generation stages, on its own:
claims are in-memory functions, time is trio's virtual clock (no socket is awaited)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from functools import partial

import pytest
import trio
import trio.testing

from kiebot.store.db import DatabaseUnavailable
from kiebot.store.leased_work import LeasedWork, LeaseWatch, constant_waiter


class Nudge:
    """An in-process waiter, like the generation stages' ``Wakeup``."""

    def __init__(self) -> None:
        self.event = trio.Event()

    def signal(self) -> None:
        self.event.set()

    async def wait(self, timeout_s: float) -> None:
        with trio.move_on_after(timeout_s):
            await self.event.wait()
        self.event = trio.Event()


class Queue:
    """Items 0..n-1; item i+1 is claimable only after item i finished when ``chained`` (like two
    updates of one chat)."""

    def __init__(self, n: int, *, chained: bool = False) -> None:
        self.pending = list(range(n))
        self.chained = chained
        self.running: set[int] = set()
        self.claims: list[int] = []  # how many items each claim returned

    async def claim(self, limit: int) -> Sequence[int]:
        if self.chained:
            batch = self.pending[:1] if not self.running and self.pending else []
        else:
            batch = self.pending[:limit]
        for item in batch:
            self.pending.remove(item)
            self.running.add(item)
        self.claims.append(len(batch))
        return batch


def _loop(queue: Queue, work, *, concurrency: int = 4, renew=None, cancel_on_lost_lease: bool = False, poll_s: float = 5.0, admission=None) -> LeasedWork[int]:  # type: ignore[no-untyped-def]
    async def always(item: int) -> bool:
        return True

    return LeasedWork(
        "test",
        claim=queue.claim,
        work=work,
        renew=renew or always,
        label=str,
        open_waiter=partial(constant_waiter, Nudge()),
        concurrency=concurrency,
        lease_s=3.0,
        poll_s=poll_s,
        cancel_on_lost_lease=cancel_on_lost_lease,
        admission=admission,
    )


@contextlib.asynccontextmanager
async def _running(loop: LeasedWork[int]) -> AsyncIterator[None]:
    """The loop runs while the block does and is stopped at its end."""
    async with trio.open_nursery() as nursery:
        await nursery.start(loop.run)
        yield
        loop.stop()


async def test_runs_everything_at_most_concurrency_at_once(autojump_clock: trio.testing.MockClock) -> None:
    queue = Queue(10)
    peak = 0

    async def work(item: int, lease: LeaseWatch) -> None:
        nonlocal peak
        peak = max(peak, len(queue.running))
        await trio.sleep(1)
        queue.running.discard(item)

    loop = _loop(queue, work, concurrency=4)
    with trio.fail_after(60):
        async with _running(loop):
            await loop.wait_finished(10)
    assert peak == 4
    assert queue.pending == []
    assert loop.finished == 10
    assert loop.in_flight == 0


async def test_a_partial_batch_is_not_followed_by_an_empty_claim(autojump_clock: trio.testing.MockClock) -> None:
    """Three items, room for eight: one claim takes all three; the loop then waits (for a wake-up,
    a finished item or the poll) instead of asking again at once and getting nothing."""
    queue = Queue(3)
    release = trio.Event()

    async def work(item: int, lease: LeaseWatch) -> None:
        await release.wait()

    loop = _loop(queue, work, concurrency=8, poll_s=30.0)
    with trio.fail_after(120):
        async with _running(loop):
            await trio.sleep(10)  # well inside the poll interval
            assert queue.claims == [3]
            release.set()
            await loop.wait_finished(3)


async def test_a_finished_item_lets_its_successor_be_claimed_at_once(autojump_clock: trio.testing.MockClock) -> None:
    """Like two updates of one chat: the second is claimable only when the first is done. It must
    be claimed when the first finishes, not one poll interval later."""
    queue = Queue(2, chained=True)
    started_at: list[float] = []

    async def work(item: int, lease: LeaseWatch) -> None:
        started_at.append(trio.current_time())
        await trio.sleep(1)
        queue.running.discard(item)

    loop = _loop(queue, work, poll_s=30.0)
    with trio.fail_after(120):
        async with _running(loop):
            await loop.wait_finished(2)
    assert len(started_at) == 2
    assert started_at[1] - started_at[0] < 2.0


@pytest.mark.parametrize("cancel", [True, False])
async def test_a_lost_lease_cancels_the_work_only_when_asked(autojump_clock: trio.testing.MockClock, cancel: bool) -> None:
    queue = Queue(1)
    completed: list[bool] = []
    seen_lost: list[bool] = []

    async def work(item: int, lease: LeaseWatch) -> None:
        await trio.sleep(5)  # the lease (3 s) is renewed at 1 s: lost
        seen_lost.append(lease.lost)
        completed.append(True)

    async def renew(item: int) -> bool:
        return False

    loop = _loop(queue, work, renew=renew, cancel_on_lost_lease=cancel)
    with trio.fail_after(60):
        async with _running(loop):
            await loop.wait_finished(1)
    if cancel:
        assert completed == []
    else:
        assert completed == [True]
        assert seen_lost == [True]


async def test_a_failing_item_does_not_stop_the_loop(autojump_clock: trio.testing.MockClock) -> None:
    queue = Queue(3)

    async def work(item: int, lease: LeaseWatch) -> None:
        if item == 1:
            raise RuntimeError("boom")

    loop = _loop(queue, work)
    with trio.fail_after(60):
        async with _running(loop):
            await loop.wait_finished(3)
    assert loop.finished == 3


async def test_a_finish_that_says_nothing_more_is_claimable_is_not_followed_by_a_claim(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Issue 18: the dispatcher knows from the statement that marks an update done whether its chat
    has another one; when not, the loop waits for a wake-up or the poll instead of asking again
    (that claim would come back empty). Before, every finished item caused one more claim."""
    queue = Queue(1)

    async def work(item: int, lease: LeaseWatch) -> bool:
        queue.running.discard(item)
        return False

    loop = _loop(queue, work, poll_s=30.0)
    with trio.fail_after(120):
        async with trio.open_nursery() as nursery:
            await nursery.start(loop.run)
            await loop.wait_finished(1)
            await trio.sleep(10)  # well inside the poll interval
            assert queue.claims == [1]
            await trio.sleep(25)  # the poll still looks
            assert queue.claims == [1, 0]
            loop.stop()


async def test_a_finish_that_says_more_is_claimable_is_followed_by_a_claim(autojump_clock: trio.testing.MockClock) -> None:
    queue = Queue(2, chained=True)

    async def work(item: int, lease: LeaseWatch) -> bool:
        queue.running.discard(item)
        return item == 0  # the first knows its successor waits

    loop = _loop(queue, work, poll_s=30.0)
    with trio.fail_after(120):
        async with trio.open_nursery() as nursery:
            await nursery.start(loop.run)
            await loop.wait_finished(2)
            assert trio.current_time() < 5
            loop.stop()
    assert queue.claims[:2] == [1, 1]


class Busy:
    """An admission like the intake gate: ``limit`` at once while ``busy``."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.busy = True
        self.quiet = trio.Event()

    def allowed(self, concurrency: int, in_flight: int) -> int:
        return min(concurrency, self.limit) if self.busy else concurrency

    async def wait_for_more(self) -> None:
        await self.quiet.wait()

    def end(self) -> None:
        self.busy = False
        self.quiet.set()


async def test_an_admission_holds_the_concurrency_down_until_it_allows_more(autojump_clock: trio.testing.MockClock) -> None:
    queue = Queue(8)
    busy = Busy(1)
    peaks: list[tuple[bool, int]] = []

    async def work(item: int, lease: LeaseWatch) -> None:
        peaks.append((busy.busy, len(queue.running)))
        await trio.sleep(1)
        queue.running.discard(item)

    loop = _loop(queue, work, concurrency=4, admission=busy)
    with trio.fail_after(120):
        async with trio.open_nursery() as nursery:
            await nursery.start(loop.run)
            await trio.sleep(2.5)
            assert max(n for was_busy, n in peaks if was_busy) == 1
            busy.end()
            await loop.wait_finished(8)
            loop.stop()
    assert max(n for was_busy, n in peaks if not was_busy) == 4


async def test_a_lost_waiter_while_idle_is_reopened_not_a_crash(autojump_clock: trio.testing.MockClock) -> None:
    """The idle loop waits on the waiter and on finished items together; a waiter whose connection
    is lost (the database went away) must reach ``run`` as DatabaseUnavailable, which reopens it —
    not as an exception group that crashes the service and cancels the work in flight (found by
    tests/app/test_resilience.py: an update handled twice)."""
    queue = Queue(1)
    opened: list[int] = []

    class Broken:
        async def wait(self, timeout_s: float) -> None:
            await trio.sleep(0.5)
            raise DatabaseUnavailable("listener lost")

    @contextlib.asynccontextmanager
    async def open_waiter() -> AsyncIterator[object]:
        opened.append(1)
        yield Broken() if len(opened) == 1 else Nudge()

    async def work(item: int, lease: LeaseWatch) -> bool:
        queue.running.discard(item)
        return False

    async def kept(item: int) -> bool:
        return True

    loop: LeasedWork[int] = LeasedWork(
        "test", claim=queue.claim, work=work, renew=kept, label=str,
        open_waiter=open_waiter, concurrency=2, lease_s=3.0, poll_s=30.0,  # type: ignore[arg-type]
    )
    with trio.fail_after(120):
        async with trio.open_nursery() as nursery:
            await nursery.start(loop.run)
            await trio.sleep(5)
            loop.stop()
    assert len(opened) == 2
    assert loop.finished == 1
