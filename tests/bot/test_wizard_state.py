"""The wizard's pure parts: steps and their order, completeness, drafts from earlier jobs, files
as Telegram describes them, and prices per button value."""

from __future__ import annotations

from decimal import Decimal

import msgspec
import pytest

from kiebot.bot.screens.wizard import state as ws
from kiebot.bot.screens.wizard.media import file_issues, format_names, incoming_file
from kiebot.bot.screens.wizard.quote import choice_issue, draft_quote, value_prices
from kiebot.catalog import ModelSpec, load_registry
from kiebot.catalog.pricing import kopecks_for
from kiebot.generation.request import JobRequest, MediaRef
from kiebot.telegram.types import Message

REGISTRY = load_registry()
FX = Decimal("78")
MARKUP = Decimal("2")


def spec(model_id: str) -> ModelSpec:
    return REGISTRY.require(model_id)


def photo_ref(n: int = 0) -> MediaRef:
    return MediaRef(file_id=f"photo-{n}", mime_type="image/jpeg", size_bytes=50_000, width=640, height=480)


def test_steps_follow_the_model_inputs_in_order() -> None:
    assert ws.steps(spec("z-image")) == ["params", "prompt"]
    assert ws.steps(spec("recraft/remove-background")) == ["media:image"]
    assert ws.steps(spec("kling/v1-avatar-standard")) == ["media:image_url", "media:audio_url", "prompt"]
    assert ws.steps(spec("sora-watermark-remover")) == ["user:video_url"]
    assert ws.steps(spec("grok-imagine/upscale")) == ["user:task_id"]
    assert ws.steps(spec("google/nano-banana-edit")) == ["params", "media:image_urls", "prompt"]


def test_a_fresh_draft_starts_with_defaults_on_the_first_step() -> None:
    kling = spec("kling-2.6/text-to-video")
    draft = ws.fresh(kling, "p.0")
    assert draft.params == {"sound": False, "aspect_ratio": "16:9", "duration": "5"}
    assert draft.step == "params"
    assert draft.origin == "p.0"
    assert len(draft.nonce) == 8
    assert ws.fresh(spec("recraft/remove-background"), "m").step == "media:image"


def test_next_step_needs_each_input_and_optional_files_need_a_skip() -> None:
    edit = spec("google/nano-banana-edit")
    draft = ws.fresh(edit, "m")
    draft.mark_done("params")
    assert ws.next_step(edit, draft) == "media:image_urls"
    draft.media["image_urls"] = [photo_ref(0), photo_ref(1)]
    assert ws.next_step(edit, draft) == "media:image_urls"  # up to 10: not finished until Done
    draft.mark_done("media:image_urls")
    assert ws.next_step(edit, draft) == "prompt"
    draft.prompt = "make it snow"
    assert ws.next_step(edit, draft) == "summary"

    pro = spec("nano-banana-pro")  # reference photos are optional (0–8)
    draft = ws.fresh(pro, "m")
    draft.mark_done("params")
    assert ws.next_step(pro, draft) == "media:image_input"
    draft.mark_done("media:image_input")  # Skip
    assert ws.next_step(pro, draft) == "prompt"


def test_a_single_file_input_is_complete_once_the_file_is_there() -> None:
    bg = spec("recraft/remove-background")
    draft = ws.fresh(bg, "m")
    draft.media["image"] = [photo_ref()]
    assert ws.next_step(bg, draft) == "summary"


def test_optional_prompt_is_complete_when_skipped() -> None:
    avatar = spec("kling/v1-avatar-standard")
    draft = ws.fresh(avatar, "m")
    draft.media = {"image_url": [photo_ref()], "audio_url": [MediaRef(file_id="a", mime_type="audio/mpeg", duration_s=4)]}
    assert ws.next_step(avatar, draft) == "prompt"
    draft.mark_done("prompt")
    assert ws.next_step(avatar, draft) == "summary"


def test_previous_step_and_the_first_one() -> None:
    edit = spec("google/nano-banana-edit")
    assert ws.previous_step(edit, "params") is None
    assert ws.previous_step(edit, "media:image_urls") == "params"
    assert ws.previous_step(edit, "summary") == "prompt"


def test_draft_from_an_earlier_job_keeps_what_still_fits() -> None:
    kling = spec("kling-2.6/image-to-video")
    request = JobRequest(
        params={"duration": "10", "sound": True, "no_longer_exists": "x"},
        prompt="wave",
        media={"image_urls": [photo_ref()], "gone": [photo_ref(1)]},
        lang="en",
    )
    draft = ws.from_request(kling, request)
    assert draft.params == {"sound": True, "duration": "10"}
    assert set(draft.media) == {"image_urls"}
    assert draft.step == "summary"
    assert draft.to_request("en", None).media == {"image_urls": [photo_ref()]}


def test_draft_round_trips_through_its_stored_form() -> None:
    edit = spec("google/nano-banana-edit")
    draft = ws.fresh(edit, "k.image_to_image.image.0")
    draft.media["image_urls"] = [photo_ref()]
    stored = ws.encode(draft)
    assert msgspec.convert(stored, ws.Draft) == draft


def _message(**fields: object) -> Message:
    base = {"message_id": 1, "date": 0, "chat": {"id": 1, "type": "private"}}
    return msgspec.convert({**base, **fields}, Message)


def test_telegram_photos_are_jpeg_of_the_largest_size() -> None:
    message = _message(
        photo=[
            {"file_id": "small", "file_unique_id": "s", "width": 90, "height": 60, "file_size": 1000},
            {"file_id": "big", "file_unique_id": "b", "width": 1280, "height": 853, "file_size": 150_000},
        ]
    )
    ref = incoming_file(message)
    assert ref == MediaRef(file_id="big", mime_type="image/jpeg", size_bytes=150_000, width=1280, height=853)


def test_documents_voice_and_audio_carry_their_type_and_duration() -> None:
    pdf = incoming_file(_message(document={"file_id": "d", "file_unique_id": "d", "file_name": "receipt.pdf", "file_size": 9}))
    assert pdf is not None
    assert pdf.mime_type == "application/pdf"
    png = incoming_file(_message(document={"file_id": "p", "file_unique_id": "p", "mime_type": "image/png", "file_size": 9}))
    assert png is not None
    assert png.mime_type == "image/png"
    voice = incoming_file(_message(voice={"file_id": "v", "file_unique_id": "v", "duration": 7}))
    assert voice is not None
    assert (voice.mime_type, voice.duration_s) == ("audio/ogg", 7)
    audio = incoming_file(_message(audio={"file_id": "a", "file_unique_id": "a", "duration": 12, "mime_type": "audio/mpeg"}))
    assert audio is not None
    assert audio.duration_s == 12
    assert incoming_file(_message(text="hello")) is None


def test_file_checks_name_type_size_duration_and_pixels() -> None:
    edit = spec("google/nano-banana-edit")
    photos = edit.media_input("image_urls")
    assert photos is not None
    assert file_issues(edit, photos, photo_ref()) == []
    [wrong] = file_issues(edit, photos, MediaRef(file_id="x", mime_type="application/pdf", size_bytes=10))
    assert wrong.code == "bad_mime"
    [big] = file_issues(edit, photos, MediaRef(file_id="x", mime_type="image/png", size_bytes=12_000_000))
    assert big.code == "too_big"
    avatar = spec("kling/v1-avatar-standard")
    voice = avatar.media_input("audio_url")
    assert voice is not None
    [long] = file_issues(avatar, voice, MediaRef(file_id="v", mime_type="audio/ogg", size_bytes=1000, duration_s=40))
    assert long.code == "media_too_long"
    topaz = spec("topaz/image-upscale")
    image = topaz.media_input("image_url")
    assert image is not None
    [huge] = file_issues(topaz, image, MediaRef(file_id="t", mime_type="image/jpeg", size_bytes=1000, width=4000, height=3000))
    assert huge.code == "too_large_px"
    assert format_names(["image/jpeg", "image/png", "image/webp"]) == "JPEG, PNG, WebP"
    assert format_names(["audio/wav", "audio/x-wav"]) == "WAV"


def test_buttons_show_prices_only_where_they_differ() -> None:
    kling = spec("kling-2.6/text-to-video")
    draft = ws.fresh(kling, "m")
    duration = kling.param("duration")
    assert duration is not None
    prices = value_prices(kling, draft, duration, fx=FX, markup=MARKUP)
    assert prices == {"5": kopecks_for(55, fx=FX, markup=MARKUP), "10": kopecks_for(110, fx=FX, markup=MARKUP)}
    aspect = kling.param("aspect_ratio")
    assert aspect is not None
    assert value_prices(kling, draft, aspect, fx=FX, markup=MARKUP) == {}
    draft.params["sound"] = True
    assert value_prices(kling, draft, duration, fx=FX, markup=MARKUP)["10"] == kopecks_for(220, fx=FX, markup=MARKUP)


def test_a_combination_kie_does_not_offer_is_refused_and_marked() -> None:
    hailuo = spec("hailuo/2-3-image-to-video-pro")
    draft = ws.fresh(hailuo, "m")
    draft.params["resolution"] = "1080P"
    duration = hailuo.param("duration")
    assert duration is not None
    issue = choice_issue(hailuo, draft, duration, "10")
    assert issue is not None
    assert issue.code == "invalid_combination"
    assert choice_issue(hailuo, draft, duration, "6") is None
    assert value_prices(hailuo, draft, duration, fx=FX, markup=MARKUP)["10"] is None


@pytest.mark.parametrize(("text_length", "units"), [(1, 1), (1000, 1), (1001, 2), (5000, 5)])
def test_speech_is_quoted_per_started_thousand_characters(text_length: int, units: int) -> None:
    tts = spec("elevenlabs/text-to-speech-turbo-2-5")
    draft = ws.fresh(tts, "m")
    draft.prompt = "я" * text_length
    quoted = draft_quote(tts, draft, fx=FX, markup=MARKUP)
    assert quoted.quantity == units
    assert quoted.kopecks == kopecks_for(6 * units, fx=FX, markup=MARKUP)


def test_voice_isolation_is_quoted_from_the_duration_telegram_reports() -> None:
    isolation = spec("elevenlabs/audio-isolation")
    draft = ws.fresh(isolation, "m")
    draft.media["audio_url"] = [MediaRef(file_id="a", mime_type="audio/mpeg", size_bytes=100, duration_s=7)]
    quoted = draft_quote(isolation, draft, fx=FX, markup=MARKUP)
    assert quoted.quantity == 7
    assert quoted.kopecks == kopecks_for(Decimal("0.2") * 7, fx=FX, markup=MARKUP)
