"""The catalogue CLI from the outside: ``python -m kiebot registry check|diff`` and ``prices``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from kiebot.catalog import DEFAULT_PATH, load_registry
from kiebot.catalog.price_list import PriceListError, diff_prices, parse_price_list
from kiebot.catalog.pricing import CREDIT_USD

pytestmark = pytest.mark.timeout(60)

ROOT = Path(__file__).resolve().parents[2]
KIE_LIST = ROOT / "registry" / "kie_pricing_2025-12-21.txt"
REGISTRY = load_registry()


def run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k not in ("KIEBOT_REGISTRY", "FREE_TIER_MODEL_IDS", "FX_RUB_PER_USD", "PRICING_MARKUP")}
    return subprocess.run(
        [sys.executable, "-m", "kiebot", *args],
        cwd=ROOT,
        env={**base, "TEST_MODE": "1", **env},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def in_sync_list() -> str:
    lines = ["# generated from the registry itself"]
    for spec in REGISTRY.enabled:
        for sku in spec.pricing.skus:
            lines += [f"{label}|{sku.credits * CREDIT_USD}" for label in sku.kie_labels]
    return "\n".join(lines) + "\n"


# ---- registry check ----------------------------------------------------------------------------------


def test_registry_check_passes_and_summarises() -> None:
    result = run("registry", "check")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert f"registry OK: {DEFAULT_PATH}" in out
    assert "models: 45 (45 enabled, 0 disabled)" in out
    assert "  image: 16\n  video: 24\n  audio: 5\n" in out
    assert "disabled:" not in out
    assert "free tier (5 cheapest at 78.0 ₽/$, ×2): z-image, recraft/remove-background, infinitalk/from-audio, google/imagen4-fast, google/nano-banana" in out


def test_registry_check_fails_on_a_broken_registry(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(DEFAULT_PATH.read_text(encoding="utf-8").replace("prompt = { max_length = 1000 }", "prompt = { max_lenght = 1000 }", 1), encoding="utf-8")
    result = run("registry", "check", KIEBOT_REGISTRY=str(bad))
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.strip() == f'registry error: {bad}: model "z-image": unknown field `max_lenght` (at prompt)'


def test_registry_check_fails_on_a_missing_registry(tmp_path: Path) -> None:
    result = run("registry", "check", KIEBOT_REGISTRY=str(tmp_path / "none.toml"))
    assert result.returncode == 1
    assert "cannot read the registry" in result.stderr


def test_registry_check_validates_the_free_tier_override() -> None:
    ids = "z-image,google/nano-banana,google/imagen4-fast,recraft/remove-background,flux-2/pro-text"
    result = run("registry", "check", FREE_TIER_MODEL_IDS=ids)
    assert result.returncode == 1
    assert result.stderr.strip() == 'registry error: FREE_TIER_MODEL_IDS: unknown model id "flux-2/pro-text"'
    good = ids.replace("flux-2/pro-text", "flux-2/pro-text-to-image")
    result = run("registry", "check", FREE_TIER_MODEL_IDS=good)
    assert result.returncode == 0, result.stderr
    assert f"free tier (FREE_TIER_MODEL_IDS): {good.replace(',', ', ')}" in result.stdout


# ---- registry diff -----------------------------------------------------------------------------------


def test_diff_against_the_2025_12_21_list_shows_only_gaps_of_the_partial_scrape() -> None:
    result = run("registry", "diff", str(KIE_LIST))
    assert result.returncode == 1, result.stderr
    out = result.stdout
    assert "(81 priced lines)" in out
    assert "prices that differ (0):" in out  # every listed variant we sell has Kie's price
    assert "  sora-2-text-to-video: whole model\n" in out
    assert "  kling-2.6/text-to-video: duration=5,sound=true, duration=10,sound=true\n" in out
    assert 'line 20: "Midjourney, image-to-image, fast" $0.04' in out
    assert "  bytedance/seedance-1.5-pro: whole model" not in out  # no kie_labels: not comparable
    assert "not compared (no kie_labels: priced from another source, see `catalog sync`): bytedance/seedance-1.5-pro" in out
    assert out.rstrip().endswith("drift: update registry/models.toml or record the deviation there")


def test_diff_is_clean_against_a_list_in_sync(tmp_path: Path) -> None:
    listing = tmp_path / "kie.txt"
    listing.write_text(in_sync_list(), encoding="utf-8")
    result = run("registry", "diff", str(listing))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "prices that differ (0)" in result.stdout
    assert "registry SKUs the list lacks (0 in 0 models)" in result.stdout
    assert "listed prices the registry lacks (0)" in result.stdout
    assert result.stdout.rstrip().endswith("in sync")


def test_diff_reports_a_changed_price_a_missing_sku_and_a_new_model(tmp_path: Path) -> None:
    text = in_sync_list()
    text = text.replace("kling 2.6, text-to-video, without audio-5.0s|0.275", "KLING 2.6,   text-to-video, without audio-5.0s|0.30")
    text = text.replace("Google veo 3.1, text-to-video, Quality|1.250\n", "").replace("Google veo 3.1, image-to-video, Quality|1.250\n", "")
    text += "Runway Aleph|0.55\n"
    listing = tmp_path / "kie.txt"
    listing.write_text(text, encoding="utf-8")
    result = run("registry", "diff", str(listing))
    assert result.returncode == 1
    out = result.stdout
    assert "prices that differ (1):" in out
    assert '  kling-2.6/text-to-video [duration=5,sound=false] "KLING 2.6, text-to-video, without audio-5.0s": registry 55 cr = $0.275, list $0.3' in out
    assert "registry SKUs the list lacks (1 in 1 models):\n  veo3.1-quality: whole model" in out
    assert "listed prices the registry lacks (1):" in out
    assert '"Runway Aleph" $0.55' in out


def test_diff_refuses_a_file_that_is_not_a_price_list(tmp_path: Path) -> None:
    listing = tmp_path / "kie.txt"
    listing.write_text("Suno, Generate Music|0.06\nthis line has no price\n", encoding="utf-8")
    result = run("registry", "diff", str(listing))
    assert result.returncode == 2
    assert "line 2: expected \"model, variant|USD\"" in result.stderr
    result = run("registry", "diff", str(tmp_path / "absent.txt"))
    assert result.returncode == 2
    assert "cannot read" in result.stderr


# ---- prices ------------------------------------------------------------------------------------------


def test_prices_json_shape_offline() -> None:
    result = run("prices", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert set(data) == {"fx", "markup", "free_tier", "models"}
    assert data["fx"] == {"rub_per_usd": 78.0, "date": None, "source": "fallback"}
    assert data["markup"] == 2.0
    assert data["free_tier"] == ["z-image", "recraft/remove-background", "infinitalk/from-audio", "google/imagen4-fast", "google/nano-banana"]
    assert len(data["models"]) == 45
    for model in data["models"]:
        assert set(model) == {"id", "family", "category", "kind", "title_ru", "title_en", "skus"}
        for sku in model["skus"]:
            assert set(sku) == {"params", "credits", "price_kopecks", "unit"}
            assert isinstance(sku["price_kopecks"], int)
            assert sku["price_kopecks"] > 0
    by_id = {m["id"]: m for m in data["models"]}
    assert by_id["z-image"]["skus"] == [{"params": {}, "credits": 0.8, "price_kopecks": 63, "unit": "run"}]
    assert by_id["z-image"]["title_ru"] == "Z-Image — быстрая картинка"
    kling = {json.dumps(s["params"], sort_keys=True): s for s in by_id["kling-2.6/text-to-video"]["skus"]}
    assert kling['{"duration": "10", "sound": true}']["credits"] == 220
    assert kling['{"duration": "10", "sound": true}']["price_kopecks"] == 17160
    assert by_id["veo3.1-fast"]["family"] == "veo"
    assert by_id["elevenlabs/audio-isolation"]["skus"][0]["unit"] == "second"


def test_prices_follow_markup_and_fallback_rate() -> None:
    result = run("prices", "--json", FX_RUB_PER_USD="95", PRICING_MARKUP="1.5")
    data = json.loads(result.stdout)
    assert data["fx"]["rub_per_usd"] == 95.0
    z_image = next(m for m in data["models"] if m["id"] == "z-image")
    assert z_image["skus"][0]["price_kopecks"] == 57  # ceil(0.8 × 0.005 × 95 × 1.5 × 100) = ceil(57.0)


def test_prices_table() -> None:
    result = run("prices")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "FX 78.0 ₽/$ (fallback), markup ×2, 1 credit = $0.005"
    assert lines[3].split() == ["model", "variant", "credits", "₽"]
    assert any(line.split() == ["z-image", "—", "0.8", "0.63"] for line in lines)
    assert any(line.split() == ["wan/2-6-text-to-video", "duration=10,resolution=1080p", "209.5", "163.41"] for line in lines)
    assert any(line.split() == ["elevenlabs/audio-isolation", "—", "per", "second", "0.2", "0.16"] for line in lines)


def test_prices_refuses_a_bad_free_tier_override_as_a_configuration_error() -> None:
    result = run("prices", FREE_TIER_MODEL_IDS="a,b,c,d,e")
    assert result.returncode == 2
    assert result.stderr.strip() == 'configuration error: FREE_TIER_MODEL_IDS: unknown model id "a"'


# ---- the price-list parser in-process --------------------------------------------------------------


def test_price_list_parsing() -> None:
    lines = parse_price_list("\ufeff# comment\n\nwan 2.5, image-to-video, default-5.0s-720p|0.3\nA | B|0.01\n")
    assert [(ln.line, ln.label, str(ln.usd)) for ln in lines] == [(3, "wan 2.5, image-to-video, default-5.0s-720p", "0.3"), (4, "A | B", "0.01")]
    for bad, message in (("x|abc", "not a number"), ("|0.1", "expected"), ("x|-1", "positive"), ("x|inf", "positive")):
        with pytest.raises(PriceListError, match=message):
            parse_price_list(bad)


def test_diff_matches_labels_case_and_space_insensitively() -> None:
    diff = diff_prices(REGISTRY, parse_price_list("  suno,   GENERATE music |0.06\n"))
    assert diff.changed == ()
    assert "suno-v4.5" not in {m.model_id for m in diff.missing}
    assert diff.unknown == ()
