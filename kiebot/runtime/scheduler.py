"""Periodic jobs, run by the leader only (one instance does each, whatever the deployment size).

Each job runs in its own loop: a failure is logged and the job tries again at its next slot; a
slow job never delays another. Intervals are wall-clock-free (trio time), so tests run the whole
schedule under a virtual clock.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import trio

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Periodic:
    """``fn`` every ``every_s`` seconds, the first time after ``first_after_s``."""

    name: str
    every_s: float
    fn: Callable[[], Awaitable[object]]
    first_after_s: float = 0.0


async def _loop(job: Periodic) -> None:
    await trio.sleep(job.first_after_s)
    while True:
        try:
            await job.fn()
        except Exception:
            log.exception("scheduled job failed", extra={"job": job.name})
        await trio.sleep(job.every_s)


async def run_schedule(jobs: Sequence[Periodic], *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
    async with trio.open_nursery() as nursery:
        for job in jobs:
            nursery.start_soon(_loop, job, name=f"scheduler:{job.name}")
        task_status.started()
