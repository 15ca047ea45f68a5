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
from kiebot.store import jobs as jobs_store
from kiebot.store.db import DatabaseUnavailable
from kiebot.store.jobs import Job, JobState
from kiebot.store.leased_work import LeasedWork, LeaseWatch, constant_waiter

log = logging.getLogger(__name__)

LEASE_S = 30.0
"""How long a claimed job stays exclusive without its worker renewing the lease. It used to be
5 min (submit) and 10 min (delivery), unrenewed: a crash mid-delivery left a paid result waiting
ten minutes, and a Telegram 5xx on the upload did the same (found by the chaos run, tests/chaos;
regression tests in tests/chaos/test_findings.py)."""
RETRY_FIRST_S = 2.0
"""Back-off after a failed attempt: 2, 4, 8 … seconds by the job's attempts, at most the lease."""


def _stage(
    deps: GenDeps,
    name: str,
    states: tuple[JobState, ...],
    work: Callable[[Job], Awaitable[None]],
    wakeup: Wakeup,
    *,
    concurrency: int,
    lease_s: float,
    poll_s: float,
) -> LeasedWork[Job]:
    """One stage: jobs in ``states`` claimed with a lease and worked on by ``work``."""

    async def claim(limit: int) -> list[Job]:
        async with deps.db.connection() as conn:
            return await jobs_store.claim_jobs(conn, deps.worker, states, limit, lease_s)

    async def renew(job: Job) -> bool:
        async with deps.db.connection() as conn:
            return await jobs_store.renew_lease(conn, job.id, deps.worker, lease_s)

    async def attempt(job: Job, lease: LeaseWatch) -> None:
        try:
            await work(job)
        except DatabaseUnavailable:
            log.warning("%s: database unavailable; the job is retried shortly", name)
        except Exception:
            log.exception("%s stage failed on a job; it is retried shortly", name, extra={"job_id": job.id})
        else:
            return
        await _retry_later(deps, job, lease_s)

    return LeasedWork(
        name,
        claim=claim,
        work=attempt,
        renew=renew,
        label=lambda job: job.request_id or f"j{job.id}",
        open_waiter=partial(constant_waiter, wakeup),
        concurrency=concurrency,
        lease_s=lease_s,
        poll_s=poll_s,
    )


async def _retry_later(deps: GenDeps, job: Job, lease_s: float) -> None:
    """Let the job be claimed again after a short back-off rather than after its whole lease."""
    delay = min(lease_s, RETRY_FIRST_S * 2.0 ** max(0, job.attempts - 1))
    with trio.CancelScope(shield=True), trio.move_on_after(5):
        try:
            async with deps.db.connection() as conn:
                await jobs_store.renew_lease(conn, job.id, deps.worker, delay)
        except DatabaseUnavailable:
            pass  # the lease runs out by itself


class GenerationWorkers:
    """Both stages of one instance; start with ``nursery.start(workers.run)``."""

    def __init__(
        self, deps: GenDeps, notifier: Notifier, *, concurrency: int, lease_s: float = LEASE_S, poll_s: float = 1.0
    ) -> None:
        self.deps = deps
        self.notifier = notifier
        self.submit = _stage(
            deps, "submit", ("queued",), partial(submit_job, deps, notifier), deps.submit_wakeup,
            concurrency=concurrency, lease_s=lease_s, poll_s=poll_s,
        )
        self.deliver = _stage(
            deps, "deliver", ("succeeded",), partial(deliver_job, deps, notifier), deps.deliver_wakeup,
            concurrency=concurrency, lease_s=lease_s, poll_s=poll_s,
        )

    def stop(self) -> None:
        self.submit.stop()
        self.deliver.stop()
        self.deps.submit_wakeup.signal()
        self.deps.deliver_wakeup.signal()

    async def run(self, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            await nursery.start(self.submit.run)
            await nursery.start(self.deliver.run)
            task_status.started()
