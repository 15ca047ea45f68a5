"""Intake first: while webhook requests arrive on a busy event loop, only a few handlers run.

Why (issue 18): on one core, trio runs every ready task in turn and has no priorities, so each
handler that is running adds its steps to every scheduling round, and an acknowledgement takes
several rounds (read the body, hand it to the group-commit writer, the INSERT across the
trio-asyncio bridge, the answer). With sixteen handlers busy with ``/start``s, a 500 updates/s
burst was acknowledged in 0.4–0.7 s. Telegram needs only the acknowledgement to be fast (the
update is stored by then and handled from the inbox), so the dispatcher asks this gate how many
handlers may run (:class:`kiebot.store.leased_work.Admission`):

* intake quiet (no request in flight, none ended within ``quiet_s``): all of them;
* intake busy and the loop congested — a scheduling round, sampled every ``probe_every_s`` while
  intake is busy, took longer than ``lag_budget_s`` — at most ``busy_concurrency``: the inbox
  grows during the burst (its lag is in ``/metrics``) and drains once intake is quiet;
* intake busy, loop not congested: two more than are running at each claim, so a bot whose
  handlers mostly wait for Telegram or Kie (the production case: the CPU is idle) still reaches
  full concurrency under a steady stream of webhooks, while a CPU-bound one cannot jump from a
  few handlers to all of them between two samples.

The webhook marks each request with :meth:`IntakeGate.request`; :meth:`IntakeGate.run` is the
sampling task (without it the loop never counts as congested).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import trio

#: Handlers added per claim while intake is busy on an uncongested loop.
RAMP = 2


class IntakeGate:
    """Tracks webhook requests in flight, the last moment one ended, and the loop's round time.

    Args:
        busy_concurrency: handlers allowed while intake is busy on a congested loop (at least 1,
            so handling never stops altogether under a sustained load).
        quiet_s: intake counts as busy until this long after its last request ended.
        lag_budget_s: a scheduling round longer than this (smoothed) means the loop is congested.
        probe_every_s: how often the round time is sampled while intake is busy.
    """

    def __init__(
        self, *, busy_concurrency: int, quiet_s: float, lag_budget_s: float = 0.002, probe_every_s: float = 0.01
    ) -> None:
        if busy_concurrency < 1 or quiet_s < 0 or lag_budget_s <= 0 or probe_every_s <= 0:
            raise ValueError("busy_concurrency must be >= 1, quiet_s >= 0, lag_budget_s and probe_every_s > 0")
        self._busy_concurrency = busy_concurrency
        self._quiet_s = quiet_s
        self._lag_budget_s = lag_budget_s
        self._probe_every_s = probe_every_s
        self._active = 0
        self._last_end = -float("inf")
        self._idle = trio.Event()
        self._idle.set()
        self._arrived = trio.Event()
        #: Smoothed duration of one scheduling round while intake is busy, in seconds.
        self.lag_s = 0.0

    @contextlib.contextmanager
    def request(self) -> Iterator[None]:
        """Around one webhook request, from its first byte to its answer."""
        self._active += 1
        if self._idle.is_set():
            self._idle = trio.Event()
        self._arrived.set()
        try:
            yield
        finally:
            self._active -= 1
            self._last_end = trio.current_time()
            if self._active == 0:
                self._idle.set()

    def busy(self) -> bool:
        return self._active > 0 or trio.current_time() - self._last_end < self._quiet_s

    def congested(self) -> bool:
        return self.busy() and self.lag_s > self._lag_budget_s

    def allowed(self, concurrency: int, in_flight: int) -> int:
        """How many handlers may run now (see the module's docstring)."""
        if not self.busy():
            return concurrency
        if self.lag_s > self._lag_budget_s:
            return min(concurrency, self._busy_concurrency)
        return min(concurrency, max(in_flight + RAMP, self._busy_concurrency))

    async def wait_for_more(self) -> None:
        """Return once more handlers may run: intake quiet, or the loop no longer congested."""
        while self.busy():
            if not self.congested():
                return
            if self._active == 0:
                # Quiet soon, unless another request comes; the lag is sampled meanwhile.
                remaining = self._last_end + self._quiet_s - trio.current_time()
                await trio.sleep(max(0.0, min(remaining, self._probe_every_s)))
            else:
                await trio.sleep(self._probe_every_s)

    async def run(self, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Sample the loop while intake is busy: how late a short sleep wakes up, and how long one
        scheduling round takes. Trio runs a round's tasks in a shuffled order, so one sample may
        miss the busy tasks: the estimate jumps up at once and decays over several samples."""
        task_status.started()
        while True:
            if not self.busy():
                self.lag_s = 0.0
                await self._arrived.wait()
            self._arrived = trio.Event()
            began = trio.current_time()
            await trio.sleep(self._probe_every_s)
            late = trio.current_time() - began - self._probe_every_s
            began = trio.current_time()
            await trio.lowlevel.checkpoint()
            sample = max(late, trio.current_time() - began)
            self.lag_s = sample if sample > self.lag_s else 0.85 * self.lag_s + 0.15 * sample
