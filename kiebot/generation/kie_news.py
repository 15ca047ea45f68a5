"""``POST /kie/callback/<token>``: Kie's news about one job, verified and applied idempotently.

The URL token is a per-job random secret (it is in the callback URL we gave Kie, nowhere else),
so a request with an unknown token changes nothing (404). When ``KIE_WEBHOOK_HMAC_KEY`` is set
the ``X-Webhook-Signature`` must match too (https://docs.kie.ai/common-api/webhook-verification),
compared in constant time with a timestamp window. The answer is fast and 200 for any callback
we have understood, including duplicates, so Kie does not retry what we already have.
"""

from __future__ import annotations

import logging
import time

from kiebot.generation.deps import GenDeps
from kiebot.generation.notify import Notifier
from kiebot.generation.outcomes import apply_status
from kiebot.kie.callbacks import MalformedCallback, parse_callback, verify_signature
from kiebot.logs import request_context
from kiebot.store import jobs

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
        moved = await apply_status(deps, notifier, job, status, source="callback")
        deps.metrics.kie_callbacks.labels(outcome="applied" if moved else ("interim" if not status.is_final else "duplicate")).inc()
        return 200
