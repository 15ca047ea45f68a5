"""The generation workers of one instance: a submit stage and a delivery stage.

Each stage claims jobs from the database (``FOR UPDATE SKIP LOCKED`` with a lease, so any number
of instances share the work and a dead worker's job is taken again when its lease expires) and
runs each one in its own task, at most ``GENERATION_CONCURRENCY`` at once per stage. Waiting for
Kie holds no task at all: a submitted job waits in the database for its callback (or the
leader's poll), which is what lets thousands of jobs be in flight on a small instance.

On shutdown :meth:`GenerationWorkers.stop` stops claiming; jobs already being worked on get the
grace period; any job left mid-way keeps its row state and lease, and is resumed after restart.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from functools import partial

import trio

from kiebot.generation.deliver import deliver_job
from kiebot.generation.deps import GenDeps, Wakeup
from kiebot.generation.notify import Notifier
from kiebot.generation.submit import submit_job
from kiebot.logs import request_context
from kiebot.store import jobs as jobs_store
from kiebot.store.db import DatabaseUnavailable
from kiebot.store.jobs import Job, JobState

log = logging.getLogger(__name__)

SUBMIT_LEASE_S = 300.0
DELIVER_LEASE_S = 600.0


class _Stage:
    def __init__(
        self,
        deps: GenDeps,
        name: str,
        states: tuple[JobState, ...],
        work: Callable[[Job], Awaitable[None]],
        wakeup: Wakeup,
        *,
        concurrency: int,
        lease_s: float,
        poll_s: float,
        stopping: trio.Event,
    ) -> None:
        self._deps = deps
        self._name = name
        self._states = states
        self._work = work
        self._wakeup = wakeup
        self._concurrency = concurrency
        self._lease_s = lease_s
        self._poll_s = poll_s
        self._stopping = stopping
        self._in_flight = 0
        self._freed = trio.Event()

    async def run(self, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            task_status.started()
            while not self._stopping.is_set():
                free = self._concurrency - self._in_flight
                if free <= 0:
                    self._freed = trio.Event()
                    with trio.move_on_after(self._poll_s):
                        await self._freed.wait()
                    continue
                try:
                    async with self._deps.db.connection() as conn:
                        batch = await jobs_store.claim_jobs(
                            conn, self._deps.worker, self._states, min(free, 50), self._lease_s
                        )
                except DatabaseUnavailable:
                    log.warning("%s stage: database unavailable", self._name)
                    await trio.sleep(1.0)
                    continue
                if not batch:
                    with trio.move_on_after(self._poll_s):
                        await self._wait_for_work()
                    continue
                for job in batch:
                    self._in_flight += 1
                    nursery.start_soon(self._one, job)

    async def _wait_for_work(self) -> None:
        async with trio.open_nursery() as nursery:
            async def wake() -> None:
                await self._wakeup.wait(self._poll_s)
                nursery.cancel_scope.cancel()

            async def stop() -> None:
                await self._stopping.wait()
                nursery.cancel_scope.cancel()

            nursery.start_soon(wake)
            nursery.start_soon(stop)

    async def _one(self, job: Job) -> None:
        try:
            with request_context(job.request_id or f"j{job.id}"):
                try:
                    await self._work(job)
                except DatabaseUnavailable:
                    log.warning("%s: database unavailable; the job is retried when its lease expires", self._name)
                except Exception:
                    log.exception("%s stage failed on a job; it is retried when its lease expires", self._name, extra={"job_id": job.id})
        finally:
            self._in_flight -= 1
            self._freed.set()


class GenerationWorkers:
    """Both stages of one instance; start with ``nursery.start(workers.run)``."""

    def __init__(self, deps: GenDeps, notifier: Notifier, *, concurrency: int, poll_s: float = 1.0) -> None:
        self.deps = deps
        self.notifier = notifier
        self._stopping = trio.Event()
        self._submit = _Stage(
            deps, "submit", ("queued",), partial(submit_job, deps, notifier), deps.submit_wakeup,
            concurrency=concurrency, lease_s=SUBMIT_LEASE_S, poll_s=poll_s, stopping=self._stopping,
        )
        self._deliver = _Stage(
            deps, "deliver", ("succeeded",), partial(deliver_job, deps, notifier), deps.deliver_wakeup,
            concurrency=concurrency, lease_s=DELIVER_LEASE_S, poll_s=poll_s, stopping=self._stopping,
        )

    def stop(self) -> None:
        self._stopping.set()
        self.deps.submit_wakeup.signal()
        self.deps.deliver_wakeup.signal()

    async def run(self, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            await nursery.start(self._submit.run)
            await nursery.start(self._deliver.run)
            task_status.started()
