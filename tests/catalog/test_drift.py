"""The sans-IO comparison of the registry with Kie's catalogue (kiebot.catalog.drift)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from kiebot.catalog import load_registry
from kiebot.catalog.drift import (
    compare,
    credit_figures,
    family_prefix,
    offered_values,
    price_drift,
    schema_drift,
    sent_fields,
    variant_credits,
)
from kiebot.catalog.kie_schema import Alternative, InputSchema
from kiebot.kie.catalogue_wire import KieModel
from kiebot.testing.kie.catalogue import kie_id, pricing_desc

REGISTRY = load_registry()
NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
KLING = REGISTRY.require("kling-2.6/text-to-video")


def catalogue_of_registry() -> list[KieModel]:
    return [
        KieModel(model=kie_id(m), provider=kie_id(m).split("/")[0], pricing_desc=pricing_desc(m))
        for m in REGISTRY.models
    ]


def schema(fields: dict[str, tuple[str, ...] | None], *required: frozenset[str]) -> InputSchema:
    names = frozenset(fields)
    return InputSchema(
        fields=names,
        enums={k: v for k, v in fields.items() if v is not None},
        alternatives=tuple(Alternative(fields=names, required=r) for r in required) or (Alternative(fields=names, required=frozenset()),),
    )


# ---- price texts ---------------------------------------------------------------------------------


def test_credit_figures_are_numbers_tied_to_credits_only() -> None:
    text = "A 5-second video costs 160 credits (0.80 USD), 10 s costs 1,000 credits; audio: credits: 3.5 per second at 720p."
    assert credit_figures(text) == [Decimal(160), Decimal(1000), Decimal("3.5")]
    assert credit_figures("Costs $0.10 per 6-second clip") == []
    assert credit_figures("70 Kie credits, or 12cr at 720p; 3 credit(s) a second") == [Decimal(70), Decimal(12), Decimal(3)]


def test_variant_credits_include_per_second_rates() -> None:
    credits = variant_credits(KLING)
    assert Decimal(55) in credits
    assert Decimal(220) in credits
    assert Decimal(11) in credits  # 55 credits for 5 s


def test_price_text_of_our_own_variants_does_not_drift() -> None:
    for spec in REGISTRY.enabled:
        assert price_drift(spec, pricing_desc(spec)) is None, spec.id


def test_a_figure_no_variant_has_is_price_drift() -> None:
    drift = price_drift(KLING, "A 5-second video costs 70 credits (0.35 USD).")
    assert drift is not None
    assert drift.kind == "price"
    assert drift.model == KLING.id
    assert "70" in drift.detail
    assert "55" in drift.detail


def test_price_within_one_percent_and_text_without_figures_are_not_drift() -> None:
    assert price_drift(KLING, "costs 55.3 credits") is None
    assert price_drift(KLING, "Pricing varies by duration; see the website.") is None
    assert price_drift(KLING, None) is None


# ---- schemas -------------------------------------------------------------------------------------


def test_sent_fields_and_offered_values_of_kling() -> None:
    assert sent_fields(KLING) == {"prompt", "sound", "aspect_ratio", "duration"}
    offered = offered_values(KLING)
    assert offered["duration"] == ["5", "10"]
    assert offered["sound"] == ["true", "false"]


def test_schema_drift_field_enum_required() -> None:
    doc = schema(
        {"prompt": None, "aspect_ratio": ("16:9", "9:16", "1:1"), "duration": ("5",), "style": None},
        frozenset({"prompt", "style"}),
    )
    found = {(d.kind, d.detail.split(";")[0]) for d in schema_drift(KLING, doc)}
    assert ("field", "we send 'sound'") in found
    assert ("enum", "duration: we offer 10") in found
    assert ("required", "Kie requires style") in found


def test_schema_with_an_alternative_we_satisfy_has_no_required_drift() -> None:
    doc = schema(
        {"prompt": None, "sound": None, "aspect_ratio": None, "duration": None, "image_urls": None},
        frozenset({"prompt", "image_urls"}),
        frozenset({"prompt"}),
    )
    assert schema_drift(KLING, doc) == []


def test_open_input_object_cannot_make_field_drift() -> None:
    doc = InputSchema(fields=frozenset(), enums={}, alternatives=(), declared=False)
    assert schema_drift(KLING, doc) == []


# ---- the whole comparison ------------------------------------------------------------------------


def test_consistent_catalogue_has_no_drift() -> None:
    report = compare(REGISTRY.enabled, catalogue_of_registry(), checked_at=NOW, known_ids=[m.id for m in REGISTRY.models])
    assert report.drift == ()
    assert not report.drifted
    assert report.new == ()
    assert report.checked_models == len(REGISTRY.enabled)


def test_missing_price_new_and_price_change() -> None:
    entries = [e for e in catalogue_of_registry() if e.model != "z-image"]
    entries = [
        KieModel(model=e.model, provider=e.provider, pricing_desc="Each image costs 5 credits.") if e.model == "google/nano-banana" else e
        for e in entries
    ]
    entries.append(KieModel(model="kling-2.6/motion-control", provider="kling"))
    entries.append(KieModel(model="midjourney/v7", provider="midjourney"))
    before = {"google/nano-banana": pricing_desc(REGISTRY.require("google/nano-banana"))}
    report = compare(REGISTRY.enabled, entries, checked_at=NOW, previous_texts=before, known_ids=[m.id for m in REGISTRY.models])
    assert {(d.model, d.kind) for d in report.drift} == {("z-image", "missing"), ("google/nano-banana", "price")}
    assert report.missing() == ("z-image",)
    assert report.new == ("kling-2.6/motion-control",)  # midjourney is no family we sell
    assert [(c.model, c.after) for c in report.price_changes] == [("google/nano-banana", "Each image costs 5 credits.")]
    doc = report.to_json()
    assert set(doc) >= {"drift", "new", "checked_at"}
    assert {"model": "z-image", "kind": "missing", "detail": "absent from Kie's catalogue"} in doc["drift"]
    assert doc["checked_at"] == NOW.isoformat()


def test_null_schema_is_not_synced_not_drift() -> None:
    report = compare(REGISTRY.enabled, catalogue_of_registry(), checked_at=NOW, schemas={KLING.id: None})
    assert report.drift == ()
    assert report.not_synced == (KLING.id,)


def test_dedicated_families_absent_altogether_are_unlisted_but_one_missing_of_a_listed_family_drifts() -> None:
    market_only = [e for e in catalogue_of_registry() if "/" in e.model or "-" in e.model]
    veo = [m.id for m in REGISTRY.enabled if m.family == "veo"]
    suno = [m.id for m in REGISTRY.enabled if m.family == "suno"]
    report = compare(REGISTRY.enabled, market_only, checked_at=NOW)
    assert report.drift == ()
    assert set(report.unlisted) == {*veo, *suno}
    one_veo_gone = [e for e in catalogue_of_registry() if e.model != REGISTRY.require(veo[0]).request_model]
    report = compare(REGISTRY.enabled, one_veo_gone, checked_at=NOW)
    assert [(d.model, d.kind) for d in report.drift] == [(veo[0], "missing")]


def test_catalogue_matches_by_slug_and_case() -> None:
    entries = [KieModel(model="X", slug=kie_id(m).upper(), pricing_desc=pricing_desc(m)) for m in REGISTRY.enabled]
    report = compare(REGISTRY.enabled, entries, checked_at=NOW)
    assert report.drift == ()


@pytest.mark.parametrize(
    ("model_id", "family"),
    [("kling-2.6/text-to-video", "kling"), ("wan/2-6-text-to-video", "wan"), ("sora-2-text-to-video", "sora"), ("z-image", "z"), ("veo3_fast", "veo")],
)
def test_family_prefix(model_id: str, family: str) -> None:
    assert family_prefix(model_id) == family
