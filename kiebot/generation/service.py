"""What the conversation asks of the pipeline: confirm a request (hold + queue, atomically) and
cancel a queued job. Everything else happens in the workers."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import msgspec

from kiebot.catalog import ModelSpec
from kiebot.catalog.pricing import Quote
from kiebot.config import Settings
from kiebot.generation.request import JobRequest
from kiebot.store import free_tier, jobs, money, variant_pauses
from kiebot.store.db import Database
from kiebot.store.jobs import IllegalTransition, Job


class Confirmed(msgspec.Struct, frozen=True, kw_only=True):
    job: Job
    created: bool  # False: a double tap — the first job is returned, nothing held twice


class NotEnoughMoney(msgspec.Struct, frozen=True, kw_only=True):
    needed: int
    available: int

    @property
    def missing(self) -> int:
        return max(0, self.needed - self.available)


class NoFreeUses(msgspec.Struct, frozen=True, kw_only=True):
    next_at: datetime | None


class TooManyJobs(msgspec.Struct, frozen=True, kw_only=True):
    """The user already has ``active`` unfinished paid jobs (``MAX_ACTIVE_JOBS_PER_USER``)."""

    active: int
    limit: int


class VariantUnavailable(msgspec.Struct, frozen=True, kw_only=True):
    """The chosen variant is paused for sale (Kie bills it at or above our price): nothing held."""

    sku_key: str


ConfirmOutcome = Confirmed | NotEnoughMoney | NoFreeUses | TooManyJobs | VariantUnavailable


async def confirm(
    db: Database,
    settings: Settings,
    *,
    user_id: int,
    chat_id: int,
    spec: ModelSpec,
    request: JobRequest,
    quote: Quote,
    free: bool,
    idempotency_key: str,
    request_id: str,
    wake: Callable[[], None],
) -> ConfirmOutcome:
    """Freeze the quote on a new ``queued`` job and hold it (or use a free generation) in ONE
    transaction; a repeated key (double tap) returns the first job. DRY_RUN holds nothing. A user
    at ``MAX_ACTIVE_JOBS_PER_USER`` unfinished paid jobs gets :class:`TooManyJobs`, and a variant
    paused for sale :class:`VariantUnavailable`, both refused inside that transaction, nothing held."""
    limits = free_tier.FreeLimits(daily=settings.free_daily_limit, hourly=settings.free_hourly_limit)
    try:
        async with db.connection() as conn:
            created = await jobs.create_job(
                conn,
                user_id=user_id,
                chat_id=chat_id,
                model_id=spec.id,
                kind=spec.kind,
                params=request.to_json(),
                quote_kopecks=0 if free else quote.kopecks,
                idempotency_key=idempotency_key,
                timeout_s=float(spec.timeout_seconds),
                credits=float(quote.credits),
                fx_rate=float(quote.rub_per_usd),
                markup=float(quote.markup),
                free=free and not settings.dry_run,
                dry_run=settings.dry_run,
                request_id=request_id,
                free_limits=limits if free and not settings.dry_run else None,
                max_active_paid=settings.max_active_jobs_per_user,
                sku_key=quote.sku_key,
            )
    except variant_pauses.VariantPaused:
        return VariantUnavailable(sku_key=quote.sku_key)
    except money.InsufficientFunds as exc:
        return NotEnoughMoney(needed=quote.kopecks, available=exc.available)
    except free_tier.FreeLimitReached as exc:
        return NoFreeUses(next_at=exc.next_available_at)
    except jobs.TooManyActiveJobs as exc:
        return TooManyJobs(active=exc.active, limit=exc.limit)
    if created.created:
        wake()
    return Confirmed(job=created.job, created=created.created)


async def cancel_queued(db: Database, job_id: int, user_id: int) -> str:
    """``"cancelled"`` (the hold is released in the same transaction), ``"too_late"`` (already
    submitted to Kie: it will finish or fail on its own) or ``"not_found"``."""
    async with db.connection() as conn:
        job = await jobs.get_job(conn, job_id)
        if job is None or job.user_id != user_id:
            return "not_found"
        if job.state == "cancelled":
            return "cancelled"
        try:
            await jobs.transition(conn, job_id, "cancelled", note="user")
        except IllegalTransition:
            return "too_late"
    return "cancelled"
