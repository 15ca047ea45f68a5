"""Which models can be sold right now: the registry's ``enabled`` flag, the admin's switch
(``model_overrides``) and the circuit breaker (``circuit_breakers``), merged; and which of their
variants are paused for sale because Kie bills them at or above our price (``variant_pauses``;
the confirm re-checks that in its own transaction, so this cache only shapes the screens).

The catalogue asks this on every screen, so the database state is cached for a few seconds per
instance; an admin's switch is written through :meth:`Availability.invalidate` so it takes effect
at once on the instance that made it (and within ``ttl_s`` on the others).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import trio

from kiebot.catalog import Registry
from kiebot.store import admin, breakers, variant_pauses
from kiebot.store.db import Database


def utcnow() -> datetime:
    return datetime.now(UTC)


class Availability:
    def __init__(self, db: Database, registry: Registry, *, ttl_s: float = 3.0, now: Callable[[], datetime] = utcnow) -> None:
        self._db = db
        self._registry = registry
        self._ttl_s = ttl_s
        self._now = now
        self._loaded_at = -1e9
        self._disabled: set[str] = set()
        self._enabled_override: set[str] = set()
        self._paused: dict[str, datetime] = {}
        self._paused_variants: dict[str, frozenset[str]] = {}
        self._lock = trio.Lock()

    def invalidate(self) -> None:
        self._loaded_at = -1e9

    async def _refresh(self) -> None:
        async with self._lock:
            if trio.current_time() - self._loaded_at < self._ttl_s:
                return
            async with self._db.connection() as conn:
                overrides = await admin.model_overrides(conn)
                open_ = await breakers.open_breakers(conn)
                variants = await variant_pauses.paused_variants(conn)
            self._disabled = {m for m, o in overrides.items() if not o.enabled}
            self._enabled_override = {m for m, o in overrides.items() if o.enabled}
            now = self._now()
            self._paused = {b.model_id: b.reopen_at for b in open_ if b.blocks(now) and b.reopen_at is not None}
            by_model: dict[str, set[str]] = {}
            for v in variants:
                by_model.setdefault(v.model_id, set()).add(v.sku_key)
            self._paused_variants = {m: frozenset(keys) for m, keys in by_model.items()}
            self._loaded_at = trio.current_time()

    async def status(self, model_id: str) -> str:
        """``"available"``, ``"disabled"`` (registry or admin) or ``"paused"`` (circuit open)."""
        await self._refresh()
        spec = self._registry.get(model_id)
        if spec is None:
            return "disabled"
        if model_id in self._disabled:
            return "disabled"
        if not spec.enabled and model_id not in self._enabled_override:
            return "disabled"
        if model_id in self._paused:
            return "paused"
        return "available"

    async def paused_variants(self, model_id: str) -> frozenset[str]:
        """SKU keys of ``model_id`` paused for sale because Kie bills them at or above our price
        (:mod:`kiebot.store.variant_pauses`; the confirm re-checks in its own transaction)."""
        await self._refresh()
        return self._paused_variants.get(model_id, frozenset())

    async def available(self, model_id: str) -> bool:
        return await self.status(model_id) == "available"

    async def listed(self) -> dict[str, str]:
        """Status of every model in the registry (for the admin models screen and catalogue)."""
        return {m.id: await self.status(m.id) for m in self._registry.models}
