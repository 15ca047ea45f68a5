"""One shared pace for Kie's discovery endpoints: ``/api/v1/models``, ``/price``, ``/schema`` and
``/success-rate`` have **one** budget of 1 request/s per account (reference: kie-live-truth §3).

Over it Kie answers ``code: 429`` inside an HTTP 200 and does not queue the request, so every caller
of those four endpoints in a process (the daily catalogue sync, the 15-minute health read) takes
its turn here: calls leave at least ``min_interval_s`` apart (1.1 s: a margin over 1/s for clock
jitter), and a 429 pushes the next turn out for everyone (:meth:`Pacer.hold`).

Pure trio time, so tests run it under ``autojump_clock``.
"""

from __future__ import annotations

import trio

DEFAULT_INTERVAL_S = 1.1


class Pacer:
    """Admit one call per ``min_interval_s``, in arrival order (trio.Lock is FIFO)."""

    def __init__(self, min_interval_s: float = DEFAULT_INTERVAL_S) -> None:
        if min_interval_s < 0:
            raise ValueError("min_interval_s must be >= 0")
        self.min_interval_s = min_interval_s
        self._next_at = float("-inf")
        self._lock = trio.Lock()

    async def acquire(self) -> None:
        """Wait for this caller's turn, then book the next turn ``min_interval_s`` later."""
        async with self._lock:
            if trio.current_time() < self._next_at:
                await trio.sleep_until(self._next_at)
            self._next_at = trio.current_time() + self.min_interval_s

    def hold(self, seconds: float) -> None:
        """Nobody calls for ``seconds`` from now (Kie said 429: the shared budget is spent)."""
        self._next_at = max(self._next_at, trio.current_time() + max(0.0, seconds))
