"""The leader's catalogue duties: the daily catalogue sync and the 15-minute model health read.

Both read Kie's free catalogue API through one :class:`~kiebot.kie.pacing.Pacer` (one budget of
1 request/s per account for the four discovery endpoints, reference: kie-live-truth §3), so they
never compete for it.

Daily sync (:meth:`CatalogWatch.sync`): the report is stored for the admin panel; a model newly
absent from Kie's catalogue is **paused** (switched off as the system, audited; an admin resumes
it with "Enable" in Models) and the admins are told; a ``pricingDesc`` that changed since the last
sync reaches them with the text before and after; drift they have not been told about yet
(price, field, enum, required) is reported once.

Health (:meth:`CatalogWatch.health`): each sold model's last hour at Kie; a troubled one shows a
warning on its card and order summary, and its circuit breaker opens after fewer failures.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Final

from kiebot.catalog.availability import Availability
from kiebot.catalog.drift import SyncReport
from kiebot.catalog.health import Health, judge
from kiebot.catalog.sync import run_sync
from kiebot.catalog.types import ModelSpec, Registry
from kiebot.generation.notify import Notifier
from kiebot.kie.catalogue import CatalogueClient
from kiebot.kie.errors import KieError, NotFound
from kiebot.limits import Limits
from kiebot.runtime.scheduler import Periodic
from kiebot.store import catalog_sync
from kiebot.store.db import Database

log = logging.getLogger(__name__)

#: More than this share of our models missing at once reads as a broken catalogue: nothing is paused.
MAX_MISSING_SHARE: Final = 0.5


def utcnow() -> datetime:
    return datetime.now(UTC)


def kie_model_id(spec: ModelSpec) -> str:
    """The id Kie's catalogue uses: ours for market models, the wire model for Veo and Suno."""
    return spec.id if spec.family == "market" else spec.request_model


@dataclass
class CatalogWatch:
    db: Database
    registry: Registry
    client: CatalogueClient
    notifier: Notifier
    availability: Availability | None = None
    now: Callable[[], datetime] = utcnow
    #: The last health readings (also stored in ``model_health``).
    last_health: dict[str, Health] = field(default_factory=dict)

    async def sync(self) -> SyncReport:
        """One catalogue sync: compare, store, pause newly missing models, tell the admins."""
        async with self.db.connection() as conn:
            previous_texts = await catalog_sync.price_texts(conn)
            previous = await catalog_sync.last_report(conn)
        report = await run_sync(self.client, self.registry, now=self.now(), previous_texts=previous_texts)
        known_missing = set(previous.drift_of("missing")) if previous is not None else set()
        told = {
            (str(d.get("model")), str(d.get("kind")), str(d.get("detail")))
            for d in (previous.report.get("drift", []) if previous is not None else [])
            if isinstance(d, dict)
        }
        paused: list[str] = []
        newly_missing = [m for m in report.missing() if m not in known_missing]
        # A catalogue that lost most of our models at once is a broken answer, not a mass
        # retirement: tell the admins, switch nothing off.
        mass = len(report.missing()) > MAX_MISSING_SHARE * max(1, report.checked_models)
        async with self.db.connection() as conn:
            await catalog_sync.save_report(conn, report.to_json(), checked_at=report.checked_at, drift_count=len(report.drift))
            await catalog_sync.save_price_texts(conn, report.price_texts, report.checked_at)
            for model_id in [] if mass else newly_missing:
                if await catalog_sync.pause_missing(conn, model_id):
                    paused.append(model_id)
        if paused and self.availability is not None:
            self.availability.invalidate()
        log.info(
            "catalogue sync",
            extra={"drift": len(report.drift), "new": len(report.new), "paused": ",".join(paused), "kie_models": report.kie_models},
        )
        day = report.checked_at.date().isoformat()
        if mass:
            await self.notifier.admins(
                "catalog_sync.admin.mass_missing", topic=f"catalog:mass:{day}", n=len(report.missing()), total=report.checked_models
            )
        else:
            for model_id in newly_missing:
                key = "catalog_sync.admin.missing_paused" if model_id in paused else "catalog_sync.admin.missing"
                await self.notifier.admins(key, topic=f"catalog:missing:{model_id}", model=model_id)
        for change in report.price_changes:
            await self.notifier.admins(
                "catalog_sync.admin.price_changed",
                topic=f"catalog:price:{change.model}:{day}",
                model=change.model,
                before=change.before[:1500],
                after=change.after[:1500],
            )
        for d in report.drift:
            if d.kind != "missing" and (d.model, d.kind, d.detail) not in told:
                await self.notifier.admins(
                    "catalog_sync.admin.drift",
                    topic=f"catalog:drift:{d.model}:{d.kind}:{day}",
                    model=d.model,
                    kind=d.kind,
                    detail=d.detail[:1000],
                )
        return report

    async def health(self) -> dict[str, Health]:
        """Read ``/success-rate`` for every model we sell and store the verdicts."""
        readings: dict[str, Health] = {}
        for spec in self.registry.enabled:
            try:
                points = await self.client.success_rate(kie_model_id(spec))
            except NotFound:
                continue
            except (KieError, ValueError) as exc:
                log.info("model health unreadable", extra={"model": spec.id, "error": type(exc).__name__})
                continue
            readings[spec.id] = judge(spec.id, points, now=self.now())
        async with self.db.connection() as conn:
            await catalog_sync.save_health(
                conn, ((h.model_id, h.success_rate, h.buckets, h.troubled) for h in readings.values()), self.now()
            )
        self.last_health = readings
        troubled = sorted(m for m, h in readings.items() if h.troubled)
        if troubled:
            log.warning("kie reports problems", extra={"models": ",".join(troubled)})
        return readings


def catalog_jobs(watch: CatalogWatch, limits: Limits) -> list[Periodic]:
    """The two periodic jobs (the scheduler runs each in its own loop; a failure waits for the next slot)."""
    return [
        Periodic("catalog-sync", limits.catalog_sync_every_s, watch.sync, first_after_s=limits.catalog_sync_first_after_s),
        Periodic("model-health", limits.model_health_every_s, watch.health, first_after_s=limits.model_health_first_after_s),
    ]
