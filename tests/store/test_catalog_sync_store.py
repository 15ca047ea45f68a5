"""What the catalogue sync keeps (migration 0007_catalog_sync): reports (pruned), price texts with
the moment they changed, the system's pause of a missing model (audited, once), model health."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import trio

from kiebot.store import admin, catalog_sync
from kiebot.store.db import Database

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


async def test_reports_are_kept_newest_first_and_pruned(store_db: Database) -> None:
    with trio.fail_after(20):
        async with store_db.connection() as conn:
            assert await catalog_sync.last_report(conn) is None
            for n in range(catalog_sync.KEEP_REPORTS + 3):
                drift = [{"model": "z-image", "kind": "missing", "detail": "absent"}] if n % 2 else []
                await catalog_sync.save_report(conn, {"drift": drift, "new": [], "run": n}, checked_at=NOW + timedelta(days=n), drift_count=len(drift))
            last = await catalog_sync.last_report(conn)
            assert last is not None
            assert last.report["run"] == catalog_sync.KEEP_REPORTS + 2
            assert last.drift_of("missing") == []
            assert await conn.fetchval("SELECT count(*) FROM catalog_sync_reports") == catalog_sync.KEEP_REPORTS


async def test_price_texts_remember_when_they_changed(store_db: Database) -> None:
    with trio.fail_after(20):
        async with store_db.connection() as conn:
            await catalog_sync.save_price_texts(conn, {"z-image": "0.8 credits"}, NOW)
            await catalog_sync.save_price_texts(conn, {"z-image": "0.8 credits"}, NOW + timedelta(days=1))
            assert await conn.fetchval("SELECT changed_at FROM catalog_price_texts") is None
            await catalog_sync.save_price_texts(conn, {"z-image": "1 credit"}, NOW + timedelta(days=2))
            assert await catalog_sync.price_texts(conn) == {"z-image": "1 credit"}
            assert await conn.fetchval("SELECT changed_at FROM catalog_price_texts") == NOW + timedelta(days=2)


async def test_missing_model_is_paused_once_by_the_system(store_db: Database) -> None:
    with trio.fail_after(20):
        async with store_db.connection() as conn:
            assert await catalog_sync.pause_missing(conn, "z-image")
            assert not await catalog_sync.pause_missing(conn, "z-image")  # already off
            override = (await admin.model_overrides(conn))["z-image"]
            assert (override.enabled, override.updated_by) == (False, catalog_sync.SYSTEM_ACTOR)
            audit = await admin.recent_admin_actions(conn, 5, target="model:z-image")
            assert [a.action for a in audit] == ["catalog_missing_pause"]
            # An admin's "Enable" resumes it; a later pause (a new disappearance) works again.
            await admin.set_model_enabled(conn, "z-image", True, 42)
            assert await catalog_sync.pause_missing(conn, "z-image")


async def test_health_is_troubled_only_while_fresh(store_db: Database) -> None:
    with trio.fail_after(20):
        async with store_db.connection() as conn:
            await catalog_sync.save_health(conn, [("a", 0.3, 4, True), ("b", None, 0, False)], NOW)
            assert await catalog_sync.troubled(conn, "a", NOW + timedelta(minutes=20))
            assert not await catalog_sync.troubled(conn, "a", NOW + timedelta(hours=2))
            assert not await catalog_sync.troubled(conn, "b", NOW)
            assert not await catalog_sync.troubled(conn, "nobody", NOW)
            await catalog_sync.save_health(conn, [("a", 0.9, 6, False)], NOW + timedelta(minutes=15))
            health = await catalog_sync.all_health(conn)
            assert health["a"].success_rate == 0.9
            assert not health["a"].troubled
            assert health["b"].success_rate is None
