"""One process-wide budget for media bytes held in memory (``MEDIA_MEMORY_MB``, issue 17 item 3).

Up to ``GENERATION_CONCURRENCY`` jobs move media at once — results of up to 50 MB from Kie to
Telegram, user files of up to 20 MB from Telegram to Kie. Held whole in memory that is gigabytes
on a 512 MB plan. So media travel through :class:`~kiebot.generation.media_file.MediaFile`
(small files in memory, the rest streamed to a temporary file), and every byte such a file keeps
in memory is first taken from this budget and given back when it is written to disk or the file
is closed. What is not counted: the one network chunk (about 64 KiB) each transfer has in hand
while it reads or writes.

Two ways to take:

* :meth:`MediaBudget.take` waits until the bytes fit (first come, first served) — for the short
  write batches on their way to disk, which are given back without waiting on anything else;
* :meth:`MediaBudget.try_take` never waits and keeps half the budget free — for a small file that
  would like to stay in memory; when it does not fit the file goes to disk instead. Because these
  long holds can never fill more than half, the waiting takes always progress (no deadlock).

:attr:`MediaBudget.peak` is the high-water mark, for tests and the health of a deployment.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import trio

MIB = 1024 * 1024


@dataclass(eq=False)
class _Waiter:
    size: int
    event: trio.Event = field(default_factory=trio.Event)
    granted: bool = False


class MediaBudget:
    """Bytes of media in memory, at most ``limit_bytes`` across the process.

    Args:
        limit_bytes: the bound (``MEDIA_MEMORY_MB`` × 1 MiB).
        small_file_bytes: a file up to this size may stay in memory (if :meth:`try_take` agrees).
        write_batch_bytes: bytes gathered before one write to disk (at most a quarter of the budget).
    """

    def __init__(self, limit_bytes: int, *, small_file_bytes: int = 4 * MIB, write_batch_bytes: int = 256 * 1024) -> None:
        if limit_bytes <= 0:
            raise ValueError("the media memory budget must be positive")
        self.limit = limit_bytes
        self.small_file_bytes = min(small_file_bytes, limit_bytes // 2)
        self.write_batch_bytes = max(1, min(write_batch_bytes, limit_bytes // 4))
        self.in_use = 0
        self.peak = 0
        self._waiters: deque[_Waiter] = deque()

    def __repr__(self) -> str:
        return f"MediaBudget(limit={self.limit}, in_use={self.in_use}, peak={self.peak})"

    def _grant(self, size: int) -> None:
        self.in_use += size
        self.peak = max(self.peak, self.in_use)

    def try_take(self, size: int) -> bool:
        """Take ``size`` bytes now if, after it, at least half the budget stays free; else False."""
        if size < 0:
            raise ValueError("size must be >= 0")
        if self._waiters or self.in_use + size > self.limit // 2:
            return False
        self._grant(size)
        return True

    async def take(self, size: int) -> None:
        """Wait until ``size`` bytes fit, then take them (a request larger than the whole budget
        is cut to the budget, so it waits for an empty budget rather than forever)."""
        if size < 0:
            raise ValueError("size must be >= 0")
        size = min(size, self.limit)
        if not self._waiters and self.in_use + size <= self.limit:
            self._grant(size)
            await trio.lowlevel.checkpoint()
            return
        waiter = _Waiter(size)
        self._waiters.append(waiter)
        done = False
        try:
            await waiter.event.wait()
            done = True
        finally:
            if not done:  # cancelled: give back what was granted meanwhile, or leave the queue
                if waiter.granted:
                    self.give(size)
                else:
                    self._waiters.remove(waiter)
                    self._wake()

    def give(self, size: int) -> None:
        """Give back ``size`` bytes taken earlier (what :meth:`take` took: at most the limit)."""
        if size < 0 or size > self.in_use:
            raise ValueError(f"giving back {size} bytes, but {self.in_use} are in use")
        self.in_use -= size
        self._wake()

    def _wake(self) -> None:
        while self._waiters and self.in_use + self._waiters[0].size <= self.limit:
            waiter = self._waiters.popleft()
            waiter.granted = True
            self._grant(waiter.size)
            waiter.event.set()
