"""What the fake Kie server checks in a create body, and how it guesses a task's kind and price.

Veo and Suno limits are Kie's documented ones (https://docs.kie.ai/veo3-api/generate-veo-3-video,
https://docs.kie.ai/suno-api/generate-music); a market model's ``input`` is checked by the
pluggable validator (the registry's, by default). Every problem is a short string naming the field,
joined into the 422 message like Kie's ("prompt is required").
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final, Literal, NamedTuple

Kind = Literal["image", "video", "audio"]


class Profile(NamedTuple):
    """What a model returns: the kind of file and how many per run (Suno: 2 tracks)."""

    kind: Kind
    results: int = 1


#: ``profiler(family, model) -> Profile`` (None: unknown model, guess from its id).
Profiler = Callable[[str, str], Profile | None]

#: ``validator(model, payload) -> problems``: ``payload`` is a market task's ``input``, or the
#: whole flat body for Veo and Suno. An empty list means "valid".
Validator = Callable[[str, Mapping[str, Any]], list[str]]

VEO_MODELS: Final = frozenset({"veo3", "veo3_fast"})
VEO_ASPECTS: Final = frozenset({"16:9", "9:16", "Auto"})
VEO_GENERATION_TYPES: Final = frozenset(
    {"TEXT_2_VIDEO", "FIRST_AND_LAST_FRAMES_2_VIDEO", "REFERENCE_2_VIDEO"}
)
SUNO_MODELS: Final = frozenset({"V3_5", "V4", "V4_5", "V4_5PLUS", "V5"})
_SUNO_SHORT_LIMITS: Final = frozenset({"V3_5", "V4"})

#: Typical durations at speed 1.0, in seconds (a Kie image takes ~5-15 s, a video a minute or more).
DURATIONS_S: Final[dict[Kind, float]] = {"image": 8.0, "video": 60.0, "audio": 20.0}
#: Credits charged per task when no registry price is known (nano-banana 4, Veo fast 60, Suno 12).
DEFAULT_PRICES: Final[dict[Kind, float]] = {"image": 4.0, "video": 60.0, "audio": 12.0}

_VIDEO_HINTS: Final = ("video", "sora", "kling", "hailuo", "wan/", "seedance", "avatar", "infinitalk", "veo")
_AUDIO_HINTS: Final = ("elevenlabs", "audio", "speech", "sound", "music", "suno")


def guess_profile(family: str, model: str) -> Profile:
    """The profile of a model the catalogue does not describe."""
    if family == "veo":
        return Profile("video")
    if family == "suno":
        return Profile("audio", 2)
    return Profile(kind_of_model(model))


def kind_of_model(model: str) -> Kind:
    """A market model's output kind guessed from its id (used when the registry does not say)."""
    lowered = model.lower()
    if any(hint in lowered for hint in _VIDEO_HINTS):
        return "video"
    if any(hint in lowered for hint in _AUDIO_HINTS):
        return "audio"
    return "image"


def _is_text(value: object) -> bool:
    return isinstance(value, str) and bool(value.strip())


def check_market_body(body: Mapping[str, Any]) -> list[str]:
    """The envelope of a market create: ``model`` and an ``input`` object."""
    problems = []
    if not _is_text(body.get("model")):
        problems.append("model is required")
    if not isinstance(body.get("input"), dict):
        problems.append("input is required and must be an object")
    problems.extend(_check_callback(body))
    return problems


def check_veo_body(body: Mapping[str, Any]) -> list[str]:
    problems = []
    if not _is_text(body.get("prompt")):
        problems.append("prompt is required")
    model = body.get("model", "veo3_fast")
    if model not in VEO_MODELS:
        problems.append(f"model must be one of {sorted(VEO_MODELS)}")
    aspect = body.get("aspectRatio", "16:9")
    if aspect not in VEO_ASPECTS:
        problems.append(f"aspectRatio must be one of {sorted(VEO_ASPECTS)}")
    generation = body.get("generationType", "TEXT_2_VIDEO")
    if generation not in VEO_GENERATION_TYPES:
        problems.append(f"generationType must be one of {sorted(VEO_GENERATION_TYPES)}")
    images = body.get("imageUrls", [])
    if not isinstance(images, list) or not all(_is_text(u) for u in images):
        problems.append("imageUrls must be a list of URLs")
    elif len(images) > 2:
        problems.append("imageUrls accepts at most 2 images")
    elif generation != "TEXT_2_VIDEO" and not images:
        problems.append(f"imageUrls is required for {generation}")
    elif generation == "REFERENCE_2_VIDEO" and model != "veo3_fast":
        problems.append("REFERENCE_2_VIDEO is only available with veo3_fast")
    problems.extend(_check_callback(body))
    return problems


def check_suno_body(body: Mapping[str, Any]) -> list[str]:
    problems = []
    model = body.get("model")
    if model not in SUNO_MODELS:
        problems.append(f"model must be one of {sorted(SUNO_MODELS)}")
    custom = body.get("customMode")
    instrumental = body.get("instrumental")
    if not isinstance(custom, bool):
        problems.append("customMode is required (boolean)")
    if not isinstance(instrumental, bool):
        problems.append("instrumental is required (boolean)")
    if not _is_text(body.get("callBackUrl")):
        problems.append("callBackUrl is required")
    short = model in _SUNO_SHORT_LIMITS
    prompt = body.get("prompt", "")
    if not isinstance(prompt, str):
        problems.append("prompt must be a string")
        prompt = ""
    if custom:
        for field in ("style", "title"):
            if not _is_text(body.get(field)):
                problems.append(f"{field} is required in custom mode")
        if not instrumental and not prompt.strip():
            problems.append("prompt is required in custom mode unless instrumental")
        _limit(problems, "prompt", prompt, 3000 if short else 5000)
        _limit(problems, "style", body.get("style", ""), 200 if short else 1000)
        _limit(problems, "title", body.get("title", ""), 80)
    else:
        if not prompt.strip():
            problems.append("prompt is required")
        _limit(problems, "prompt", prompt, 500)
    problems.extend(_check_callback(body))
    return problems


def _limit(problems: list[str], field: str, value: object, limit: int) -> None:
    if isinstance(value, str) and len(value) > limit:
        problems.append(f"{field} exceeds {limit} characters ({len(value)})")


def _check_callback(body: Mapping[str, Any]) -> list[str]:
    url = body.get("callBackUrl")
    if url is None:
        return []
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        return ["callBackUrl must be an http(s) URL"]
    return []


def prompt_of(family: str, body: Mapping[str, Any]) -> str:
    """The prompt a create body carries (market: ``input.prompt``), or ""."""
    source = body.get("input") if family == "market" else body
    value = source.get("prompt", "") if isinstance(source, Mapping) else ""
    return value if isinstance(value, str) else ""
