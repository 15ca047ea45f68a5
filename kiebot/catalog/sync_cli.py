"""``python -m kiebot catalog sync [--json]``: compare the registry with Kie's live catalogue now.

Reads ``KIE_API_URL`` with ``KIE_API_KEY`` (no database, no Telegram token): one unfiltered
``GET /api/v1/models``, then the schema of every model we sell, paced ≥ 1.1 s apart inside Kie's
shared 1 request/s budget (so about a minute for the whole registry). Exit codes: 0 nothing
drifts, 1 drift (the models are named), 2 Kie could not be read (or no key).

``--json`` prints ``{"drift": [{"model", "kind", "detail"}], "new": [...], "checked_at", ...}``.
``--store`` (needs ``DATABASE_URL``) also compares the price texts with the last stored sync and
stores this report for the admin panel (nothing is paused: that is the daily run's decision).
The leader's daily run (:mod:`kiebot.runtime.catalog_duties`) does the same, stores the report
for the admin panel, pauses missing models and tells the admins.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime

from kiebot.catalog.drift import SyncReport
from kiebot.catalog.loader import RegistryError, load_registry
from kiebot.catalog.types import Registry
from kiebot.config import Settings, load_settings
from kiebot.kie.errors import KieError

EXIT_OK, EXIT_DRIFT, EXIT_UNREADABLE = 0, 1, 2


def catalog_main(args: argparse.Namespace) -> int:
    if args.catalog_command != "sync":  # pragma: no cover - argparse refuses others
        return EXIT_UNREADABLE
    settings = load_settings()
    try:
        registry = load_registry()
    except RegistryError as err:
        print(f"registry error: {err}", file=sys.stderr)
        return EXIT_UNREADABLE
    if not settings.kie_api_key:
        print("catalog sync: KIE_API_KEY is not set", file=sys.stderr)
        return EXIT_UNREADABLE
    if args.store and not settings.database_url:
        print("catalog sync: --store needs DATABASE_URL", file=sys.stderr)
        return EXIT_UNREADABLE
    import trio

    try:
        outcome = trio.run(_run, settings, registry, max(0.0, args.min_interval), args.store)
    except KieError as err:
        outcome = err
    if isinstance(outcome, KieError):
        print(f"catalog sync: Kie's catalogue could not be read: {outcome}", file=sys.stderr)
        return EXIT_UNREADABLE
    report = outcome
    if args.json:
        print(json.dumps(report.to_json(), ensure_ascii=False, indent=2))
    else:
        print_report(report, settings.kie_api_url)
    return EXIT_DRIFT if report.drifted else EXIT_OK


async def _sync(registry: Registry, api_url: str, api_key: str, interval_s: float, previous: dict[str, str]) -> SyncReport:
    import httpx

    from kiebot.catalog.sync import run_sync
    from kiebot.kie.catalogue import CatalogueClient
    from kiebot.kie.pacing import Pacer

    async with httpx.AsyncClient() as http:
        client = CatalogueClient(http, api_key=api_key, api_url=api_url, pacer=Pacer(interval_s))
        return await run_sync(client, registry, now=datetime.now(UTC), previous_texts=previous)


async def _run(settings: Settings, registry: Registry, interval_s: float, store: bool) -> SyncReport | KieError:
    """The report (or, with ``--store``, the Kie error caught inside the asyncio loop: trio-asyncio
    wraps whatever escapes ``open_loop()`` in exception groups)."""
    if not store:
        return await _sync(registry, settings.kie_api_url, settings.kie_api_key, interval_s, {})
    import trio_asyncio

    from kiebot.store import catalog_sync
    from kiebot.store.connect import open_store
    from kiebot.store.db import DatabaseUnavailable
    from kiebot.store.migrations import MigrationError

    async with trio_asyncio.open_loop():
        try:
            async with open_store(settings) as db:
                async with db.connection() as conn:
                    previous = await catalog_sync.price_texts(conn)
                try:
                    report = await _sync(registry, settings.kie_api_url, settings.kie_api_key, interval_s, previous)
                except KieError as err:
                    return err
                async with db.connection() as conn:
                    await catalog_sync.save_report(conn, report.to_json(), checked_at=report.checked_at, drift_count=len(report.drift))
                    await catalog_sync.save_price_texts(conn, report.price_texts, report.checked_at)
                print("catalog sync: report stored for the admin panel", file=sys.stderr)
                return report
        except (DatabaseUnavailable, MigrationError) as err:
            # The database is a convenience here: the comparison still runs and decides the exit code.
            print(f"catalog sync: report not stored ({type(err).__name__}: {err})", file=sys.stderr)
    return await _sync(registry, settings.kie_api_url, settings.kie_api_key, interval_s, {})


def print_report(report: SyncReport, api_url: str) -> None:
    print(f"catalog sync: {report.checked_models} models we sell vs {report.kie_models} in Kie's catalogue ({api_url})")
    print(f"\ndrift ({len(report.drift)}):")
    for d in report.drift:
        print(f"  {d.model}  {d.kind}  {d.detail}")
    if report.price_changes:
        print(f"\nprice texts changed since the last sync ({len(report.price_changes)}):")
        for c in report.price_changes:
            print(f"  {c.model}\n    before: {c.before}\n    after:  {c.after}")
    if report.new:
        print(f"\nnew at Kie, not in the registry ({len(report.new)}): {', '.join(report.new)}")
    if report.not_synced:
        print(f"\nschema not synced at Kie yet (null): {', '.join(report.not_synced)}")
    if report.schema_errors:
        print("\nschemas not read this time: " + ", ".join(f"{m} ({why})" for m, why in report.schema_errors.items()))
    if report.unlisted:
        print(f"\nnot listed by Kie's catalogue (dedicated APIs): {', '.join(report.unlisted)}")
    if report.drifted:
        models = ", ".join(dict.fromkeys(d.model for d in report.drift))
        print(f"\ndrift in: {models}")
    else:
        print("\nin sync")
