"""``python -m kiebot registry check | registry diff FILE | prices [--json]``.

- ``registry check`` validates ``registry/models.toml`` (or ``$KIEBOT_REGISTRY``) and prints the
  models per category and the free tier; exit 1 with the loader's precise message on a problem.
- ``registry diff FILE`` compares the registry's SKUs with a Kie price list of
  ``model, variant|USD`` lines; exit 0 in sync, 1 on drift, 2 when the file cannot be read.
- ``prices`` prints every SKU with credits and rubles (``--json`` for machines). The rate is the
  Bank of Russia's when it can be fetched, else ``FX_RUB_PER_USD``; with ``TEST_MODE=1`` no
  network call is made.

All three work without tokens or a database.
"""

from __future__ import annotations

import argparse
import json
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

from kiebot.catalog import ModelSpec, Registry, RegistryError, load_registry
from kiebot.catalog.fx import FxRate, fallback_rate
from kiebot.catalog.price_list import PriceListError, diff_prices, parse_price_list
from kiebot.catalog.pricing import free_tier, sku_prices
from kiebot.config import ConfigError, Settings, load_settings

_FX_TIMEOUT_S = 5.0


def registry_main(args: argparse.Namespace) -> int:
    if args.registry_command == "check":
        return _check()
    if args.registry_command == "diff":
        return _diff(Path(args.file))
    print(f"unknown registry command {args.registry_command!r}", file=sys.stderr)  # pragma: no cover
    return 2  # pragma: no cover


def _load() -> Registry | None:
    try:
        return load_registry()
    except RegistryError as err:
        print(f"registry error: {err}", file=sys.stderr)
        return None


def _check() -> int:
    registry = _load()
    if registry is None:
        return 1
    settings = load_settings()
    fx = fallback_rate(settings.fx_rub_per_usd)
    try:
        free = free_tier(registry, fx, settings.pricing_markup, settings.free_tier_model_ids)
    except ConfigError as err:
        print(f"registry error: {err}", file=sys.stderr)
        return 1
    enabled = registry.enabled
    disabled = [m.id for m in registry.models if not m.enabled]
    print(f"registry OK: {registry.path}")
    print(f"models: {len(registry.models)} ({len(enabled)} enabled, {len(disabled)} disabled)")
    for category in registry.categories():
        print(f"  {category}: {len(registry.by_category(category))}")
    if disabled:
        print(f"  disabled: {', '.join(disabled)}")
    skus = sum(len(m.pricing.skus) for m in enabled)
    print(f"SKUs: {skus}")
    source = "FREE_TIER_MODEL_IDS" if settings.free_tier_model_ids else f"5 cheapest at {fx.rub_per_usd} ₽/$, ×{settings.pricing_markup:g}"
    print(f"free tier ({source}): {', '.join(free)}")
    return 0


def _diff(path: Path) -> int:
    try:
        text = path.read_text(encoding="utf-8")
        lines = parse_price_list(text)
    except (OSError, UnicodeDecodeError) as err:
        print(f"registry diff: cannot read {path}: {err}", file=sys.stderr)
        return 2
    except PriceListError as err:
        print(f"registry diff: {path}: {err}", file=sys.stderr)
        return 2
    registry = _load()
    if registry is None:
        return 1
    diff = diff_prices(registry, lines)
    print(f"registry diff: {registry.path} vs {path} ({len(lines)} priced lines)")
    print(f"\nprices that differ ({len(diff.changed)}):")
    for c in diff.changed:
        print(
            f"  {c.model_id} [{c.sku_key}] \"{c.label}\": registry {_num(c.credits)} cr = ${_num(c.registry_usd)}, "
            f"list ${_num(c.listed_usd)}"
        )
    print(f"\nregistry SKUs the list lacks ({sum(len(m.sku_keys) for m in diff.missing)} in {len(diff.missing)} models):")
    for m in diff.missing:
        what = "whole model" if m.whole_model else ", ".join(m.sku_keys)
        print(f"  {m.model_id}: {what}")
    print(f"\nlisted prices the registry lacks ({len(diff.unknown)}):")
    for line in diff.unknown:
        print(f'  line {line.line}: "{line.label}" ${_num(line.usd)}')
    if diff.unlabelled:
        print(f"\nnot compared (no kie_labels: priced from another source, see `catalog sync`): {', '.join(diff.unlabelled)}")
    print("\nin sync" if diff.in_sync else "\ndrift: update registry/models.toml or record the deviation there")
    return 0 if diff.in_sync else 1


def _num(value: Decimal) -> str:
    text = format(value.normalize(), "f")
    return text


# ---- prices -------------------------------------------------------------------------------------


def prices_main(args: argparse.Namespace) -> int:
    settings = load_settings()
    registry = _load()
    if registry is None:
        return 1
    fx = _rate(settings)
    free = free_tier(registry, fx, settings.pricing_markup, settings.free_tier_model_ids)
    if args.json:
        print(json.dumps(_prices_json(registry, fx, settings.pricing_markup, free), ensure_ascii=False, indent=2))
    else:
        _prices_table(registry, fx, settings.pricing_markup, free)
    return 0


def _rate(settings: Settings) -> FxRate:
    fallback = fallback_rate(settings.fx_rub_per_usd)
    if settings.test_mode:
        return fallback
    import httpx
    import trio

    from kiebot.catalog.fx import FxError, fetch_cbr_rate

    async def fetch() -> FxRate:
        async with httpx.AsyncClient(timeout=_FX_TIMEOUT_S) as client:
            return await fetch_cbr_rate(client, timeout_s=_FX_TIMEOUT_S)

    try:
        return trio.run(fetch)
    except FxError as err:
        print(f"FX: {err}; using FX_RUB_PER_USD={fallback.rub_per_usd}", file=sys.stderr)
        return fallback


def _number(value: Decimal) -> int | float:
    return int(value) if value == value.to_integral_value() else float(value)


def _prices_json(registry: Registry, fx: FxRate, markup: float, free: tuple[str, ...]) -> dict[str, Any]:
    return {
        "fx": {
            "rub_per_usd": float(fx.rub_per_usd),
            "date": fx.date.isoformat() if fx.date else None,
            "source": fx.source,
        },
        "markup": markup,
        "free_tier": list(free),
        "models": [_model_json(spec, fx, markup) for spec in _in_menu_order(registry)],
    }


def _model_json(spec: ModelSpec, fx: FxRate, markup: float) -> dict[str, Any]:
    return {
        "id": spec.id,
        "family": spec.family,
        "category": spec.category,
        "kind": spec.kind,
        "title_ru": spec.title.ru,
        "title_en": spec.title.en,
        "skus": [
            {
                "params": dict(sku.when),
                "credits": _number(sku.credits),
                "price_kopecks": kopecks,
                # Metered models: credits and kopecks are per unit ("second", "1000_chars").
                "unit": spec.pricing.unit,
            }
            for _, sku, kopecks in sku_prices(spec, fx, markup)
        ],
    }


def _in_menu_order(registry: Registry) -> list[ModelSpec]:
    return [m for category in registry.categories() for m in registry.by_category(category)]


def _prices_table(registry: Registry, fx: FxRate, markup: float, free: tuple[str, ...]) -> None:
    date = f", {fx.date.isoformat()}" if fx.date else ""
    print(f"FX {fx.rub_per_usd} ₽/$ ({fx.source}{date}), markup ×{markup:g}, 1 credit = $0.005")
    print(f"free tier: {', '.join(free)}\n")
    rows: list[tuple[str, str, str, str]] = [("model", "variant", "credits", "₽")]
    for spec in _in_menu_order(registry):
        per = "" if spec.pricing.unit == "run" else f" per {spec.pricing.unit.replace('_', ' ')}"
        for key, sku, kopecks in sku_prices(spec, fx, markup):
            variant = ("—" if key == "default" else key) + per
            rows.append((spec.id, variant, _num(sku.credits), f"{kopecks // 100}.{kopecks % 100:02d}"))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    for n, row in enumerate(rows):
        print(f"{row[0]:<{widths[0]}}  {row[1]:<{widths[1]}}  {row[2]:>{widths[2]}}  {row[3]:>{widths[3]}}")
        if n == 0:
            print("  ".join("-" * w for w in widths))
