"""The one loop that works through rows claimed with a lease: inbox updates and generation jobs.

Claim up to the free slots (``FOR UPDATE SKIP LOCKED`` in the caller's claim, with a lease, so any
number of instances share the work and a dead worker's row is claimed again when its lease runs
out), run each item in its own task and cancel scope, renew its lease every third of it while the
work goes on, and count what finished. At most ``concurrency`` items run at once; a claim that
returned fewer items than it asked for is not repeated at once (that second claim would come back
empty and cost a round trip): the loop waits for a wake-up, a freed slot or the poll interval.

The callers keep what differs: what a claim is, what the work does with a failure, and whether a
lost lease cancels the work (an update must never be handled twice at once) or only stops the
renewals (a job's work gives its lease up itself when it moves the job on).

Tests await :meth:`LeasedWork.wait_finished` instead of polling the database.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

import trio

from kiebot.logs import request_context
from kiebot.store.db import DatabaseUnavailable

log = logging.getLogger(__name__)

T = TypeVar("T")


class Waiter(Protocol):
    """Something that returns when there may be new work (a NOTIFY, an in-process nudge) or after
    ``timeout_s``; a lost wake-up costs at most one poll interval, never an item."""

    async def wait(self, timeout_s: float) -> object: ...


@dataclass
class LeaseWatch:
    """Handed to the work: ``lost`` turns true when a renewal found the lease taken by another worker."""

    lost: bool = False


@contextlib.asynccontextmanager
async def constant_waiter(waiter: Waiter) -> AsyncIterator[Waiter]:
    """For a waiter that needs no connection of its own (an in-process nudge)."""
    yield waiter


class LeasedWork(Generic[T]):
    """Claim, run, renew, count. Start with ``nursery.start(work.run)``; :meth:`stop` stops claiming.

    Args:
        name: for logs.
        claim: ``claim(n)`` claims at most ``n`` items (one statement); may raise
            :class:`DatabaseUnavailable`.
        work: runs one item; exceptions other than ``DatabaseUnavailable`` are the work's to handle
            (they are logged here as a last resort).
        renew: extends one item's lease; False when it is no longer ours.
        label: the item's ``request_id`` in logs.
        open_waiter: an async context giving the :class:`Waiter` for the loop's lifetime (it is
            opened again after a database outage).
        cancel_on_lost_lease: cancel the work when a renewal finds the lease gone.
    """

    def __init__(
        self,
        name: str,
        *,
        claim: Callable[[int], Awaitable[Sequence[T]]],
        work: Callable[[T, LeaseWatch], Awaitable[None]],
        renew: Callable[[T], Awaitable[bool]],
        label: Callable[[T], str],
        open_waiter: Callable[[], contextlib.AbstractAsyncContextManager[Waiter]],
        concurrency: int,
        lease_s: float,
        poll_s: float = 1.0,
        max_batch: int = 50,
        cancel_on_lost_lease: bool = False,
    ) -> None:
        if concurrency < 1 or lease_s <= 0 or poll_s <= 0 or max_batch < 1:
            raise ValueError("concurrency and max_batch must be >= 1, lease_s and poll_s > 0")
        self.name = name
        self._claim = claim
        self._work = work
        self._renew = renew
        self._label = label
        self._open_waiter = open_waiter
        self._concurrency = concurrency
        self._lease_s = lease_s
        self._poll_s = poll_s
        self._max_batch = max_batch
        self._cancel_on_lost_lease = cancel_on_lost_lease
        self._stopping = trio.Event()
        self._changed = trio.Event()
        self.in_flight = 0
        #: Items whose work has ended (however it ended), since start.
        self.finished = 0

    @property
    def lease_s(self) -> float:
        return self._lease_s

    def stop(self) -> None:
        """Stop claiming; work already running goes on (graceful shutdown)."""
        self._stopping.set()
        self._notify()

    async def wait_finished(self, count: int) -> None:
        """Return once at least ``count`` items have finished since start (tests await this)."""
        while self.finished < count:
            await self._next_change()

    async def run(self, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            task_status.started()
            while not self._stopping.is_set():
                try:
                    async with self._open_waiter() as waiter:
                        await self._serve(nursery, waiter)
                except DatabaseUnavailable:
                    log.warning("%s: database unavailable; retrying", self.name)
                    with trio.move_on_after(1.0):
                        await self._stopping.wait()

    async def _serve(self, nursery: trio.Nursery, waiter: Waiter) -> None:
        while not self._stopping.is_set():
            free = self._concurrency - self.in_flight
            if free <= 0:
                with trio.move_on_after(self._poll_s):
                    await self._next_change()
                continue
            asked = min(free, self._max_batch)
            batch = await self._claim(asked)
            for item in batch:
                self.in_flight += 1
                nursery.start_soon(self._one, item)
            if len(batch) < asked:
                await self._wait_for_work(waiter)

    async def _wait_for_work(self, waiter: Waiter) -> None:
        """Until a wake-up, a finished item (its successor may now be claimable), stop, or the poll."""
        with trio.move_on_after(self._poll_s):
            async with trio.open_nursery() as nursery:

                async def woken() -> None:
                    await waiter.wait(self._poll_s)
                    nursery.cancel_scope.cancel()

                async def changed() -> None:
                    await self._next_change()
                    nursery.cancel_scope.cancel()

                nursery.start_soon(woken)
                nursery.start_soon(changed)

    async def _one(self, item: T) -> None:
        try:
            with request_context(self._label(item)):
                watch = LeaseWatch()
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(self._keep_lease, item, watch, nursery.cancel_scope)
                    try:
                        await self._work(item, watch)
                    except DatabaseUnavailable:
                        log.warning("%s: database unavailable while working; the item is retried", self.name)
                    except Exception:
                        log.exception("%s: work failed; the item is retried", self.name)
                    nursery.cancel_scope.cancel()
        finally:
            self.in_flight -= 1
            self.finished += 1
            self._notify()

    async def _keep_lease(self, item: T, watch: LeaseWatch, work_scope: trio.CancelScope) -> None:
        """Renew every third of the lease while the work goes on; stop once the lease is not ours."""
        while True:
            await trio.sleep(self._lease_s / 3)
            try:
                kept = await self._renew(item)
            except DatabaseUnavailable:
                continue  # try again; if the lease runs out meanwhile, another worker may take the item
            if not kept:
                watch.lost = True
                if self._cancel_on_lost_lease:
                    work_scope.cancel()
                return

    def _notify(self) -> None:
        self._changed.set()
        self._changed = trio.Event()

    async def _next_change(self) -> None:
        await self._changed.wait()
