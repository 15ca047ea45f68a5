"""Kie's billed credits for a job: stored, compared with the quote, alarmed on, paused on.

Issue 15 item 2. The registry's credits are a list price; the figure Kie reports per task
(``consumeCredits`` in callbacks, ``creditsConsumed`` in recordInfo) is the truth. So, for every
job whose task Kie reports as billed:

* the figure is stored on the job (:func:`kiebot.store.billing.record_billed`);
* billed more than :data:`DRIFT_TOLERANCE` above the quote → every admin is told, once per
  variant per UTC day (the claim is a row, shared by all instances), with the model, the variant,
  quoted and billed credits and both in rubles at today's rate;
* the billed cost at today's rate reaches the price users pay for that variant now (for a free
  variant — the free variant of a free-tier model, or one quoted at 0 credits — any billed cost
  above the quote) →
  the variant is paused for sale at once (:mod:`kiebot.store.variant_pauses`) until an admin
  resumes it. Jobs already confirmed keep their quoted price: nothing here touches money.

This settles the registry's known doubts (per clip or per second?) with the first real job.
"""

from __future__ import annotations

import logging
from datetime import UTC
from decimal import Decimal
from fractions import Fraction
from typing import Final

import msgspec

from kiebot.catalog import ModelSpec, title
from kiebot.catalog.pricing import (
    CREDIT_USD,
    PricingError,
    exact,
    find_sku,
    is_free_variant,
    kopecks_for,
    sku_key,
)
from kiebot.chat.format import render, rub
from kiebot.generation.deps import GenDeps
from kiebot.generation.notify import Notifier
from kiebot.generation.request import JobRequest
from kiebot.kie.types import TaskStatus
from kiebot.store import billing, variant_pauses
from kiebot.store.jobs import Job

log = logging.getLogger(__name__)

#: Billed above the quote by more than this share is drift (issue 15: "over 1%").
DRIFT_TOLERANCE: Final = Fraction(1, 100)


class Verdict(msgspec.Struct, frozen=True, kw_only=True):
    """How a billed figure compares with the job's quote, valued at today's rate."""

    drift: bool
    pause: bool
    cost_kopecks: Fraction
    price_kopecks: int


def judge(job: Job, billed: float, *, rub_per_usd: Decimal, markup: float, free_variant: bool) -> Verdict:
    """Pure: drift when billed > quoted × 1.01; pause when, on top of drift, the billed cost at
    today's rate reaches today's price of the quoted credits (0 for a free variant)."""
    quoted = exact(job.credits)
    paid = exact(billed)
    drift = paid > quoted * (1 + DRIFT_TOLERANCE)
    cost = paid * Fraction(CREDIT_USD) * exact(rub_per_usd) * 100
    price = 0 if free_variant else kopecks_for(quoted, fx=rub_per_usd, markup=markup)
    return Verdict(drift=drift, pause=drift and paid > 0 and cost >= price, cost_kopecks=cost, price_kopecks=price)


def variant_of(spec: ModelSpec | None, job: Job) -> str:
    """The job's SKU key; jobs from before migration 0008_billed_credits have none stored: work it out."""
    if job.sku_key or spec is None:
        return job.sku_key or "default"
    try:
        params = JobRequest.from_json(job.params).params
        sku, _ = find_sku(spec, params)
    except (msgspec.ValidationError, PricingError):
        return "default"
    return sku_key(spec, sku.when)


def given_away(deps: GenDeps, spec: ModelSpec | None, job: Job) -> bool:
    """Whether users pay nothing for the job's variant: a 0-credit variant, or the free variant of
    a free-tier model (its cheapest at the smallest quantity — issue 13 item 8: a dearer variant
    of a free-tier model is paid, so it is judged against its price like any other)."""
    if job.credits == 0:
        return True
    if spec is None or job.model_id not in deps.free_tier:
        return False
    return is_free_variant(spec, job.credits)


async def note_billed(deps: GenDeps, notifier: Notifier, job: Job, status: TaskStatus) -> None:
    """Store the billed figure a final status carries and act on it (see the module docstring).

    Safe to call for every piece of news: non-final news and news without a figure are ignored,
    and the same figure twice changes nothing.
    """
    if not status.is_final or status.cost_credits is None:
        return
    async with deps.db.connection() as conn:
        update = await billing.record_billed(conn, job.id, status.cost_credits)
    if update is None or not update.changed or update.job.dry_run:
        return
    await check_drift(deps, notifier, update.job)


async def check_drift(deps: GenDeps, notifier: Notifier, job: Job) -> Verdict | None:
    """Alarm and pause for a job with a billed figure; returns the verdict (None: no figure)."""
    billed = job.billed_credits
    if billed is None:
        return None
    spec = deps.registry.get(job.model_id)
    fx = deps.fx_now()
    verdict = judge(
        job, billed, rub_per_usd=fx.rub_per_usd, markup=deps.settings.pricing_markup, free_variant=given_away(deps, spec, job)
    )
    if not verdict.drift:
        return verdict
    sku = variant_of(spec, job)
    deps.metrics.kie_billing_drift.labels(model=job.model_id).inc()
    log.warning(
        "Kie billed above the quote",
        extra={"job_id": job.id, "model": job.model_id, "sku": sku, "quoted": job.credits, "billed": billed, "pause": verdict.pause},
    )
    paused_now = False
    today = deps.now().astimezone(UTC).date()
    async with deps.db.connection() as conn:
        if verdict.pause:
            paused_now = await variant_pauses.pause(
                conn, job.model_id, sku, job_id=job.id, quoted_credits=job.credits, billed_credits=billed
            )
        first_today = await variant_pauses.claim_drift_alert(
            conn,
            job.model_id,
            sku,
            today,
            job_id=job.id,
            quoted_credits=job.credits,
            billed_credits=billed,
        )
    if paused_now and deps.on_variant_paused is not None:
        deps.on_variant_paused()
    if not (first_today or paused_now):
        return verdict
    quoted_kopecks = round(exact(job.credits) * Fraction(CREDIT_USD) * exact(fx.rub_per_usd) * 100)
    billed_kopecks = round(verdict.cost_kopecks)

    def text_for(lang: str) -> str:
        name = title(spec, lang) if spec is not None else job.model_id
        lines = [
            render(
                lang,
                "billing.admin.drift",
                model=name,
                model_id=job.model_id,
                variant=sku,
                quoted=float(job.credits),
                billed=float(billed),
                quoted_rub=rub(quoted_kopecks, lang),
                billed_rub=rub(billed_kopecks, lang),
                percent=_percent(job.credits, billed),
                job=job.id,
            )
        ]
        if paused_now:
            lines.append(render(lang, "billing.admin.paused", price=rub(verdict.price_kopecks, lang)))
        elif verdict.pause:
            lines.append(render(lang, "billing.admin.still_paused"))
        return "\n".join(lines)

    kind = "pause" if paused_now else "drift"
    reached = await notifier.admins_text(f"billing:{kind}:{job.model_id}:{sku}:{job.id}", text_for)
    if not reached and first_today:
        # Nobody got it (Telegram down, no admin reachable): let the next drifting job try again.
        async with deps.db.connection() as conn:
            await variant_pauses.release_drift_alert(conn, job.model_id, sku, today)
    return verdict


def _percent(quoted: float, billed: float) -> str:
    if quoted <= 0:
        return "∞"
    return f"{(billed - quoted) / quoted * 100:+.0f}%"

