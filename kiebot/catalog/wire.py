"""Build the exact body Kie expects for a model, from the user's choices.

- market (https://docs.kie.ai/market/common/create-task): ``POST /api/v1/jobs/createTask`` with
  ``{"model": <id>, "input": {...}}``;
- veo (https://docs.kie.ai/veo3-api/generate-veo-3-video): ``POST /api/v1/veo/generate`` with a
  flat body ``{"model": "veo3_fast", "prompt", "aspectRatio", "generationType", "imageUrls"?...}``;
- suno (https://docs.kie.ai/suno-api/generate-music): ``POST /api/v1/generate`` with a flat body
  ``{"model": "V4_5", "prompt", "customMode", "instrumental"...}``.

``callBackUrl`` is left out: the Kie client adds it with the job's secret. Defaults fill every
input the user did not choose, values go out in their wire types (``"5"`` stays a string,
``sound`` is a JSON boolean), and the result is checked with :func:`validate_wire_body`
before it is returned, so nothing Kie would 422 leaves this module.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from kiebot.catalog.types import InputIssue, ModelSpec, Scalar, WireRequest
from kiebot.catalog.validation import InvalidRequest, combination_issues, resolve_params, validate_wire_body


def build_wire_request(
    spec: ModelSpec,
    params: Mapping[str, object],
    *,
    prompt: str | None,
    media_urls: Mapping[str, Sequence[str]],
) -> WireRequest:
    """The create-task request for ``spec``.

    ``params`` maps wire names to the user's choices (wire types or callback-data text);
    ``media_urls`` maps a media input's wire name to the uploaded files' URLs.

    Raises:
        InvalidRequest: when the choices, the prompt or the files do not fit the model.
    """
    values = resolve_params(spec, params)
    combo = combination_issues(spec, values)
    if combo:
        raise InvalidRequest(spec.id, combo)
    unknown = [InputIssue(field=k, code="unknown_field") for k in media_urls if spec.media_input(k) is None]
    if unknown:
        raise InvalidRequest(spec.id, unknown)

    wire_input: dict[str, object] = {}
    if spec.prompt is not None:
        text = (prompt or "").strip()
        if text:
            wire_input[spec.prompt.wire] = text
        elif spec.prompt.default is not None:
            wire_input[spec.prompt.wire] = spec.prompt.default
    for m in spec.media:
        urls = [u for u in media_urls.get(m.wire, ()) if u]
        if urls:
            wire_input[m.wire] = list(urls) if m.as_list else urls[0]
            if not m.as_list and len(urls) > 1:
                raise InvalidRequest(spec.id, [InputIssue(field=m.wire, code="too_many", limit=1, actual=len(urls), label=m.label)])
        elif m.send_empty:
            wire_input[m.wire] = []
    for p in spec.params:
        if p.type == "const":
            value: Scalar | None = p.value
            for media_wire, media_value in p.when_media.items():
                if wire_input.get(media_wire):
                    value = media_value
            wire_input[p.wire] = value
        elif p.wire in values:
            wire_input[p.wire] = values[p.wire]

    if spec.family == "market":
        body: dict[str, object] = {"model": spec.id, "input": wire_input}
    else:
        body = {"model": spec.request_model, **wire_input}
    issues = validate_wire_body(spec, body)
    if issues:
        raise InvalidRequest(spec.id, issues)
    return WireRequest(family=spec.family, path=spec.create_path, body=body)
