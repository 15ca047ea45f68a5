"""The generation workers of one instance: a submit stage and a delivery stage.

Each stage claims jobs from the database (``FOR UPDATE SKIP LOCKED`` with a lease, so any number
of instances share the work and a dead worker's job is taken again when its lease expires) and
runs each one in its own task, at most ``GENERATION_CONCURRENCY`` at once per stage. Waiting for
Kie holds no task at all: a submitted job waits in the database for its callback (or the
leader's poll), which is what lets thousands of jobs be in flight on a small instance.

Leases are short and renewed: a worker renews its job's lease every third of :data:`LEASE_S`
while it works, so only a dead worker (SIGKILL, a frozen process, a database cut off for longer
than the lease) lets it run out, and another worker — or the restarted process — takes the job
within :data:`LEASE_S`. A job whose attempt failed (an exception: Telegram refusing the result
upload with a 5xx, say) is retried after a short back-off instead of waiting out its lease.

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

LEASE_S = 30.0
"""How long a claimed job stays exclusive without its worker renewing the lease. It used to be
5 min (submit) and 10 min (delivery), unrenewed: a crash mid-delivery left a paid result waiting
ten minutes, and a Telegram 5xx on the upload did the same (found by the chaos run, tests/chaos;
regression tests in tests/chaos/test_findings.py)."""
RETRY_FIRST_S = 2.0
"""Back-off after a failed attempt: 2, 4, 8 … seconds by the job's attempts, at most the lease."""


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
                failed = False
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(self._keep_lease, job.id)
                    try:
                        await self._work(job)
                    except DatabaseUnavailable:
                        failed = True
                        log.warning("%s: database unavailable; the job is retried shortly", self._name)
                    except Exception:
                        failed = True
                        log.exception("%s stage failed on a job; it is retried shortly", self._name, extra={"job_id": job.id})
                    nursery.cancel_scope.cancel()
                if failed:
                    await self._retry_later(job)
        finally:
            self._in_flight -= 1
            self._freed.set()

    async def _keep_lease(self, job_id: int) -> None:
        """Renew the job's lease every third of it while the work goes on. Stops once the lease is
        no longer ours (the work let go of it, ended the job, or another worker took over — the
        store's owner checks then refuse our state changes)."""
        while True:
            await trio.sleep(self._lease_s / 3)
            try:
                async with self._deps.db.connection() as conn:
                    if not await jobs_store.renew_lease(conn, job_id, self._deps.worker, self._lease_s):
                        return
            except DatabaseUnavailable:
                continue  # try again; if the lease runs out meanwhile, another worker may take the job

    async def _retry_later(self, job: Job) -> None:
        """Let the job be claimed again after a short back-off rather than after its whole lease."""
        delay = min(self._lease_s, RETRY_FIRST_S * 2.0 ** max(0, job.attempts - 1))
        with trio.CancelScope(shield=True), trio.move_on_after(5):
            try:
                async with self._deps.db.connection() as conn:
                    await jobs_store.renew_lease(conn, job.id, self._deps.worker, delay)
            except DatabaseUnavailable:
                pass  # the lease runs out by itself


class GenerationWorkers:
    """Both stages of one instance; start with ``nursery.start(workers.run)``."""

    def __init__(
        self, deps: GenDeps, notifier: Notifier, *, concurrency: int, lease_s: float = LEASE_S, poll_s: float = 1.0
    ) -> None:
        self.deps = deps
        self.notifier = notifier
        self._stopping = trio.Event()
        self._submit = _Stage(
            deps, "submit", ("queued",), partial(submit_job, deps, notifier), deps.submit_wakeup,
            concurrency=concurrency, lease_s=lease_s, poll_s=poll_s, stopping=self._stopping,
        )
        self._deliver = _Stage(
            deps, "deliver", ("succeeded",), partial(deliver_job, deps, notifier), deps.deliver_wakeup,
            concurrency=concurrency, lease_s=lease_s, poll_s=poll_s, stopping=self._stopping,
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
