"""``POST /kie/callback/<token>``: Kie's news about one job, verified and applied idempotently.

The URL token is a per-job random secret (it is in the callback URL we gave Kie, nowhere else),
so a request with an unknown token changes nothing (404). When ``KIE_WEBHOOK_HMAC_KEY`` is set
the ``X-Webhook-Signature`` must match too (https://docs.kie.ai/common-api/webhook-verification),
compared in constant time with a timestamp window. The answer is fast and 200 for any callback
we have understood, including duplicates, so Kie does not retry what we already have.

Without the key a callback proves nothing (the token travels in a URL, and URLs end up in logs
and proxies), so its claim is not trusted with money (issue 13, item 3): a final claim is
confirmed with Kie's ``recordInfo`` and Kie's answer — state and result URLs — is what is
applied; a claim Kie does not confirm (the task still running) changes nothing. Interim news and
news about a job that has already ended cost no request. The start-up log warns once that the
key is missing (:func:`kiebot.runtime.app._start_kie`).
"""

from __future__ import annotations

import logging
import time

from kiebot.generation.deps import GenDeps
from kiebot.generation.notify import Notifier
from kiebot.generation.outcomes import apply_status
from kiebot.kie import errors as kie_errors
from kiebot.kie.callbacks import MalformedCallback, parse_callback, verify_signature
from kiebot.kie.types import Family, TaskStatus
from kiebot.logs import request_context
from kiebot.store import jobs
from kiebot.store.jobs import Job

log = logging.getLogger(__name__)


async def handle_kie_callback(deps: GenDeps, notifier: Notifier, token: str, headers: dict[str, str] | object, body: bytes) -> int:
    """Returns the HTTP status to answer."""
    hdrs = {k.lower(): v for k, v in dict(headers).items()} if isinstance(headers, dict) else {}
    async with deps.db.connection() as conn:
        job = await jobs.find_by_callback_token(conn, token)
    if job is None:
        deps.metrics.kie_callbacks.labels(outcome="unknown_token").inc()
        return 404
    spec = deps.registry.get(job.model_id)
    family = spec.family if spec is not None else "market"
    with request_context(job.request_id or f"j{job.id}"):
        try:
            status = parse_callback(family, body)
        except MalformedCallback:
            deps.metrics.kie_callbacks.labels(outcome="malformed").inc()
            log.warning("malformed Kie callback", extra={"job_id": job.id})
            return 400
        key = deps.settings.kie_webhook_hmac_key
        if key:
            ok = verify_signature(
                status.task_id,
                hdrs.get("x-webhook-timestamp", ""),
                hdrs.get("x-webhook-signature", ""),
                key,
                now=time.time(),
            )
            if not ok:
                deps.metrics.kie_callbacks.labels(outcome="bad_signature").inc()
                log.warning("Kie callback with a bad signature", extra={"job_id": job.id})
                return 401
        if job.kie_task_id is not None and status.task_id != job.kie_task_id:
            deps.metrics.kie_callbacks.labels(outcome="task_mismatch").inc()
            log.warning("Kie callback names another task", extra={"job_id": job.id})
            return 409
        source = "callback"
        if not key and status.is_final and job.state in ("submitting", "submitted"):
            confirmed = await _confirm_with_kie(deps, job, family, status)
            if isinstance(confirmed, int):
                return confirmed
            status, source = confirmed, "callback+recordInfo"
        moved = await apply_status(deps, notifier, job, status, source=source)
        if moved:
            outcome = "applied"
        elif source != "callback" and not status.is_final:
            outcome = "unconfirmed"  # an unsigned claim Kie does not back: nothing moved
        else:
            outcome = "interim" if not status.is_final else "duplicate"
        deps.metrics.kie_callbacks.labels(outcome=outcome).inc()
        return 200


async def _confirm_with_kie(deps: GenDeps, job: Job, family: Family, claim: TaskStatus) -> TaskStatus | int:
    """Kie's own word on the task an unsigned final callback is about, or the HTTP status to
    answer when there is none (nothing is applied then; the poll fallback still runs).

    The task is the job's; only while createTask has not returned (``submitting``, no task id
    yet — e.g. its answer was lost) is the callback's task id asked about, and then only if no
    other job owns that task.
    """
    if deps.kie is None:
        return 503
    task_id = job.kie_task_id
    if task_id is None:
        async with deps.db.connection() as conn:
            owner = await jobs.find_by_task_id(conn, claim.task_id)
        if owner is not None and owner.id != job.id:
            deps.metrics.kie_callbacks.labels(outcome="task_mismatch").inc()
            log.warning("unsigned Kie callback names another job's task", extra={"job_id": job.id})
            return 409
        task_id = claim.task_id
    try:
        status = await deps.kie.get_task(family, task_id)
    except kie_errors.KieError as exc:
        deps.metrics.kie_callbacks.labels(outcome="unconfirmed").inc()
        log.info("unsigned Kie callback not confirmed: recordInfo failed", extra={"job_id": job.id, "error": type(exc).__name__})
        return 503
    if status.task_id and status.task_id != task_id:
        return 409
    if status.state != claim.state:
        log.warning(
            "unsigned Kie callback not confirmed by recordInfo",
            extra={"job_id": job.id, "claimed": claim.state, "kie": status.state},
        )
    return status
