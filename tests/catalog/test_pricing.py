"""Prices: the exact Kie credits per variant, exact ruble arithmetic, metered quantities, the free tier."""

from __future__ import annotations

import decimal
import math
import re
from decimal import Decimal

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kiebot.catalog import DEFAULT_PATH, MediaItem, load_registry, parse_registry
from kiebot.catalog.fx import FxRate, fallback_rate
from kiebot.catalog.pricing import (
    CREDIT_USD,
    PricingError,
    Quote,
    billing_quantity,
    free_tier,
    kopecks_for,
    price_range,
    quote,
    wire_credits,
)
from kiebot.config import ConfigError

pytestmark = pytest.mark.timeout(60)

REGISTRY = load_registry()


def _credits(model_id: str, **params: object) -> Decimal:
    return quote(REGISTRY.require(model_id), params, fx="78", markup="2").credits


@pytest.mark.parametrize(
    ("model_id", "params", "credits"),
    [
        ("z-image", {}, Decimal("0.8")),
        ("flux-2/flex-image-to-image", {"resolution": "1K"}, 14),
        ("flux-2/flex-image-to-image", {"resolution": "2K"}, 24),
        ("flux-2/pro-image-to-image", {"resolution": "2K"}, 7),
        ("wan/2-6-text-to-video", {"resolution": "1080p", "duration": "15"}, 315),
        ("wan/2-6-image-to-video", {"resolution": "1080p", "duration": "15"}, 315),
        ("wan/2-6-video-to-video", {"resolution": "1080p", "duration": "10"}, Decimal("209.5")),
        ("wan/2-6-text-to-video", {"resolution": "1080p", "duration": "5"}, Decimal("104.5")),
        ("kling-2.6/text-to-video", {"duration": "10", "sound": True}, 220),
        ("kling-2.6/image-to-video", {"duration": "5", "sound": "false"}, 55),
        ("veo3.1-fast", {}, 60),
        ("veo3.1-quality", {"aspectRatio": "9:16"}, 250),
        ("hailuo/2-3-image-to-video-pro", {"duration": "6", "resolution": "1080P"}, 80),
        ("hailuo/2-3-image-to-video-standard", {"duration": "10"}, 50),
        ("sora-2-text-to-video", {"n_frames": "15"}, 25),
        ("nano-banana-pro", {"resolution": "4K"}, 24),
        ("nano-banana-pro", {}, 18),
        ("google/imagen4", {}, 8),
        ("google/imagen4-ultra", {}, 12),
        ("google/imagen4-fast", {}, 4),
        ("topaz/image-upscale", {"upscale_factor": "4"}, 40),
        ("kling/v2-5-turbo-image-to-video-pro", {"duration": "10"}, 84),
        ("infinitalk/from-audio", {"resolution": "720p"}, 12),
        ("wan/2-5-text-to-video", {"duration": "10", "resolution": "1080p"}, 200),
        ("seedream/4.5-edit", {"quality": "high"}, Decimal("6.5")),
        ("recraft/remove-background", {}, 1),
        ("suno-v4.5", {"instrumental": True}, 12),
        ("sora-watermark-remover", {}, 10),
    ],
)
def test_credits_match_kie_per_variant(model_id: str, params: dict[str, object], credits: Decimal) -> None:
    assert _credits(model_id, **params) == credits


def test_z_image_costs_63_kopecks_at_78_and_markup_2() -> None:
    q = quote(REGISTRY.require("z-image"), {}, fx="78", markup="2")
    # ceil(0.8 × 0.005 × 78 × 2 × 100) = ceil(62.4)
    assert q.kopecks == 63
    assert (q.sku_key, q.unit, q.quantity, q.params) == ("default", "run", 1, {})


def test_exact_arithmetic_where_floats_are_a_kopeck_off() -> None:
    # 209.5 × 0.005 × 78 × 2 × 100 = 16341 exactly; in floats it is 16341.000000000002 → 16342.
    assert math.ceil(209.5 * 0.005 * 78.0 * 2.0 * 100) == 16342
    q = quote(REGISTRY.require("wan/2-6-text-to-video"), {"duration": "10", "resolution": "1080p"}, fx=78.0, markup=2.0)
    assert q.kopecks == 16341
    assert kopecks_for(Decimal("0.8"), fx=100.0, markup=1.5) == 60  # floats say 61
    assert kopecks_for(4, fx="78", markup=2.5) == 390  # floats say 391


def test_fx_and_markup_come_exactly_from_their_text() -> None:
    assert kopecks_for(Decimal("104.5"), fx="78,43", markup="2") == math.ceil(Decimal("104.5") * Decimal("0.005") * Decimal("78.43") * 2 * 100)
    rate = FxRate(rub_per_usd=Decimal("80.7220"), date=None, source="cbr")
    assert kopecks_for(60, fx=rate, markup=2.0) == 4844  # 60 × 0.005 × 80.722 × 2 × 100 = 4843.32
    assert kopecks_for(60, fx=fallback_rate(78.43), markup=1.0) == 2353  # 2352.9


def test_quote_is_frozen_as_json_and_back() -> None:
    q = quote(REGISTRY.require("kling-2.6/text-to-video"), {"duration": "10", "sound": True}, fx="78.43", markup=2.0)
    assert q.sku_key == "duration=10,sound=true"
    assert q.params == {"duration": "10", "sound": True}
    assert (q.credits, q.rub_per_usd, q.markup) == (Decimal(220), Decimal("78.43"), Decimal("2"))
    assert q.kopecks == math.ceil(Decimal(220) * CREDIT_USD * Decimal("78.43") * 2 * 100)
    again = msgspec.json.decode(msgspec.json.encode(q), type=Quote)
    assert again == q


def test_invalid_requests_have_no_price() -> None:
    hailuo = REGISTRY.require("hailuo/2-3-image-to-video-pro")
    with pytest.raises(PricingError, match="is not offered"):
        quote(hailuo, {"duration": "10", "resolution": "1080P"}, fx="78", markup="2")
    with pytest.raises(PricingError, match="duration: not_allowed"):
        quote(hailuo, {"duration": "7"}, fx="78", markup="2")
    with pytest.raises(PricingError, match="seed: unknown_field"):
        quote(REGISTRY.require("z-image"), {"seed": 1}, fx="78", markup="2")
    with pytest.raises(PricingError, match="not a finite number"):
        quote(REGISTRY.require("z-image"), {}, fx=float("nan"), markup="2")


def test_a_request_can_be_priced_before_its_link_is_known() -> None:
    q = quote(REGISTRY.require("sora-watermark-remover"), {}, fx="78", markup="2")
    assert q.credits == 10


# ---- metered models ----------------------------------------------------------------------------


def test_tts_is_billed_per_started_thousand_characters() -> None:
    spec = REGISTRY.require("elevenlabs/text-to-speech-multilingual-v2")
    assert [billing_quantity(spec, prompt="a" * n) for n in (1, 1000, 1001, 4999, 5000)] == [1, 1, 2, 5, 5]
    q = quote(spec, {"voice": "George"}, fx="78", markup="2", quantity=billing_quantity(spec, prompt="a" * 1500))
    assert (q.unit, q.quantity, q.unit_credits, q.credits) == ("1000_chars", 2, 12, 24)
    assert q.kopecks == math.ceil(24 * Decimal("0.005") * 78 * 2 * 100)
    with pytest.raises(PricingError, match="exceeds the maximum 5"):
        quote(spec, {}, fx="78", markup="2", quantity=6)
    assert quote(spec, {}, fx="78", markup="2", quantity=0).quantity == 1
    with pytest.raises(PricingError, match="must be an integer"):
        quote(spec, {}, fx="78", markup="2", quantity=True)


def test_audio_isolation_is_billed_per_second_of_input() -> None:
    spec = REGISTRY.require("elevenlabs/audio-isolation")
    clip = MediaItem(mime_type="audio/mpeg", size_bytes=10_000, duration_s=12.3)
    assert billing_quantity(spec, media={"audio_url": [clip]}) == 13
    assert quote(spec, {}, fx="78", markup="2", quantity=13).credits == Decimal("2.6")
    unknown = MediaItem(mime_type="audio/mpeg", size_bytes=10_000)
    assert billing_quantity(spec, media={"audio_url": [unknown]}) is None
    worst = quote(spec, {}, fx="78", markup="2")
    assert (worst.quantity, worst.credits) == (600, 120)


def test_sound_effects_are_quoted_at_the_longest_sound() -> None:
    spec = REGISTRY.require("elevenlabs/sound-effect-v2")
    assert billing_quantity(spec, prompt="rain") is None
    q = quote(spec, {}, fx="78", markup="2")
    assert (q.unit, q.quantity, q.credits) == ("second", 30, Decimal("7.2"))
    assert billing_quantity(REGISTRY.require("z-image"), prompt="x") is None


def test_price_ranges() -> None:
    fx, markup = "78", "2"
    assert price_range(REGISTRY.require("z-image"), fx, markup) == (63, 63)
    assert price_range(REGISTRY.require("kling-2.6/text-to-video"), fx, markup) == (4290, 17160)
    assert price_range(REGISTRY.require("elevenlabs/text-to-speech-turbo-2-5"), fx, markup) == (468, 2340)
    assert price_range(REGISTRY.require("elevenlabs/audio-isolation"), fx, markup) == (16, 9360)


# ---- free tier -------------------------------------------------------------------------------------


def test_free_tier_is_the_five_cheapest_with_ties_broken_by_id() -> None:
    free = free_tier(REGISTRY, "78", "2")
    # z-image 0.8 cr, recraft 1, infinitalk 3 (480p); then six models at 4 credits, of which the
    # two first by id: google/imagen4-fast < google/nano-banana < google/nano-banana-edit < grok...
    assert free == ("z-image", "recraft/remove-background", "infinitalk/from-audio", "google/imagen4-fast", "google/nano-banana")
    assert free_tier(REGISTRY, fallback_rate(95), 1.0) == free


def test_free_tier_never_holds_metered_or_disabled_models() -> None:
    free = set(free_tier(REGISTRY, "78", "2"))
    assert "elevenlabs/audio-isolation" not in free  # 0.2 cr per second, cheapest "minimum"
    assert "elevenlabs/sound-effect-v2" not in free
    assert all(REGISTRY.require(i).enabled for i in free)


def test_free_tier_override() -> None:
    chosen = ("google/nano-banana", "z-image", "grok-imagine/text-to-image", "google/imagen4-fast", "recraft/remove-background")
    assert free_tier(REGISTRY, "78", "2", chosen) == chosen
    with pytest.raises(ConfigError, match=r'^FREE_TIER_MODEL_IDS: unknown model id "x"$'):
        free_tier(REGISTRY, "78", "2", (*chosen[:4], "x"))
    with pytest.raises(ConfigError, match="expected exactly 5 distinct model ids, got 4"):
        free_tier(REGISTRY, "78", "2", chosen[:4])
    with pytest.raises(ConfigError, match="expected exactly 5 distinct model ids, got 4"):
        free_tier(REGISTRY, "78", "2", (*chosen[:4], "z-image"))
    text = DEFAULT_PATH.read_text(encoding="utf-8").replace('id = "wan/2-5-text-to-video"\n', 'id = "wan/2-5-text-to-video"\nenabled = false\n', 1)
    with pytest.raises(ConfigError, match=re.escape('model "wan/2-5-text-to-video" is disabled')):
        free_tier(parse_registry(text), "78", "2", (*chosen[:4], "wan/2-5-text-to-video"))


# ---- the arithmetic against an independent computation -----------------------------------------

ALL_CREDITS = sorted({s.credits for m in REGISTRY.models for s in m.pricing.skus})


@settings(max_examples=300, deadline=None, derandomize=True)
@given(
    credits=st.sampled_from(ALL_CREDITS),
    quantity=st.integers(min_value=1, max_value=600),
    fx=st.decimals(min_value=Decimal("1"), max_value=Decimal("500"), places=4),
    markup=st.decimals(min_value=Decimal("1"), max_value=Decimal("5"), places=2),
)
def test_kopecks_equal_a_high_precision_decimal_ceiling(credits: Decimal, quantity: int, fx: Decimal, markup: Decimal) -> None:
    with decimal.localcontext() as ctx:
        ctx.prec = 60
        expected = (credits * quantity * Decimal("0.005") * fx * markup * 100).to_integral_value(rounding=decimal.ROUND_CEILING)
    assert kopecks_for(credits * quantity, fx=str(fx), markup=str(markup)) == int(expected)


def test_credits_of_a_wire_body() -> None:
    assert wire_credits(REGISTRY.require("kling-2.6/text-to-video"), {"prompt": "p", "duration": "10", "sound": True}) == 220
    assert wire_credits(REGISTRY.require("kling-2.6/text-to-video"), {"prompt": "p"}) == 55
    assert wire_credits(REGISTRY.require("veo3.1-quality"), {"model": "veo3", "prompt": "p"}) == 250
    veo_body = {"prompt": "p", "imageUrls": ["https://f/1"], "generationType": "FIRST_AND_LAST_FRAMES_2_VIDEO", "enableTranslation": True}
    assert quote(REGISTRY.require("veo3.1-fast"), {k: v for k, v in veo_body.items() if k != "prompt" and k != "imageUrls"}, fx="78", markup="2").credits == 60
    assert wire_credits(REGISTRY.require("elevenlabs/text-to-speech-turbo-2-5"), {"text": "a" * 2500}) == 18
    assert wire_credits(REGISTRY.require("elevenlabs/audio-isolation"), {"audio_url": "https://f/a"}) == 120
    with pytest.raises(PricingError):
        wire_credits(REGISTRY.require("hailuo/2-3-image-to-video-pro"), {"duration": "10", "resolution": "1080P"})
