"""User-level request validation: every limit of every model is enforced and explained in Russian
and English, naming the input."""

from __future__ import annotations

import pytest

from kiebot.catalog import (
    InputIssue,
    MediaItem,
    ModelSpec,
    load_registry,
    param_label,
    render_issue,
    validate_request,
    value_label,
)
from kiebot.i18n import t

pytestmark = pytest.mark.timeout(30)

REGISTRY = load_registry()
JPEG = MediaItem(mime_type="image/jpeg", size_bytes=200_000, width=1024, height=768)
MP3 = MediaItem(mime_type="audio/mpeg", size_bytes=300_000, duration_s=9.5)
MP4 = MediaItem(mime_type="video/mp4", size_bytes=3_000_000, duration_s=5)
SORA_LINK = "https://sora.chatgpt.com/p/s_68e83bd7eee88191be79d2ba71585160"


def _good_media(spec: ModelSpec) -> dict[str, list[MediaItem]]:
    sample = {"image": JPEG, "audio": MP3, "video": MP4}
    return {m.wire: [sample[m.type]] * max(m.min_count, 1) for m in spec.media}


def _good_params(spec: ModelSpec) -> dict[str, object]:
    values: dict[str, object] = {}
    for p in spec.user_params:
        values[p.wire] = SORA_LINK if p.type == "url" else "task_abc123"
    return values


def _good_request(spec: ModelSpec) -> tuple[dict[str, object], str | None, dict[str, list[MediaItem]]]:
    prompt = "A red fox in the snow" if spec.prompt else None
    return _good_params(spec), prompt, _good_media(spec)


def _label(issue: InputIssue, lang: str) -> str:
    assert issue.label, issue
    return t(lang, f"catalog.param.{issue.label}")


@pytest.mark.parametrize("spec", REGISTRY.models, ids=[m.id for m in REGISTRY.models])
def test_a_complete_request_with_defaults_passes(spec: ModelSpec) -> None:
    params, prompt, media = _good_request(spec)
    assert validate_request(spec, params, prompt=prompt, media=media) == []


def _bad_inputs(spec: ModelSpec) -> list[tuple[str, dict[str, object], str | None, dict[str, list[MediaItem]], str]]:
    """(what, params, prompt, media, expected code) — one or more bad requests per model."""
    params, prompt, media = _good_request(spec)
    cases: list[tuple[str, dict[str, object], str | None, dict[str, list[MediaItem]], str]] = []
    if spec.prompt is not None:
        cases.append(("prompt too long", params, "я" * (spec.prompt.max_length + 1), media, "too_long"))
        if spec.prompt.required:
            cases.append(("no prompt", params, "  ", media, "required"))
    for m in spec.media:
        if m.min_count:
            cases.append((f"no {m.wire}", params, prompt, {**media, m.wire: []}, "required"))
        cases.append((f"too many {m.wire}", params, prompt, {**media, m.wire: media[m.wire] * (m.max_count + 1)}, "too_many"))
    for p in spec.wizard_params:
        cases.append((f"bad {p.wire}", {**params, p.wire: "no-such-value"}, prompt, media, "not_allowed"))
    for p in spec.user_params:
        cases.append((f"no {p.wire}", {k: v for k, v in params.items() if k != p.wire}, prompt, media, "required"))
    return cases


BAD = [
    pytest.param(spec, *case, id=f"{spec.id}: {case[0]}")
    for spec in REGISTRY.models
    for case in _bad_inputs(spec)
]


@pytest.mark.parametrize(("spec", "what", "params", "prompt", "media", "code"), BAD)
def test_a_bad_input_is_rejected_with_a_message_naming_the_field(
    spec: ModelSpec, what: str, params: dict[str, object], prompt: str | None, media: dict[str, list[MediaItem]], code: str
) -> None:
    issues = validate_request(spec, params, prompt=prompt, media=media)
    assert [i.code for i in issues] == [code], what
    (issue,) = issues
    ru, en = render_issue(issue, "ru"), render_issue(issue, "en")
    assert _label(issue, "ru") in ru
    assert _label(issue, "en") in en
    assert ru != en
    assert "{" not in ru + en


def test_every_model_gets_at_least_one_bad_input_case() -> None:
    assert {case.values[0].id for case in BAD} == {m.id for m in REGISTRY.models}  # type: ignore[union-attr]


def test_too_long_prompt_message_in_both_languages() -> None:
    spec = REGISTRY.require("z-image")
    (issue,) = validate_request(spec, {}, prompt="x" * 1001, media={})
    assert issue == InputIssue(field="prompt", code="too_long", limit=1000, actual=1001, label="prompt")
    assert render_issue(issue, "ru") == "Описание: слишком длинно — 1001 символ, а можно не больше 1000."
    assert render_issue(issue, "en") == "Description: too long — 1,001 characters, at most 1,000."


def test_tts_counts_its_text_not_a_prompt() -> None:
    spec = REGISTRY.require("elevenlabs/text-to-speech-turbo-2-5")
    (issue,) = validate_request(spec, {}, prompt="a" * 5001, media={})
    assert (issue.field, issue.code) == ("text", "too_long")
    assert render_issue(issue, "ru").startswith("Текст:")


def test_flux_prompt_has_a_minimum_length() -> None:
    (issue,) = validate_request(REGISTRY.require("flux-2/pro-text-to-image"), {}, prompt="ok", media={})
    assert (issue.code, issue.limit, issue.actual) == ("too_short", 3, 2)


def test_missing_photo_wrong_type_and_too_big() -> None:
    spec = REGISTRY.require("kling-2.6/image-to-video")
    (missing,) = validate_request(spec, {}, prompt="go", media={})
    assert (missing.field, missing.code) == ("image_urls", "required")
    assert render_issue(missing, "ru") == "Не хватает обязательного: Фото."

    gif = MediaItem(mime_type="image/gif", size_bytes=1000)
    (wrong,) = validate_request(spec, {}, prompt="go", media={"image_urls": [gif]})
    assert (wrong.code, wrong.actual) == ("bad_mime", "image/gif")
    assert "image/jpeg, image/png, image/webp" in render_issue(wrong, "en")

    huge = MediaItem(mime_type="image/png; charset=binary", size_bytes=10_000_001)
    (big,) = validate_request(spec, {}, prompt="go", media={"image_urls": [huge]})
    assert (big.code, big.limit, big.actual) == ("too_big", 10, "10.0")
    assert render_issue(big, "ru") == "Фото: файл 10,0\u00a0МБ, а можно не больше 10\u00a0МБ."  # the decimal comma


def test_too_many_images() -> None:
    spec = REGISTRY.require("google/nano-banana-edit")
    (issue,) = validate_request(spec, {}, prompt="edit", media={"image_urls": [JPEG] * 11})
    assert (issue.code, issue.limit, issue.actual) == ("too_many", 10, 11)
    assert render_issue(issue, "en") == "Photos: at most 10, got 11."


def test_avatar_needs_both_image_and_audio_and_a_short_recording() -> None:
    spec = REGISTRY.require("infinitalk/from-audio")
    issues = validate_request(spec, {}, prompt="talk", media={"image_url": [JPEG]})
    assert [(i.field, i.code) for i in issues] == [("audio_url", "required")]
    long_audio = MediaItem(mime_type="audio/ogg", size_bytes=100_000, duration_s=15.2)
    (issue,) = validate_request(spec, {}, prompt="talk", media={"image_url": [JPEG], "audio_url": [long_audio]})
    assert (issue.code, issue.limit, issue.actual) == ("media_too_long", 15, 16)
    assert render_issue(issue, "ru") == "Аудио: запись длится 16\u00a0с, а можно не дольше 15\u00a0с."


def test_topaz_refuses_inputs_larger_than_its_price_assumes() -> None:
    spec = REGISTRY.require("topaz/image-upscale")
    big = MediaItem(mime_type="image/jpeg", size_bytes=2_000_000, width=4000, height=3000)
    (issue,) = validate_request(spec, {"upscale_factor": "4"}, prompt=None, media={"image_url": [big]})
    assert (issue.code, issue.limit, issue.actual) == ("too_large_px", 2048, 4000)


def test_enum_values_and_booleans_from_callback_text() -> None:
    spec = REGISTRY.require("kling-2.6/text-to-video")
    assert validate_request(spec, {"duration": "10", "sound": "true", "aspect_ratio": "9:16"}, prompt="p", media={}) == []
    (issue,) = validate_request(spec, {"duration": 10}, prompt="p", media={})
    assert (issue.field, issue.code, issue.limit) == ("duration", "not_allowed", "5, 10")
    assert render_issue(issue, "ru") == "Длительность: значение «10» недоступно. Можно: 5, 10."
    (issue,) = validate_request(spec, {"sound": "maybe"}, prompt="p", media={})
    assert (issue.field, issue.code) == ("sound", "not_allowed")


def test_unknown_inputs_and_hidden_consts_are_refused() -> None:
    spec = REGISTRY.require("google/imagen4")
    issues = validate_request(spec, {"seed": "1", "num_images": "4"}, prompt="p", media={"image_urls": [JPEG]})
    assert [(i.field, i.code) for i in issues] == [("seed", "unknown_field"), ("num_images", "not_allowed"), ("image_urls", "unknown_field")]
    assert render_issue(issues[0], "en") == "“seed”: this model does not take this input."  # English quotes in English
    assert validate_request(spec, {"num_images": "1"}, prompt="p", media={}) == []


def test_hailuo_refuses_10_seconds_at_1080p_naming_duration() -> None:
    spec = REGISTRY.require("hailuo/2-3-image-to-video-pro")
    (issue,) = validate_request(spec, {"duration": "10", "resolution": "1080P"}, prompt="p", media={"image_url": [JPEG]})
    assert (issue.field, issue.code, issue.actual) == ("duration", "invalid_combination", "duration=10, resolution=1080P")
    assert render_issue(issue, "ru").startswith("Длительность: недоступно в таком сочетании")
    assert render_issue(issue, "en").startswith("Duration: not available in this combination")
    assert validate_request(spec, {"duration": "10"}, prompt="p", media={"image_url": [JPEG]}) == []
    assert validate_request(spec, {"resolution": "1080P"}, prompt="p", media={"image_url": [JPEG]}) == []


def test_sora_watermark_remover_takes_only_a_sora_share_link() -> None:
    spec = REGISTRY.require("sora-watermark-remover")
    assert validate_request(spec, {"video_url": SORA_LINK}, prompt=None, media={}) == []
    for bad in ("https://www.youtube.com/watch?v=x", "http://sora.chatgpt.com/p/s_1", "sora.chatgpt.com/p/s_1", SORA_LINK + "?x=<script>"):
        (issue,) = validate_request(spec, {"video_url": bad}, prompt=None, media={})
        assert (issue.field, issue.code) == ("video_url", "bad_url"), bad
    (issue,) = validate_request(spec, {}, prompt=None, media={})
    assert render_issue(issue, "ru") == "Не хватает обязательного: Ссылка на видео Sora."


def test_grok_upscale_needs_a_task_reference() -> None:
    spec = REGISTRY.require("grok-imagine/upscale")
    assert validate_request(spec, {"task_id": "task_grok_12345678"}, prompt=None, media={}) == []
    (issue,) = validate_request(spec, {"task_id": "  "}, prompt=None, media={})
    assert (issue.field, issue.code) == ("task_id", "required")
    (issue,) = validate_request(spec, {"task_id": "x" * 129}, prompt=None, media={})
    assert (issue.code, issue.limit) == ("too_long", 128)


def test_optional_prompt_of_avatars_may_be_empty() -> None:
    spec = REGISTRY.require("kling/v1-avatar-standard")
    assert validate_request(spec, {}, prompt=None, media={"image_url": [JPEG], "audio_url": [MP3]}) == []


def test_hidden_numbers_are_parsed_and_bounded() -> None:
    spec = REGISTRY.require("kling/v2-5-turbo-text-to-video-pro")
    assert validate_request(spec, {"cfg_scale": "0.7"}, prompt="p", media={}) == []
    for bad, code in (("nan", "wrong_type"), ("inf", "wrong_type"), ("1.5", "out_of_range"), (True, "wrong_type"), ("x", "wrong_type")):
        (issue,) = validate_request(spec, {"cfg_scale": bad}, prompt="p", media={})
        assert (issue.field, issue.code) == ("cfg_scale", code), bad
    (issue,) = validate_request(spec, {"cfg_scale": 2}, prompt="p", media={})
    assert issue.limit == "0–1"
    assert render_issue(issue, "en") == "“cfg_scale”: 2 is outside the allowed range 0–1."


def test_labels_for_wizard_buttons() -> None:
    kling = REGISTRY.require("kling-2.6/text-to-video")
    sound = kling.param("sound")
    duration = kling.param("duration")
    assert sound is not None
    assert duration is not None
    assert param_label(sound, "ru") == "Звук"
    assert value_label(sound, True, "ru") == "🔊 Со звуком"
    assert value_label(sound, False, "en") == "🔇 No sound"
    assert value_label(duration, "10", "en") == "10\u00a0s"
    pro = REGISTRY.require("nano-banana-pro").param("resolution")
    assert pro is not None
    assert value_label(pro, "4K", "ru") == "4K"
