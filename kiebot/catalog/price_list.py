"""Compare the registry with a Kie price list (``python -m kiebot registry diff FILE``).

The list is the text of https://kie.ai/pricing as scraped into ``model, variant|USD`` lines
(``kling 2.6, text-to-video, without audio-5.0s|0.275``); ``#`` starts a comment line. Each
registry SKU names the lines it corresponds to (``kie_labels``), so the comparison is exact:
labels are matched case-insensitively with runs of spaces collapsed, and the registry's price is
``credits × $0.005`` compared as a decimal with the listed USD.

Kie changes prices; run this against a fresh scrape before each release.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal, InvalidOperation

import msgspec

from kiebot.catalog.pricing import CREDIT_USD, sku_key
from kiebot.catalog.types import Registry


class PriceListError(ValueError):
    """The file is not a ``model, variant|USD`` list; ``str(err)`` names the line."""


class PriceLine(msgspec.Struct, frozen=True, kw_only=True):
    line: int
    label: str
    usd: Decimal


class PriceChange(msgspec.Struct, frozen=True, kw_only=True):
    model_id: str
    sku_key: str
    label: str
    credits: Decimal
    registry_usd: Decimal
    listed_usd: Decimal


class MissingSkus(msgspec.Struct, frozen=True, kw_only=True):
    """Registry SKUs of one model that no line of the list prices."""

    model_id: str
    sku_keys: tuple[str, ...]
    labels: tuple[str, ...]
    whole_model: bool


class PriceDiff(msgspec.Struct, frozen=True, kw_only=True):
    changed: tuple[PriceChange, ...]
    missing: tuple[MissingSkus, ...]
    unknown: tuple[PriceLine, ...]
    #: Enabled models whose SKUs name no price-list line (``kie_labels`` empty): priced from
    #: another source (Seedance 1.5 Pro, reference kie-live-truth §5) and left to ``catalog sync``.
    unlabelled: tuple[str, ...] = ()

    @property
    def in_sync(self) -> bool:
        return not (self.changed or self.missing or self.unknown)


def normalize_label(label: str) -> str:
    return " ".join(label.split()).casefold()


def parse_price_list(text: str) -> list[PriceLine]:
    """The priced lines of a list; blank and ``#`` lines are skipped.

    Raises:
        PriceListError: naming the first line that is not ``label|USD``.
    """
    lines: list[PriceLine] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip().lstrip("\ufeff")
        if not stripped or stripped.startswith("#"):
            continue
        label, sep, price = stripped.rpartition("|")
        if not sep or not label.strip():
            raise PriceListError(f'line {number}: expected "model, variant|USD", got {stripped!r}')
        try:
            usd = Decimal(price.strip())
        except InvalidOperation:
            raise PriceListError(f"line {number}: price {price.strip()!r} is not a number") from None
        if not usd.is_finite() or usd < 0:
            raise PriceListError(f"line {number}: price {price.strip()!r} is not a positive number")
        lines.append(PriceLine(line=number, label=" ".join(label.split()), usd=usd))
    return lines


def diff_prices(registry: Registry, lines: Iterable[PriceLine]) -> PriceDiff:
    """Every price that differs, every enabled SKU the list lacks, every listed line we lack."""
    listed: dict[str, PriceLine] = {}
    for line in lines:
        listed[normalize_label(line.label)] = line  # a later duplicate wins, as on the page
    used: set[str] = set()
    changed: list[PriceChange] = []
    missing: list[MissingSkus] = []
    unlabelled: list[str] = []
    for spec in registry.models:
        if not any(sku.kie_labels for sku in spec.pricing.skus):
            if spec.enabled:
                unlabelled.append(spec.id)
            continue
        lacking_keys: list[str] = []
        lacking_labels: list[str] = []
        for sku in spec.pricing.skus:
            key = sku_key(spec, sku.when)
            registry_usd = sku.credits * CREDIT_USD
            matched = False
            for label in sku.kie_labels:
                found = listed.get(normalize_label(label))
                if found is None:
                    continue
                matched = True
                used.add(normalize_label(label))
                if found.usd != registry_usd:
                    changed.append(
                        PriceChange(
                            model_id=spec.id,
                            sku_key=key,
                            label=found.label,
                            credits=sku.credits,
                            registry_usd=registry_usd,
                            listed_usd=found.usd,
                        )
                    )
            if not matched:
                lacking_keys.append(key)
                lacking_labels.extend(sku.kie_labels)
        if lacking_keys and spec.enabled:
            missing.append(
                MissingSkus(
                    model_id=spec.id,
                    sku_keys=tuple(lacking_keys),
                    labels=tuple(dict.fromkeys(lacking_labels)),
                    whole_model=len(lacking_keys) == len(spec.pricing.skus),
                )
            )
    unknown = tuple(line for key, line in listed.items() if key not in used)
    return PriceDiff(
        changed=tuple(changed),
        missing=tuple(missing),
        unknown=tuple(sorted(unknown, key=lambda ln: ln.line)),
        unlabelled=tuple(unlabelled),
    )
