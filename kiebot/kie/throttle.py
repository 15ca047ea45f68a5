"""A sliding-window throttle for createTask: at most 20 new generations per 10 s per API key.

Kie rejects (does not queue) the excess with 429 (see the rate-limit section of
https://docs.kie.ai, "20 new generation requests per 10 seconds"). Waiting here costs nothing;
being rejected costs a round trip and a back-off. The window is exact: the 21st acquisition
within 10 s waits until the oldest of the 20 is 10 s old, no longer.

Pure trio time (``trio.current_time``), so tests run it under ``autojump_clock``. One instance per
key per process; several processes sharing a key each keep their own window, so the client still
handles a 429 from Kie.
"""

from __future__ import annotations

from collections import deque

import trio


class SlidingWindowThrottle:
    """Admit at most ``limit`` acquisitions in any ``window_s`` seconds, in arrival order."""

    def __init__(self, limit: int = 20, window_s: float = 10.0) -> None:
        if limit < 1 or window_s <= 0:
            raise ValueError("limit must be >= 1 and window_s > 0")
        self.limit = limit
        self.window_s = window_s
        self._admitted: deque[float] = deque()
        # FIFO: trio.Lock hands itself to waiters in the order they asked.
        self._lock = trio.Lock()

    def _prune(self, now: float) -> None:
        while self._admitted and self._admitted[0] <= now - self.window_s:
            self._admitted.popleft()

    def next_free_at(self) -> float:
        """The trio time at which an acquisition would be admitted (now, if there is room)."""
        now = trio.current_time()
        self._prune(now)
        if len(self._admitted) < self.limit:
            return now
        return self._admitted[0] + self.window_s

    async def acquire(self) -> None:
        """Wait for room in the window, then take a slot (which stays taken for ``window_s``)."""
        async with self._lock:
            while True:
                free_at = self.next_free_at()
                now = trio.current_time()
                if free_at <= now:
                    break
                await trio.sleep_until(free_at)
            self._admitted.append(trio.current_time())
