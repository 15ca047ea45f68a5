"""Intake first: while webhook requests are being answered, only a few handlers run.

Why (issue 18): on one core, trio runs every ready task in turn and has no priorities, so each
handler that is running adds its steps to every scheduling round, and an acknowledgement takes
several rounds (read the body, hand it to the group-commit writer, the INSERT across the
trio-asyncio bridge, the answer). With sixteen handlers busy with ``/start``s, a 500 updates/s
burst was acknowledged in 0.4–0.7 s. Telegram needs only the acknowledgement to be fast (the
update is stored by then and handled from the inbox), so while requests are arriving the
dispatcher runs at most :attr:`kiebot.limits.Limits.dispatch_concurrency_under_intake` handlers;
the inbox grows during a burst (its lag is in ``/metrics``) and drains at full concurrency once
intake has been quiet for :attr:`kiebot.limits.Limits.intake_quiet_s`.

The webhook marks each request with :meth:`IntakeGate.request`; the dispatcher's
:class:`kiebot.store.leased_work.LeasedWork` asks :meth:`IntakeGate.allowed` before claiming.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import trio


class IntakeGate:
    """Tracks webhook requests in flight and the last moment one ended.

    Args:
        busy_concurrency: handlers allowed while intake is busy (at least 1, so handling never
            stops altogether under a sustained load).
        quiet_s: intake counts as busy until this long after its last request ended.
    """

    def __init__(self, *, busy_concurrency: int, quiet_s: float) -> None:
        if busy_concurrency < 1 or quiet_s < 0:
            raise ValueError("busy_concurrency must be >= 1 and quiet_s >= 0")
        self._busy_concurrency = busy_concurrency
        self._quiet_s = quiet_s
        self._active = 0
        self._last_end = -float("inf")
        self._idle = trio.Event()
        self._idle.set()

    @contextlib.contextmanager
    def request(self) -> Iterator[None]:
        """Around one webhook request, from its first byte to its answer."""
        self._active += 1
        if self._idle.is_set():
            self._idle = trio.Event()
        try:
            yield
        finally:
            self._active -= 1
            self._last_end = trio.current_time()
            if self._active == 0:
                self._idle.set()

    def busy(self) -> bool:
        return self._active > 0 or trio.current_time() - self._last_end < self._quiet_s

    def allowed(self, concurrency: int) -> int:
        """How many handlers may run now: ``concurrency``, or fewer while intake is busy."""
        return min(concurrency, self._busy_concurrency) if self.busy() else concurrency

    async def wait_for_more(self) -> None:
        """Return once intake has been quiet for ``quiet_s`` (more handlers may run then)."""
        while True:
            await self._idle.wait()
            remaining = self._last_end + self._quiet_s - trio.current_time()
            if remaining <= 0 and self._active == 0:
                return
            await trio.sleep(max(0.0, remaining))
