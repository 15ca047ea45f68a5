"""Moving a job to its outcome, from whichever source news comes (callback, poll, submitter).

Each function is safe to call twice with the same news: the store's state machine turns a repeat
into a no-op (a duplicated Kie callback, a poll racing a callback), and the user is told only by
the call that actually moved the job.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from kiebot.catalog import ModelSpec
from kiebot.generation import billing
from kiebot.generation.deps import GenDeps
from kiebot.generation.notify import Notifier
from kiebot.kie.types import TaskStatus
from kiebot.store import breakers, catalog_sync, job_tracking, jobs
from kiebot.store.db import Conn
from kiebot.store.jobs import IllegalTransition, Job, UnknownJob

log = logging.getLogger(__name__)

BREAKER_THRESHOLD = 5
#: When Kie itself reports problems with the model (``model_health``, issue 15), fewer failures
#: in a row are enough: users are not charged-and-refunded while Kie already knows it is down.
BREAKER_THRESHOLD_TROUBLED = 2
BREAKER_OPEN_S = 300.0


async def reload(deps: GenDeps, job_id: int) -> Job:
    async with deps.db.connection() as conn:
        job = await jobs.get_job(conn, job_id)
    if job is None:
        raise UnknownJob(job_id)
    return job


async def fail(deps: GenDeps, notifier: Notifier, job: Job, reason_key: str, detail: str, *, to: str = "failed") -> bool:
    """End the job without a result (the store releases the hold or the free use in the same
    transaction) and tell the user. False when the job had already ended."""
    async with deps.db.connection() as conn:
        try:
            moved = await jobs.transition(
                conn, job.id, "timed_out" if to == "timed_out" else "failed", error_code=reason_key, error_message=detail[:500] or None
            )
        except IllegalTransition:
            return False
    if not moved:
        return False
    ended = await reload(deps, job.id)
    deps.metrics.jobs_finished.labels(kind=ended.kind, state=ended.state).inc()
    log.info("job ended without result", extra={"job_id": job.id, "state": ended.state, "reason": reason_key})
    await notifier.job_ended_without_result(ended, reason_key, detail)
    if ended.state == "timed_out":
        # Kie never answered within the kind's deadline: operators must know (a stuck model, a
        # lost callback), not only the user.
        await notifier.admins(
            "generation.admin.provider_failure",
            topic=f"provider:{job.model_id}:timeout",
            model=job.model_id,
            code="timeout",
            detail=detail,
            job=job.id,
        )
    return True


async def apply_status(deps: GenDeps, notifier: Notifier, job: Job, status: TaskStatus, *, source: str) -> bool:
    """Apply Kie's news about the job's task; True when the job moved.

    A billed figure in final news is stored and checked against the quote first, whatever the
    job's state: a late or repeated report still counts, and the figure wins over the list price.
    """
    if not status.is_final:
        return False
    await billing.note_billed(deps, notifier, job, status)
    if job.state == "submitting":
        # Kie answered (callback) before createTask returned to us: record the task first.
        async with deps.db.connection() as conn:
            try:
                await jobs.transition(conn, job.id, "submitted", kie_task_id=status.task_id, note=f"{source} before create returned")
            except IllegalTransition:
                return False
        job = await reload(deps, job.id)
    if job.state != "submitted":
        return False
    if status.state == "succeeded":
        if not status.result_urls:
            return await fail(deps, notifier, job, "provider_failed", "no result files")
        result = {"urls": list(status.result_urls), "cost_credits": status.cost_credits, "source": source}
        async with deps.db.connection() as conn:
            try:
                moved = await jobs.transition(conn, job.id, "succeeded", result=result)
            except IllegalTransition:
                return False
            await breakers.record_success(conn, job.model_id)
        if moved:
            deps.deliver_wakeup.signal()
        return moved
    await count_provider_failure(deps, notifier, job.model_id)
    detail = status.fail_message or status.fail_code or "failed"
    moved = await fail(deps, notifier, job, "provider_failed", detail)
    if moved:
        # The task failed at Kie (the submit-time refusals alert in submit.py): tell the admins,
        # throttled per model and code so an outage is one message, not one per job.
        await notifier.admins(
            "generation.admin.provider_failure",
            topic=f"provider:{job.model_id}:task:{status.fail_code or 'failed'}",
            model=job.model_id,
            code=status.fail_code or "failed",
            detail=detail[:200],
            job=job.id,
        )
    return moved


async def count_provider_failure(deps: GenDeps, notifier: Notifier, model_id: str) -> None:
    """Count a provider-side failure; the breaker pauses the model after a run of them."""
    async with deps.db.connection() as conn:
        before = await breakers.get_breaker(conn, model_id)
        troubled = await catalog_sync.troubled(conn, model_id, deps.now())
        after = await breakers.record_failure(
            conn,
            model_id,
            deps.now(),
            threshold=BREAKER_THRESHOLD_TROUBLED if troubled else BREAKER_THRESHOLD,
            open_for_s=BREAKER_OPEN_S,
        )
    if after.state == "open" and (before is None or before.state != "open"):
        deps.metrics.circuit_open.labels(model=model_id).set(1)
        await notifier.admins(
            "generation.admin.circuit_open", topic=f"circuit:{model_id}", model=model_id, minutes=int(BREAKER_OPEN_S // 60)
        )


def poll_delay(polls: int, *, has_callback: bool, spec: ModelSpec | None) -> float:
    """Seconds until the next status poll.

    With a callback URL, polling is only the fallback: the first poll comes after twice the
    typical duration (at least a minute), then every 1, 2, 4 minutes (capped at 5). Without one,
    poll like Kie's guide says: every few seconds at first, slower later (reference §10.2).
    """
    typical = float(spec.typical_seconds) if spec is not None else 60.0
    if has_callback:
        if polls == 0:
            return max(60.0, 2 * typical)
        return min(300.0, 60.0 * float(2 ** (polls - 1)))
    steps = (3.0, 3.0, 5.0, 5.0, 10.0, 10.0, 15.0, 30.0)
    return steps[polls] if polls < len(steps) else 30.0


async def schedule_first_poll(conn: Conn, deps: GenDeps, job_id: int, spec: ModelSpec | None) -> None:
    delay = poll_delay(0, has_callback=bool(deps.callback_base), spec=spec)
    await job_tracking.schedule_poll(conn, job_id, deps.now() + timedelta(seconds=delay))
