"""What Kie billed per job, and the real margin per model (issue 15 items 1 and 3).

The billed figure arrives with news we already receive — ``consumeCredits`` in a callback,
``creditsConsumed`` in recordInfo — so storing it costs no extra request to Kie. "A catalogue
price is a list price; when a run reports a different figure, the billed figure wins"
(reference kie-live-truth §1): the latest figure Kie reports replaces an earlier one.

Margin is revenue (captured holds of delivered paid jobs) minus Kie's cost as billed, in kopecks
at each job's own frozen FX rate (the rate it was sold at), per model over a period. Free jobs
have no revenue and a real cost; a failed job billed by Kie is a cost without revenue. Jobs with
no billed figure (Kie did not report one) are counted apart, so a margin is never flattered by
costs nobody reported.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import msgspec

from kiebot.store.db import Conn
from kiebot.store.jobs import Job, job_from_row

#: Kopecks per credit per ruble-per-dollar: 1 credit = $0.005 = 0.5 cents → ×100 kopecks.
KOPECKS_PER_CREDIT_PER_RUB = 0.5


class BilledUpdate(msgspec.Struct, frozen=True, kw_only=True):
    """The job after its billed figure was stored, and the figure it replaced."""

    job: Job
    previous: float | None

    @property
    def changed(self) -> bool:
        return self.previous != self.job.billed_credits


async def record_billed(conn: Conn, job_id: int, credits: float) -> BilledUpdate | None:
    """Store Kie's billed credits for the job; None when there is no such job.

    Idempotent: the same figure again changes nothing (``changed`` is False), so a duplicated
    callback or a poll racing a callback raises no second alarm.
    """
    # One statement (the job pipeline counts them): the CTE locks the row and keeps the old value.
    row = await conn.fetchrow(
        f"""
        WITH old AS (SELECT id, billed_credits FROM jobs WHERE id = $1 FOR UPDATE)
        UPDATE jobs j SET billed_credits = $2,
                          billed_at = CASE WHEN old.billed_credits IS DISTINCT FROM $2 THEN now() ELSE j.billed_at END
        FROM old WHERE j.id = old.id
        RETURNING old.billed_credits AS previous, {", ".join("j." + c for c in Job.__struct_fields__)}
        """,
        job_id,
        float(credits),
    )
    if row is None:
        return None
    return BilledUpdate(job=job_from_row(row), previous=row["previous"])


class ModelMargin(msgspec.Struct, frozen=True, kw_only=True):
    """One model over a period: jobs, revenue, Kie's billed cost and what is left."""

    model_id: str
    jobs: int
    delivered: int
    revenue_kopecks: int
    billed_credits: float
    cost_kopecks: int
    unbilled: int

    @property
    def margin_kopecks(self) -> int:
        return self.revenue_kopecks - self.cost_kopecks


class MarginReport(msgspec.Struct, frozen=True, kw_only=True):
    since: datetime
    until: datetime
    models: list[ModelMargin]

    @property
    def revenue_kopecks(self) -> int:
        return sum(m.revenue_kopecks for m in self.models)

    @property
    def cost_kopecks(self) -> int:
        return sum(m.cost_kopecks for m in self.models)

    @property
    def margin_kopecks(self) -> int:
        return self.revenue_kopecks - self.cost_kopecks

    @property
    def unbilled(self) -> int:
        return sum(m.unbilled for m in self.models)


async def margin(conn: Conn, now: datetime, *, days: int = 7) -> MarginReport:
    """Per model, jobs that finished in the last ``days`` days (dry runs excluded), by margin.

    Revenue counts delivered paid jobs (their hold was captured at ``quote_kopecks``); cost is
    ``billed_credits × $0.005 × the job's FX rate``, rounded to the kopeck per model.
    """
    if days < 1:
        raise ValueError("days must be ≥ 1")
    since = now - timedelta(days=days)
    rows = await conn.fetch(
        """
        SELECT model_id,
               count(*) AS jobs,
               count(*) FILTER (WHERE state = 'delivered') AS delivered,
               coalesce(sum(quote_kopecks) FILTER (WHERE state = 'delivered' AND NOT free), 0) AS revenue,
               coalesce(sum(billed_credits), 0) AS billed,
               coalesce(sum(billed_credits * fx_rate * $3), 0) AS cost,
               count(*) FILTER (WHERE billed_credits IS NULL AND state = 'delivered') AS unbilled
        FROM jobs
        WHERE finished_at >= $1 AND finished_at < $2 AND NOT dry_run
          AND (state = 'delivered' OR billed_credits IS NOT NULL)
        GROUP BY model_id
        """,
        since,
        now,
        KOPECKS_PER_CREDIT_PER_RUB,
    )
    models = [
        ModelMargin(
            model_id=r["model_id"],
            jobs=int(r["jobs"]),
            delivered=int(r["delivered"]),
            revenue_kopecks=int(r["revenue"]),
            billed_credits=float(r["billed"]),
            cost_kopecks=round(float(r["cost"])),
            unbilled=int(r["unbilled"]),
        )
        for r in rows
    ]
    models.sort(key=lambda m: (m.margin_kopecks, m.model_id))
    return MarginReport(since=since, until=now, models=models)
