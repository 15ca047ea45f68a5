"""Registry vs Kie's live catalogue: the drift list (pure; the I/O is :mod:`kiebot.catalog.sync`).

Kie changes prices, retires models and **silently ignores unknown input fields while billing in
full** (reference: kie-live-truth §1), so each model we sell is compared with what Kie publishes:

* ``missing`` — no catalogue entry names it (by our id or its wire ``model``);
* ``price`` — a credit figure of its ``pricingDesc`` matches none of its variants' credits (nor a
  variant's credits per second of its duration): the prose is compared as a hint, never parsed
  into prices;
* ``field`` — a wire field we send that the schema's ``input`` does not declare;
* ``enum`` — a value we offer that the schema's enum for that field lacks;
* ``required`` — a field every alternative of the schema requires and we never send.

A null schema is "not synced yet" (a note, not drift). Catalogue models of families we sell that
the registry lacks are listed as ``new`` (information). Dedicated-API families (Veo, Suno) are
matched by their wire model; when the catalogue lists none of a family's models, their absence is
a note ("not listed"), not drift, since Kie's catalogue may only cover the market API.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Final, Literal

import msgspec

from kiebot.catalog.kie_schema import InputSchema, wire_text
from kiebot.catalog.types import ModelSpec
from kiebot.kie.catalogue_wire import KieModel

DriftKind = Literal["missing", "price", "field", "enum", "required"]
KINDS: Final[tuple[DriftKind, ...]] = ("missing", "price", "field", "enum", "required")

#: Relative tolerance when a credit figure of the prose is compared with a variant's credits.
TOLERANCE: Final = Decimal("0.01")
_SECONDS_KEYS: Final = ("duration", "n_frames", "duration_seconds", "seconds")
_NUMBER = r"(\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?)"
_FIGURE_BEFORE = re.compile(_NUMBER + r"\s*(?:kie\s+)?(?:credits?|cr)\b", re.IGNORECASE)
_FIGURE_AFTER = re.compile(r"\bcredits?\s*[:=]\s*" + _NUMBER, re.IGNORECASE)


class Drift(msgspec.Struct, frozen=True, kw_only=True):
    model: str
    kind: DriftKind
    detail: str


class PriceChange(msgspec.Struct, frozen=True, kw_only=True):
    """``pricingDesc`` differs from the text seen at the last sync."""

    model: str
    before: str
    after: str


class SyncReport(msgspec.Struct, frozen=True, kw_only=True):
    """One sync: drift (what needs a human), new models, and notes that are not drift."""

    checked_at: datetime
    drift: tuple[Drift, ...] = ()
    new: tuple[str, ...] = ()
    #: model id → the catalogue's ``pricingDesc`` now (for "changed since last sync" and admins).
    price_texts: dict[str, str] = {}
    price_changes: tuple[PriceChange, ...] = ()
    #: Sold models whose schema is null at Kie ("not synced yet").
    not_synced: tuple[str, ...] = ()
    #: Sold models whose schema could not be read this time (a note: checked next run).
    schema_errors: dict[str, str] = {}
    #: Dedicated-API models of a family the catalogue does not list at all.
    unlisted: tuple[str, ...] = ()
    checked_models: int = 0
    kie_models: int = 0

    @property
    def drifted(self) -> bool:
        return bool(self.drift)

    def missing(self) -> tuple[str, ...]:
        return tuple(d.model for d in self.drift if d.kind == "missing")

    def to_json(self) -> dict[str, Any]:
        """The ``catalog sync --json`` document: ``{"drift": [...], "new": [...], "checked_at"}``."""
        return {
            "drift": [{"model": d.model, "kind": d.kind, "detail": d.detail} for d in self.drift],
            "new": list(self.new),
            "checked_at": self.checked_at.isoformat(),
            "price_changes": [{"model": c.model, "before": c.before, "after": c.after} for c in self.price_changes],
            "not_synced": list(self.not_synced),
            "schema_errors": dict(self.schema_errors),
            "unlisted": list(self.unlisted),
            "checked_models": self.checked_models,
            "kie_models": self.kie_models,
        }


# ---- matching ------------------------------------------------------------------------------------


def _keys(spec: ModelSpec) -> list[str]:
    return list(dict.fromkeys(k.lower() for k in (spec.id, spec.request_model)))


def index_catalogue(entries: Iterable[KieModel]) -> dict[str, KieModel]:
    """Catalogue entries by lower-cased ``model`` and ``slug`` (the first entry wins)."""
    out: dict[str, KieModel] = {}
    for entry in entries:
        for key in (entry.model, entry.slug):
            if key:
                out.setdefault(key.strip().lower(), entry)
    return out


def find_entry(spec: ModelSpec, index: Mapping[str, KieModel]) -> KieModel | None:
    for key in _keys(spec):
        if key in index:
            return index[key]
    return None


def family_prefix(model_id: str) -> str:
    """``kling`` of ``kling-2.6/text-to-video``, ``wan`` of ``wan/2-6-…``, ``sora`` of ``sora-2-…``."""
    head = model_id.strip().lower().split("/", 1)[0]
    return re.split(r"[-_.\d]", head, maxsplit=1)[0] or head


# ---- price --------------------------------------------------------------------------------------


def credit_figures(text: str) -> list[Decimal]:
    """Every number the prose ties to "credit(s)": ``160 credits``, ``3.5 credits per second``,
    ``credits: 12``. Dollar amounts and durations are not credit figures."""
    figures: list[tuple[int, Decimal]] = []
    for pattern in (_FIGURE_BEFORE, _FIGURE_AFTER):
        for match in pattern.finditer(text):
            try:
                figures.append((match.start(), Decimal(match.group(1).replace(",", ""))))
            except InvalidOperation:
                continue
    return [value for _, value in sorted(figures, key=lambda f: f[0])]


def variant_credits(spec: ModelSpec) -> list[Decimal]:
    """Credits a catalogue text may name for this model: each variant's credits, and for a variant
    with a duration its credits per second (Kie often states per-second rates)."""
    out: list[Decimal] = []
    for sku in spec.pricing.skus:
        out.append(sku.credits)
        for key in _SECONDS_KEYS:
            seconds = sku.when.get(key)
            if isinstance(seconds, str):
                try:
                    n = Decimal(seconds)
                except InvalidOperation:
                    continue
                if n > 0:
                    out.append(sku.credits / n)
    return sorted(set(out))


def _close(a: Decimal, b: Decimal) -> bool:
    return abs(a - b) <= max(Decimal("0.01"), TOLERANCE * abs(b))


def _num(value: Decimal) -> str:
    text = format(value.normalize(), "f")
    return text


def price_drift(spec: ModelSpec, pricing_desc: str | None) -> Drift | None:
    """``price`` drift when a credit figure of the text matches none of the model's variants."""
    if not pricing_desc:
        return None
    ours = variant_credits(spec)
    strange = [f for f in credit_figures(pricing_desc) if not any(_close(f, c) for c in ours)]
    if not strange:
        return None
    listed = ", ".join(_num(c) for c in sorted({s.credits for s in spec.pricing.skus}))
    unknown = ", ".join(dict.fromkeys(_num(f) for f in strange))
    return Drift(
        model=spec.id,
        kind="price",
        detail=f"pricingDesc names {unknown} credits; our variants cost {listed}: {pricing_desc[:300]}",
    )


# ---- schema -------------------------------------------------------------------------------------


def sent_fields(spec: ModelSpec) -> set[str]:
    """Every wire field we may put into ``input`` (or the flat body) for this model."""
    fields = {m.wire for m in spec.media} | {p.wire for p in spec.params}
    if spec.prompt is not None:
        fields.add(spec.prompt.wire)
    return fields


def offered_values(spec: ModelSpec) -> dict[str, list[str]]:
    """Values we may send per enum-like field: a wizard step's every value, else the default;
    a const's value and its per-media alternatives."""
    out: dict[str, list[str]] = {}
    for p in spec.params:
        if p.type == "enum":
            values = list(p.values) if p.wizard else ([wire_text(p.default)] if p.default is not None else list(p.values))
        elif p.type == "bool":
            values = ["true", "false"] if p.wizard else ([wire_text(p.default)] if p.default is not None else [])
        elif p.type == "const":
            values = [wire_text(v) for v in (p.value, *p.when_media.values()) if v is not None]
        else:
            continue
        if values:
            out[p.wire] = values
    return out


def schema_drift(spec: ModelSpec, schema: InputSchema) -> list[Drift]:
    out: list[Drift] = []
    ours = sent_fields(spec)
    if schema.declared:
        for field in sorted(ours - schema.fields):
            out.append(Drift(model=spec.id, kind="field", detail=f"we send {field!r}; Kie's schema does not declare it"))
    for field, values in sorted(offered_values(spec).items()):
        allowed = schema.enums.get(field)
        if allowed is None or field not in schema.fields:
            continue
        lacking = [v for v in values if v not in allowed]
        if lacking:
            out.append(
                Drift(
                    model=spec.id,
                    kind="enum",
                    detail=f"{field}: we offer {', '.join(lacking)}; Kie allows {', '.join(allowed) or 'nothing'}",
                )
            )
    if schema.alternatives:
        gaps = [sorted(alt.required - ours) for alt in schema.alternatives]
        if all(gaps):
            smallest = min(gaps, key=len)
            out.append(
                Drift(model=spec.id, kind="required", detail=f"Kie requires {', '.join(smallest)}; we never send it")
            )
    return out


# ---- the whole comparison -----------------------------------------------------------------------


def compare(
    sold: Sequence[ModelSpec],
    catalogue: Sequence[KieModel],
    *,
    checked_at: datetime,
    schemas: Mapping[str, InputSchema | None] | None = None,
    schema_errors: Mapping[str, str] | None = None,
    price_texts: Mapping[str, str] | None = None,
    previous_texts: Mapping[str, str] | None = None,
    known_ids: Iterable[str] = (),
) -> SyncReport:
    """The report for the models we sell against one catalogue read.

    Args:
        sold: the enabled models of the registry.
        catalogue: every entry of ``GET /api/v1/models``.
        schemas: sold model id → its input schema as read, or None for a null schema (absent:
            not fetched, e.g. the model is missing).
        schema_errors: sold model id → why its schema could not be read (a note).
        price_texts: sold model id → ``pricingDesc`` when the catalogue entry lacked one and
            ``/price`` was asked.
        previous_texts: model id → ``pricingDesc`` at the last sync.
        known_ids: every id of the registry, enabled or not (not "new").
    """
    schemas = schemas or {}
    previous_texts = previous_texts or {}
    index = index_catalogue(catalogue)
    drift: list[Drift] = []
    texts: dict[str, str] = {}
    changes: list[PriceChange] = []
    not_synced: list[str] = []
    unlisted: list[str] = []
    listed_families = {
        spec.family for spec in sold if spec.family != "market" and find_entry(spec, index) is not None
    }
    for spec in sold:
        entry = find_entry(spec, index)
        if entry is None:
            if spec.family != "market" and spec.family not in listed_families:
                unlisted.append(spec.id)
            else:
                drift.append(Drift(model=spec.id, kind="missing", detail="absent from Kie's catalogue"))
            continue
        text = entry.pricing_desc or (price_texts or {}).get(spec.id)
        if text:
            texts[spec.id] = text
            before = previous_texts.get(spec.id)
            if before is not None and before.strip() != text.strip():
                changes.append(PriceChange(model=spec.id, before=before, after=text))
        found = price_drift(spec, text)
        if found is not None:
            drift.append(found)
        if spec.id in schemas:
            schema = schemas[spec.id]
            if schema is None:
                not_synced.append(spec.id)
            else:
                drift.extend(schema_drift(spec, schema))
    known = {k.lower() for k in known_ids} | {k for spec in sold for k in _keys(spec)}
    families = {family_prefix(spec.id) for spec in sold}
    providers = {e.provider.lower() for spec in sold if (e := find_entry(spec, index)) is not None and e.provider}
    new = [
        entry.model
        for entry in catalogue
        if entry.model.lower() not in known
        and (entry.slug or "").lower() not in known
        and (family_prefix(entry.model) in families or (entry.provider or "").lower() in providers)
    ]
    return SyncReport(
        checked_at=checked_at,
        drift=tuple(drift),
        new=tuple(dict.fromkeys(new)),
        price_texts=texts,
        price_changes=tuple(changes),
        not_synced=tuple(not_synced),
        schema_errors=dict(schema_errors or {}),
        unlisted=tuple(unlisted),
        checked_models=len(sold),
        kie_models=len(catalogue),
    )
