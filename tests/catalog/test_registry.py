"""registry/models.toml loads, covers the original bot's 42 models plus Veo and Suno, prices every
valid combination, and the loader refuses broken registries with messages naming model and field."""

from __future__ import annotations

import itertools
from decimal import Decimal
from pathlib import Path

import pytest

from kiebot.catalog import (
    DEFAULT_PATH,
    ModelSpec,
    Registry,
    RegistryError,
    clear_registry_cache,
    load_registry,
    parse_registry,
    validate_request,
)
from kiebot.catalog.pricing import PricingError, quote

pytestmark = pytest.mark.timeout(30)

# The allow-list of the original bot (ferixdi-png/TRT @ 123968a models/ALLOWED_MODEL_IDS.txt).
ALLOWED_MODEL_IDS = (
    "sora-2-text-to-video",
    "sora-2-image-to-video",
    "sora-watermark-remover",
    "grok-imagine/image-to-video",
    "grok-imagine/text-to-video",
    "grok-imagine/text-to-image",
    "grok-imagine/upscale",
    "wan/2-6-text-to-video",
    "wan/2-6-image-to-video",
    "wan/2-6-video-to-video",
    "kling-2.6/image-to-video",
    "kling-2.6/text-to-video",
    "bytedance/seedance-1.5-pro",
    "hailuo/2-3-image-to-video-pro",
    "hailuo/2-3-image-to-video-standard",
    "kling/v2-5-turbo-text-to-video-pro",
    "kling/v2-5-turbo-image-to-video-pro",
    "wan/2-5-image-to-video",
    "wan/2-5-text-to-video",
    "infinitalk/from-audio",
    "wan/2-2-a14b-speech-to-video-turbo",
    "kling/v1-avatar-standard",
    "kling/ai-avatar-v1-pro",
    "z-image",
    "flux-2/pro-image-to-image",
    "flux-2/flex-image-to-image",
    "flux-2/flex-text-to-image",
    "flux-2/pro-text-to-image",
    "seedream/4.5-text-to-image",
    "seedream/4.5-edit",
    "nano-banana-pro",
    "google/nano-banana",
    "google/nano-banana-edit",
    "google/imagen4-fast",
    "google/imagen4-ultra",
    "google/imagen4",
    "recraft/remove-background",
    "topaz/image-upscale",
    "elevenlabs/sound-effect-v2",
    "elevenlabs/text-to-speech-multilingual-v2",
    "elevenlabs/text-to-speech-turbo-2-5",
    "elevenlabs/audio-isolation",
)

REGISTRY = load_registry()
MODELS = REGISTRY.models
FX, MARKUP = "78", "2"


def _combinations(spec: ModelSpec) -> list[dict[str, str | bool]]:
    """Every combination of the price-changing inputs, built from the inputs themselves."""
    domains = []
    for name in spec.pricing.by:
        param = spec.param(name)
        assert param is not None
        domains.append([False, True] if param.type == "bool" else list(param.values))
    return [dict(zip(spec.pricing.by, combo, strict=True)) for combo in itertools.product(*domains)]


def test_the_42_models_of_the_original_bot_plus_veo_and_suno() -> None:
    assert len(ALLOWED_MODEL_IDS) == 42
    ids = [m.id for m in MODELS]
    assert sorted(set(ALLOWED_MODEL_IDS) - set(ids)) == []
    extra = sorted(set(ids) - set(ALLOWED_MODEL_IDS))
    assert extra == ["suno-v4.5", "veo3.1-fast", "veo3.1-quality"]
    assert {REGISTRY.require(i).family for i in extra} == {"veo", "suno"}
    assert all(REGISTRY.require(i).family == "market" for i in ALLOWED_MODEL_IDS)


def test_every_model_is_described_in_both_languages_and_categorised() -> None:
    for spec in MODELS:
        assert all((spec.title.ru, spec.title.en, spec.description.ru, spec.description.en)), spec.id
        assert spec.title.ru != spec.title.en, spec.id
        assert spec.category in REGISTRY.kinds[spec.kind].categories, spec.id
        assert 0 < spec.typical_seconds <= spec.timeout_seconds, spec.id
        assert spec.doc_url.startswith("https://docs.kie.ai/"), spec.id


def test_categories_follow_what_the_model_makes() -> None:
    kinds = {m.id: (m.category, m.kind) for m in MODELS}
    assert kinds["infinitalk/from-audio"] == ("video", "avatar")
    assert kinds["kling/v1-avatar-standard"] == ("video", "avatar")
    assert kinds["sora-watermark-remover"] == ("video", "watermark_removal")
    assert kinds["elevenlabs/text-to-speech-turbo-2-5"] == ("audio", "speech")
    assert kinds["elevenlabs/audio-isolation"] == ("audio", "audio_isolation")
    assert kinds["recraft/remove-background"] == ("image", "background_removal")
    assert kinds["suno-v4.5"] == ("audio", "music")
    assert kinds["veo3.1-fast"] == ("video", "text_to_video")


def test_kind_timeouts_are_inherited_unless_overridden() -> None:
    image = REGISTRY.require("z-image")
    video = REGISTRY.require("kling-2.6/text-to-video")
    assert (image.typical_seconds, image.timeout_seconds) == (30, 600)
    assert (video.typical_seconds, video.timeout_seconds) == (180, 1800)


@pytest.mark.parametrize("spec", MODELS, ids=[m.id for m in MODELS])
def test_every_valid_combination_has_a_price(spec: ModelSpec) -> None:
    combos = _combinations(spec)
    assert combos, spec.id
    priced = 0
    for combo in combos:
        invalid = [i for i in validate_request(spec, combo, prompt="x" * 10, media=_enough_media(spec)) if i.code == "invalid_combination"]
        if invalid:
            with pytest.raises(PricingError):
                quote(spec, combo, fx=FX, markup=MARKUP)
            continue
        q = quote(spec, combo, fx=FX, markup=MARKUP)
        assert q.credits > 0, (spec.id, combo)
        assert q.kopecks > 0, (spec.id, combo)
        priced += 1
    assert priced == len(spec.pricing.skus), spec.id


def _enough_media(spec: ModelSpec) -> dict[str, list[object]]:
    from kiebot.catalog import MediaItem

    return {m.wire: [MediaItem(mime_type=m.mime_types[0], size_bytes=1000)] * m.min_count for m in spec.media}


def test_hailuo_10_seconds_at_1080p_is_invalid_and_unpriced() -> None:
    for model_id in ("hailuo/2-3-image-to-video-pro", "hailuo/2-3-image-to-video-standard"):
        spec = REGISTRY.require(model_id)
        with pytest.raises(PricingError, match=r'duration=10, resolution=1080P is not offered'):
            quote(spec, {"duration": "10", "resolution": "1080P"}, fx=FX, markup=MARKUP)
        assert len(spec.pricing.skus) == 3


def test_wizard_stays_short() -> None:
    for spec in MODELS:
        assert len(spec.wizard_params) <= 3, spec.id
        assert all(p.type in ("enum", "bool") and p.default is not None for p in spec.wizard_params)


def test_lookups() -> None:
    assert REGISTRY.get("nope") is None
    with pytest.raises(KeyError, match='unknown model id "nope"'):
        REGISTRY.require("nope")
    assert REGISTRY.categories() == ("image", "video", "audio")
    assert {m.category for m in REGISTRY.by_category("audio")} == {"audio"}
    assert [m.id for m in REGISTRY.by_kind("avatar")] == [
        "infinitalk/from-audio",
        "kling/ai-avatar-v1-pro",
        "kling/v1-avatar-standard",
        "wan/2-2-a14b-speech-to-video-turbo",
    ]
    popular = REGISTRY.popular(3)
    assert [m.id for m in popular] == ["sora-2-text-to-video", "z-image", "nano-banana-pro"]
    assert REGISTRY.for_wire("veo", "veo3_fast") is REGISTRY.require("veo3.1-fast")
    assert REGISTRY.for_wire("suno", "V4_5") is REGISTRY.require("suno-v4.5")
    assert REGISTRY.for_wire("market", "z-image") is REGISTRY.require("z-image")
    assert REGISTRY.for_wire("veo", "z-image") is None


def _with_disabled(model_id: str) -> Registry:
    """The shipped registry with one model switched off by ``enabled = false``."""
    text = DEFAULT_PATH.read_text(encoding="utf-8")
    marker = f'id = "{model_id}"\n'
    assert marker in text
    return parse_registry(text.replace(marker, marker + "enabled = false\n", 1))


def test_every_model_of_the_original_bot_is_on_sale() -> None:
    # Seedance 1.5 Pro was the last one off (issue 15): every registry model is enabled now.
    assert [m.id for m in REGISTRY.models if not m.enabled] == []
    assert len(REGISTRY.enabled) == len(MODELS)


def test_disabled_models_are_kept_out_of_lists() -> None:
    registry = _with_disabled("wan/2-5-text-to-video")
    spec = registry.require("wan/2-5-text-to-video")
    assert not spec.enabled
    assert spec not in registry.enabled
    assert spec not in registry.by_category("video")
    assert len(registry.enabled) == len(MODELS) - 1


def test_seedance_720p_variants_are_priced_from_the_per_second_rates() -> None:
    spec = REGISTRY.require("bytedance/seedance-1.5-pro")
    assert spec.pricing.by == ("duration", "generate_audio")
    credits = {(s.when["duration"], s.when["generate_audio"]): s.credits for s in spec.pricing.skus}
    for seconds in ("4", "8", "12"):
        assert credits[(seconds, False)] == Decimal("3.5") * int(seconds)
        assert credits[(seconds, True)] == 7 * int(seconds)
    resolution = spec.param("resolution")
    assert resolution is not None
    assert resolution.values == ("720p",)  # 480p waits for a billed figure
    frames = spec.media_input("input_urls")
    assert frames is not None
    assert (frames.min_count, frames.max_count, frames.as_list) == (0, 2, True)
    assert spec.prompt is not None
    assert (spec.prompt.min_length, spec.prompt.max_length) == (3, 2500)


def test_grok_upscale_takes_an_earlier_grok_video_task() -> None:
    spec = REGISTRY.require("grok-imagine/upscale")
    (task,) = spec.user_params
    assert (task.wire, task.type) == ("task_id", "task_ref")
    assert set(task.accepts) == {"grok-imagine/text-to-video", "grok-imagine/image-to-video"}
    assert spec.media == ()
    assert spec.prompt is None


def test_avatars_take_an_image_and_an_audio() -> None:
    for spec in REGISTRY.by_kind("avatar"):
        assert sorted(m.type for m in spec.media) == ["audio", "image"], spec.id
        assert all(m.min_count == 1 for m in spec.media)


def test_tts_takes_text_and_voice() -> None:
    for model_id in ("elevenlabs/text-to-speech-multilingual-v2", "elevenlabs/text-to-speech-turbo-2-5"):
        spec = REGISTRY.require(model_id)
        assert spec.prompt is not None
        assert spec.prompt.wire == "text"
        voice = spec.param("voice")
        assert voice is not None
        assert voice.wizard
        assert voice.default == "Rachel"


# ---- loading ----------------------------------------------------------------------------------


def test_default_path_is_the_repository_registry() -> None:
    repository = Path(__file__).resolve().parents[2]
    assert repository / "registry" / "models.toml" == DEFAULT_PATH
    assert load_registry() is load_registry(DEFAULT_PATH)


def test_env_var_points_the_loader_elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    other = tmp_path / "models.toml"
    other.write_text(DEFAULT_PATH.read_text(encoding="utf-8").replace("popularity = 98", "popularity = 3", 1), encoding="utf-8")
    monkeypatch.setenv("KIEBOT_REGISTRY", str(other))
    registry = load_registry()
    assert registry.path == str(other.resolve())
    assert registry.require("z-image").popularity == 3


def test_changed_file_is_reloaded(tmp_path: Path) -> None:
    path = tmp_path / "models.toml"
    text = DEFAULT_PATH.read_text(encoding="utf-8")
    path.write_text(text, encoding="utf-8")
    first = load_registry(path)
    assert load_registry(path) is first
    path.write_text(text.replace("popularity = 98", "popularity = 97", 1), encoding="utf-8")
    second = load_registry(path)
    assert second.require("z-image").popularity == 97
    clear_registry_cache()
    assert load_registry(path) is not second


def test_missing_file_is_a_registry_error(tmp_path: Path) -> None:
    with pytest.raises(RegistryError, match="cannot read the registry"):
        load_registry(tmp_path / "absent.toml")


# ---- broken registries ---------------------------------------------------------------------------

GOOD = DEFAULT_PATH.read_text(encoding="utf-8")

ZIMAGE_PARAM = '{ wire = "aspect_ratio", type = "enum", required = true, values = ["1:1", "4:3", "3:4", "16:9", "9:16"], default = "1:1", wizard = true, label = "aspect", value_labels = "aspect" }'
HAILUO_10S = '  { when = { duration = "10", resolution = "768P" }, credits = 90, kie_labels = ["hailuo 2.3, image-to-video, Pro-10.0s-768p"] },\n'

BROKEN = [
    pytest.param(
        HAILUO_10S,
        "",
        'model "hailuo/2-3-image-to-video-pro": pricing: no price for duration="10", resolution="768P"',
        id="missing-price-for-a-combination",
    ),
    pytest.param(
        'invalid = [{ when = { duration = "10", resolution = "1080P" }, field = "duration" }]\n\n[[models]]\nid = "hailuo/2-3-image-to-video-standard"',
        '\n[[models]]\nid = "hailuo/2-3-image-to-video-standard"',
        'model "hailuo/2-3-image-to-video-pro": pricing: no price for duration="10", resolution="1080P"',
        id="invalid-rule-removed",
    ),
    pytest.param(
        "prompt = { max_length = 1000 }",
        "prompt = { max_lenght = 1000 }",
        'model "z-image": unknown field `max_lenght` (at prompt)',
        id="unknown-field",
    ),
    pytest.param(
        ZIMAGE_PARAM,
        ZIMAGE_PARAM.replace('default = "1:1"', 'default = "7:5"'),
        'model "z-image": param "aspect_ratio": default "7:5" is not one of its values [1:1, 4:3, 3:4, 16:9, 9:16]',
        id="bad-enum-default",
    ),
    pytest.param(
        'id = "google/imagen4"\n',
        'id = "google/imagen4-fast"\n',
        'model "google/imagen4-fast": duplicate id',
        id="duplicate-id",
    ),
    pytest.param(
        'title = { ru = "Z-Image — быстрая картинка", en = "Z-Image — fast picture" }',
        'title = { ru = "Z-Image — быстрая картинка", en = " " }',
        'model "z-image": title.en is empty',
        id="empty-english-title",
    ),
    pytest.param(
        'title = { ru = "Z-Image — быстрая картинка", en = "Z-Image — fast picture" }',
        'title = { en = "Z-Image — fast picture" }',
        'model "z-image": Object missing required field `ru` (at title)',
        id="missing-russian-title",
    ),
    pytest.param(
        'skus = [{ credits = 0.8, kie_labels = ["Qwen z-image, text-to-image, 1.0s"] }]',
        'skus = [{ credits = 0, kie_labels = ["Qwen z-image, text-to-image, 1.0s"] }]',
        'model "z-image": pricing: skus[0]: credits must be a positive number',
        id="zero-credits",
    ),
    pytest.param(
        '  { when = { resolution = "2K" }, credits = 18, kie_labels = ["Google nano banana pro, 1/2K"] },',
        '  { when = { resolution = "1K" }, credits = 18, kie_labels = ["Google nano banana pro, 1/2K"] },',
        'model "nano-banana-pro": pricing: skus[1]: same combination as skus[0] (resolution="1K")',
        id="duplicate-sku",
    ),
    pytest.param(
        HAILUO_10S,
        HAILUO_10S + '  { when = { duration = "10", resolution = "1080P" }, credits = 160 },\n',
        'model "hailuo/2-3-image-to-video-pro": pricing: skus[2] prices a combination listed as invalid (duration="10", resolution="1080P")',
        id="sku-for-an-invalid-combination",
    ),
    pytest.param(
        '  { when = { duration = "5", sound = false }, credits = 55, kie_labels = ["kling 2.6, text-to-video, without audio-5.0s"] },',
        '  { when = { duration = "5" }, credits = 55 },',
        'model "kling-2.6/text-to-video": pricing: skus[0]: when must give exactly the inputs of by [duration, sound] (missing sound)',
        id="sku-missing-a-dimension",
    ),
    pytest.param(
        'kind = "background_removal"',
        'kind = "background_remover"',
        "model \"recraft/remove-background\": kind 'background_remover' is not one of [kinds]",
        id="unknown-kind",
    ),
    pytest.param(
        'id = "suno-v4.5"\nfamily = "suno"\nwire_model = "V4_5"\ncategory = "audio"',
        'id = "suno-v4.5"\nfamily = "suno"\nwire_model = "V4_5"\ncategory = "video"',
        'model "suno-v4.5": category "video" does not fit kind "music" (allowed: audio)',
        id="category-kind-mismatch",
    ),
    pytest.param(
        'label = "sora_link" }',
        'label = "no_such_text" }',
        'model "sora-watermark-remover": param "video_url": no text "catalog.param.no_such_text" in kiebot/bot/locales/ru/catalog.toml',
        id="label-without-text",
    ),
    pytest.param(
        'accepts = ["grok-imagine/text-to-video", "grok-imagine/image-to-video"]',
        'accepts = ["grok-imagine/text-to-video", "grok-imagine/nope"]',
        'model "grok-imagine/upscale": param "task_id": accepts unknown model "grok-imagine/nope"',
        id="task-ref-to-unknown-model",
    ),
    pytest.param(
        "quantity_max = 600",
        "quantity_max = 60",
        'model "elevenlabs/audio-isolation": pricing: input_audio_seconds needs one audio input whose max_seconds equals quantity_max',
        id="metering-bound-mismatch",
    ),
    pytest.param(
        "schema_version = 1",
        "schema_version = 1\ncurrency = \"RUB\"",
        'unknown top-level key "currency"',
        id="unknown-top-level-key",
    ),
    pytest.param(
        'family = "veo"\nwire_model = "veo3"\n',
        'family = "veo"\n',
        'model "veo3.1-quality": wire_model: required for the "veo" family',
        id="veo-without-wire-model",
    ),
]


@pytest.mark.parametrize(("old", "new", "message"), BROKEN)
def test_loader_rejects_a_broken_registry_with_a_precise_message(old: str, new: str, message: str) -> None:
    assert old in GOOD, "the fixture no longer matches registry/models.toml"
    broken = GOOD.replace(old, new, 1)
    with pytest.raises(RegistryError) as err:
        parse_registry(broken, source="bad.toml")
    assert str(err.value).startswith("bad.toml: ")
    assert message in str(err.value)


def test_invalid_toml_names_the_position() -> None:
    with pytest.raises(RegistryError, match=r"bad.toml: invalid TOML: .*line 1"):
        parse_registry("schema_version = = 1", source="bad.toml")


def test_the_good_registry_parses_from_text() -> None:
    assert len(parse_registry(GOOD).models) == len(MODELS)
