"""Wire requests: exactly what Kie expects, only names its docs use, and checked like Kie's 422."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import msgspec
import pytest

from kiebot.catalog import (
    InvalidRequest,
    ModelSpec,
    build_wire_request,
    load_registry,
    render_issue,
    validate_wire_body,
    validate_wire_input,
)

pytestmark = pytest.mark.timeout(30)

REGISTRY = load_registry()
DOC_EXAMPLES: dict[str, Any] = json.loads((Path(__file__).parents[1] / "data" / "kie" / "doc_examples.json").read_text(encoding="utf-8"))["examples"]
# Models documented under another name in the doc examples: the Veo page shows veo3_fast (quality
# differs only in "model"), the Suno page shows V4.
DOC_NAME = {"veo3.1-fast": "veo3_fast", "veo3.1-quality": "veo3_fast", "suno-v4.5": "V4"}
SORA_LINK = "https://sora.chatgpt.com/p/s_68e83bd7eee88191be79d2ba71585160"


def _default_request(spec: ModelSpec) -> dict[str, Any]:
    media = {m.wire: [f"https://tempfile.redpandaai.co/kieai/{m.type}{i}" for i in range(m.min_count)] for m in spec.media}
    params = {p.wire: SORA_LINK if p.type == "url" else "task_grok_12345678" for p in spec.user_params}
    prompt = "A lighthouse in a storm" if spec.prompt else None
    return {"params": params, "prompt": prompt, "media_urls": media}


def _documented_keys(spec: ModelSpec) -> set[str] | None:
    example = DOC_EXAMPLES.get(DOC_NAME.get(spec.id, spec.id))
    if example is None:
        return None
    body = example["body"]
    return set(body["input"]) if spec.family == "market" else set(body) - {"callBackUrl"}


@pytest.mark.parametrize("spec", REGISTRY.models, ids=[m.id for m in REGISTRY.models])
def test_defaults_build_a_body_kie_accepts_with_documented_names_only(spec: ModelSpec) -> None:
    request = build_wire_request(spec, **_default_request(spec))
    assert request.family == spec.family
    assert request.path == {"market": "/api/v1/jobs/createTask", "veo": "/api/v1/veo/generate", "suno": "/api/v1/generate"}[spec.family]
    assert "callBackUrl" not in request.body
    assert validate_wire_body(spec, request.body) == []
    json.loads(msgspec.json.encode(request.body))  # plain JSON, no Decimal or tuples
    keys = set(request.body["input"]) if spec.family == "market" else set(request.body)
    documented = _documented_keys(spec)
    if documented is not None:
        assert keys <= documented, f"{spec.id}: undocumented wire names {sorted(keys - documented)}"
    if spec.family == "market":
        assert request.body["model"] == spec.id


def test_doc_examples_cover_most_models() -> None:
    covered = [m.id for m in REGISTRY.models if _documented_keys(m) is not None]
    assert len(covered) == 40
    missing = sorted(m.id for m in REGISTRY.models if _documented_keys(m) is None)
    # No Kie doc example in the data for these (their registry entries carry a DOUBT note).
    assert missing == [
        "elevenlabs/text-to-speech-multilingual-v2",
        "seedream/4.5-edit",
        "seedream/4.5-text-to-image",
        "wan/2-5-image-to-video",
        "wan/2-5-text-to-video",
    ]


def test_z_image_body() -> None:
    request = build_wire_request(REGISTRY.require("z-image"), {}, prompt="  A cat  ", media_urls={})
    assert request.body == {"model": "z-image", "input": {"prompt": "A cat", "aspect_ratio": "1:1"}}


def test_kling_sends_string_durations_and_boolean_sound() -> None:
    spec = REGISTRY.require("kling-2.6/image-to-video")
    request = build_wire_request(spec, {"duration": "10", "sound": "true"}, prompt="run", media_urls={"image_urls": ["https://f/x.png"]})
    assert request.body == {
        "model": "kling-2.6/image-to-video",
        "input": {"prompt": "run", "image_urls": ["https://f/x.png"], "sound": True, "duration": "10"},
    }


def test_single_url_inputs_and_special_keys() -> None:
    recraft = build_wire_request(REGISTRY.require("recraft/remove-background"), {}, prompt=None, media_urls={"image": ["https://f/a.png"]})
    assert recraft.body["input"] == {"image": "https://f/a.png"}
    flux = build_wire_request(REGISTRY.require("flux-2/flex-image-to-image"), {"resolution": "2K"}, prompt="swap", media_urls={"input_urls": ["https://f/1", "https://f/2"]})
    assert flux.body["input"] == {"prompt": "swap", "input_urls": ["https://f/1", "https://f/2"], "aspect_ratio": "auto", "resolution": "2K"}
    banana = build_wire_request(REGISTRY.require("nano-banana-pro"), {}, prompt="hero", media_urls={})
    assert banana.body["input"]["image_input"] == []
    nano = build_wire_request(REGISTRY.require("google/nano-banana"), {"image_size": "16:9"}, prompt="x", media_urls={})
    assert nano.body["input"] == {"prompt": "x", "image_size": "16:9", "output_format": "png"}
    upscale = build_wire_request(REGISTRY.require("grok-imagine/upscale"), {"task_id": "task_grok_1"}, prompt=None, media_urls={})
    assert upscale.body == {"model": "grok-imagine/upscale", "input": {"task_id": "task_grok_1"}}


def test_numbers_keep_their_json_types() -> None:
    s2v = build_wire_request(
        REGISTRY.require("wan/2-2-a14b-speech-to-video-turbo"),
        {"resolution": "720p"},
        prompt="talking",
        media_urls={"image_url": ["https://f/i"], "audio_url": ["https://f/a"]},
    )
    assert s2v.body["input"]["num_frames"] == 80
    assert s2v.body["input"]["frames_per_second"] == 16
    kling = build_wire_request(REGISTRY.require("kling/v2-5-turbo-text-to-video-pro"), {}, prompt="x", media_urls={})
    assert kling.body["input"]["cfg_scale"] == 0.5
    assert isinstance(kling.body["input"]["cfg_scale"], float)
    tts = build_wire_request(REGISTRY.require("elevenlabs/text-to-speech-turbo-2-5"), {"voice": "Brian"}, prompt="Привет", media_urls={})
    assert tts.body["input"] == {"text": "Привет", "voice": "Brian", "stability": 0.5, "similarity_boost": 0.75, "style": 0.0, "speed": 1.0}
    assert msgspec.json.encode(tts.body["input"]) == msgspec.json.encode(
        {"text": "Привет", "voice": "Brian", "stability": 0.5, "similarity_boost": 0.75, "style": 0.0, "speed": 1.0}
    )


def test_avatar_sends_an_empty_prompt_when_none_is_given() -> None:
    request = build_wire_request(
        REGISTRY.require("kling/ai-avatar-v1-pro"), {}, prompt=None, media_urls={"image_url": ["https://f/i"], "audio_url": ["https://f/a"]}
    )
    assert request.body["input"] == {"prompt": "", "image_url": "https://f/i", "audio_url": "https://f/a"}


def test_veo_flat_body_switches_generation_type_with_images() -> None:
    spec = REGISTRY.require("veo3.1-fast")
    text = build_wire_request(spec, {"aspectRatio": "9:16"}, prompt="Кот на луне", media_urls={})
    assert text.path == "/api/v1/veo/generate"
    assert text.body == {
        "model": "veo3_fast",
        "prompt": "Кот на луне",
        "aspectRatio": "9:16",
        "generationType": "TEXT_2_VIDEO",
        "enableTranslation": True,
    }
    frames = build_wire_request(REGISTRY.require("veo3.1-quality"), {}, prompt="fly", media_urls={"imageUrls": ["https://f/1", "https://f/2"]})
    assert frames.body["model"] == "veo3"
    assert frames.body["imageUrls"] == ["https://f/1", "https://f/2"]
    assert frames.body["generationType"] == "FIRST_AND_LAST_FRAMES_2_VIDEO"


def test_suno_flat_body() -> None:
    request = build_wire_request(REGISTRY.require("suno-v4.5"), {"instrumental": True}, prompt="lofi beat for studying", media_urls={})
    assert request.path == "/api/v1/generate"
    assert request.body == {"model": "V4_5", "prompt": "lofi beat for studying", "customMode": False, "instrumental": True}


def test_builder_refuses_what_kie_would_reject() -> None:
    hailuo = REGISTRY.require("hailuo/2-3-image-to-video-standard")
    with pytest.raises(InvalidRequest) as err:
        build_wire_request(hailuo, {"duration": "10", "resolution": "1080P"}, prompt="p", media_urls={"image_url": ["https://f/i"]})
    assert [(i.field, i.code) for i in err.value.issues] == [("duration", "invalid_combination")]
    assert 'model "hailuo/2-3-image-to-video-standard"' in str(err.value)
    with pytest.raises(InvalidRequest) as err:
        build_wire_request(hailuo, {}, prompt="p", media_urls={"image_url": ["https://f/1", "https://f/2"]})
    assert [(i.field, i.code) for i in err.value.issues] == [("image_url", "too_many")]
    with pytest.raises(InvalidRequest) as err:
        build_wire_request(hailuo, {}, prompt="p", media_urls={})
    assert [(i.field, i.code) for i in err.value.issues] == [("image_url", "required")]
    with pytest.raises(InvalidRequest) as err:
        build_wire_request(hailuo, {}, prompt="p", media_urls={"image_urls": ["https://f/1"]})
    assert [(i.field, i.code) for i in err.value.issues] == [("image_urls", "unknown_field")]
    with pytest.raises(InvalidRequest) as err:
        build_wire_request(hailuo, {"duration": "7"}, prompt="p", media_urls={"image_url": ["https://f/1"]})
    assert [(i.field, i.code) for i in err.value.issues] == [("duration", "not_allowed")]
    with pytest.raises(InvalidRequest) as err:
        build_wire_request(hailuo, {}, prompt="p" * 5001, media_urls={"image_url": ["https://f/1"]})
    assert [(i.field, i.code) for i in err.value.issues] == [("prompt", "too_long")]


# ---- validate_wire_input: Kie's 422 ----------------------------------------------------------------


def test_wire_validation_catches_names_types_and_limits() -> None:
    spec = REGISTRY.require("kling-2.6/text-to-video")
    ok = {"prompt": "p", "sound": False, "aspect_ratio": "1:1", "duration": "5"}
    assert validate_wire_input(spec, ok) == []
    cases: list[tuple[dict[str, Any], list[tuple[str, str]]]] = [
        ({**ok, "image_input": []}, [("image_input", "unknown_field")]),
        ({**ok, "duration": 5}, [("duration", "wrong_type")]),
        ({**ok, "sound": "false"}, [("sound", "wrong_type")]),
        ({**ok, "aspect_ratio": "4:3"}, [("aspect_ratio", "not_allowed")]),
        ({**ok, "prompt": "x" * 1001}, [("prompt", "too_long")]),
        ({k: v for k, v in ok.items() if k != "prompt"}, [("prompt", "required")]),
        ({k: v for k, v in ok.items() if k != "sound"}, [("sound", "required")]),
        ({**ok, "prompt": 7}, [("prompt", "wrong_type")]),
    ]
    for body, expected in cases:
        assert [(i.field, i.code) for i in validate_wire_input(spec, body)] == expected, body


def test_wire_validation_of_media_shapes() -> None:
    i2v = REGISTRY.require("kling-2.6/image-to-video")
    base = {"prompt": "p", "sound": False, "duration": "5"}
    assert [(i.field, i.code) for i in validate_wire_input(i2v, {**base, "image_urls": "https://f/1"})] == [("image_urls", "wrong_type")]
    assert [(i.field, i.code) for i in validate_wire_input(i2v, {**base, "image_urls": []})] == [("image_urls", "required")]
    assert [(i.field, i.code) for i in validate_wire_input(i2v, {**base, "image_urls": ["https://f/1", "https://f/2"]})] == [("image_urls", "too_many")]
    assert [(i.field, i.code) for i in validate_wire_input(i2v, {**base, "image_urls": ["file:///etc/passwd"]})] == [("image_urls", "bad_url")]
    hailuo = REGISTRY.require("hailuo/2-3-image-to-video-pro")
    body = {"prompt": "p", "image_url": ["https://f/1"], "duration": "6", "resolution": "768P"}
    assert [(i.field, i.code) for i in validate_wire_input(hailuo, body)] == [("image_url", "wrong_type")]
    body = {"prompt": "p", "image_url": "https://f/1", "duration": "10", "resolution": "1080P"}
    assert [(i.field, i.code) for i in validate_wire_input(hailuo, body)] == [("duration", "invalid_combination")]
    body = {"prompt": "p", "image_url": "https://f/1", "resolution": "1080P"}
    assert validate_wire_input(hailuo, body) == [], "Kie's default duration 6 is fine at 1080P"


def test_wire_validation_of_flat_bodies() -> None:
    veo = REGISTRY.require("veo3.1-fast")
    good = {"model": "veo3_fast", "prompt": "p", "aspectRatio": "16:9", "generationType": "TEXT_2_VIDEO", "callBackUrl": "https://cb"}
    assert validate_wire_body(veo, good) == []
    assert [(i.field, i.code) for i in validate_wire_body(veo, {**good, "model": "veo3"})] == [("model", "not_allowed")]
    with_images = {**good, "imageUrls": ["https://f/1"]}
    assert [(i.field, i.code) for i in validate_wire_body(veo, with_images)] == [("generationType", "invalid_combination")]
    assert validate_wire_body(veo, {**with_images, "generationType": "FIRST_AND_LAST_FRAMES_2_VIDEO"}) == []
    assert [(i.field, i.code) for i in validate_wire_body(veo, {**good, "generationType": "REFERENCE_2_VIDEO"})] == [("generationType", "not_allowed")]
    suno = REGISTRY.require("suno-v4.5")
    ok = {"model": "V4_5", "prompt": "song", "customMode": False, "instrumental": False}
    assert validate_wire_body(suno, ok) == []
    assert [(i.field, i.code) for i in validate_wire_body(suno, {**ok, "customMode": 0})] == [("customMode", "not_allowed")]
    assert [(i.field, i.code) for i in validate_wire_body(suno, {**ok, "customMode": True})] == [("customMode", "not_allowed")]
    body = {"model": "V4_5", "prompt": "x" * 501, "customMode": False, "instrumental": False}
    issues = validate_wire_body(suno, body)
    assert [(i.field, i.code) for i in issues] == [("prompt", "too_long")]
    assert render_issue(issues[0], "en") == "Song description: too long — 501 characters, at most 500."


def test_wire_validation_of_market_envelopes() -> None:
    spec = REGISTRY.require("z-image")
    good = {"model": "z-image", "callBackUrl": "https://cb", "input": {"prompt": "p", "aspect_ratio": "1:1"}}
    assert validate_wire_body(spec, good) == []
    assert [(i.field, i.code) for i in validate_wire_body(spec, {**good, "model": "z-img"})] == [("model", "not_allowed")]
    assert [(i.field, i.code) for i in validate_wire_body(spec, {**good, "input": "p"})] == [("input", "wrong_type")]
    assert [(i.field, i.code) for i in validate_wire_body(spec, {**good, "extra": 1})] == [("extra", "unknown_field")]
    no_aspect = {**good, "input": {"prompt": "p"}}
    assert [(i.field, i.code) for i in validate_wire_body(spec, no_aspect)] == [("aspect_ratio", "required")]


def test_wire_validation_of_numbers_and_urls() -> None:
    tts = REGISTRY.require("elevenlabs/text-to-speech-multilingual-v2")
    assert [(i.field, i.code) for i in validate_wire_input(tts, {"text": "hi", "speed": 2})] == [("speed", "out_of_range")]
    assert [(i.field, i.code) for i in validate_wire_input(tts, {"text": "hi", "stability": True})] == [("stability", "wrong_type")]
    assert validate_wire_input(tts, {"text": "hi", "stability": 1}) == []
    assert [(i.field, i.code) for i in validate_wire_input(tts, {"text": "hi", "stability": float("nan")})] == [("stability", "wrong_type")]
    sora = REGISTRY.require("sora-watermark-remover")
    assert validate_wire_input(sora, {"video_url": SORA_LINK}) == []
    assert [(i.field, i.code) for i in validate_wire_input(sora, {"video_url": "https://evil.example/p/s_1"})] == [("video_url", "bad_url")]
    assert [(i.field, i.code) for i in validate_wire_input(sora, {})] == [("video_url", "required")]
