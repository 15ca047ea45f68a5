"""Check a request against a model's limits before it costs anything.

Two entry points over the same rules:

- :func:`validate_request` — what the user chose in the bot (parameters as wire values or as the
  strings of callback data, the prompt, and the files with their MIME type, size and duration as
  Telegram reports them). Run before quoting, so a bad request is never held or sent.
- :func:`validate_wire_input` — a wire body as Kie would judge it (its 422 "validation error"):
  unknown keys, wrong JSON types, values outside an enum or range, too long a prompt, missing or
  surplus files. :func:`build_wire_request` runs it on everything it builds, and the fake Kie
  server uses it to answer 422 like Kie does.

Every problem is an :class:`~kiebot.catalog.types.InputIssue`; :func:`kiebot.catalog.texts.render_issue`
turns it into a sentence in Russian or English.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Final

from kiebot.catalog.types import InputIssue, MediaItem, MediaSpec, ModelSpec, ParamSpec, Scalar

_URL_RE: Final = re.compile(r"^https?://\S+$")
_TASK_REF_MAX: Final = 128
_TRUE: Final = frozenset({"true", "1", "yes", "on"})
_FALSE: Final = frozenset({"false", "0", "no", "off"})


class InvalidRequest(ValueError):
    """A request that must not reach Kie; ``issues`` says why, field by field."""

    def __init__(self, model_id: str, issues: Sequence[InputIssue]) -> None:
        self.model_id = model_id
        self.issues = tuple(issues)
        summary = "; ".join(f"{i.field}: {i.code}" for i in self.issues)
        super().__init__(f'model "{model_id}": {summary}')


class _Bad(Exception):
    def __init__(self, code: str, limit: int | str | None = None) -> None:
        self.code = code
        self.limit = limit


def _issue(p: ParamSpec, code: str, *, limit: int | str | None = None, actual: object = None) -> InputIssue:
    return InputIssue(field=p.wire, code=code, limit=limit, actual=_short(actual), label=p.label)


def _short(value: object) -> int | str | None:
    if value is None or (isinstance(value, int) and not isinstance(value, bool)):
        return value
    text = _text(value)
    return text if len(text) <= 60 else text[:57] + "…"


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _fmt_number(value: float | None) -> str:
    if value is None:
        return "…"
    return str(int(value)) if float(value).is_integer() else str(value)


# ---- values: from the user's strings to wire types ------------------------------------------


def _coerce(p: ParamSpec, raw: object) -> Scalar:
    """The wire value of a user's choice; accepts wire types or their text (callback data).

    Raises:
        _Bad: with the issue code.
    """
    if p.type == "enum":
        text = raw if isinstance(raw, str) else None
        if text is None or text not in p.values:
            raise _Bad("not_allowed", ", ".join(p.values))
        return text
    if p.type == "bool":
        if isinstance(raw, bool):
            return raw
        if isinstance(raw, str) and raw.strip().lower() in _TRUE | _FALSE:
            return raw.strip().lower() in _TRUE
        raise _Bad("not_allowed", "true, false")
    if p.type in ("int", "float"):
        number = _number(raw, integer=p.type == "int")
        if (p.min is not None and number < p.min) or (p.max is not None and number > p.max):
            raise _Bad("out_of_range", f"{_fmt_number(p.min)}–{_fmt_number(p.max)}")
        return number
    if p.type in ("string", "url", "task_ref"):
        if not isinstance(raw, str):
            raise _Bad("wrong_type", "text")
        value = raw.strip()
        limit = p.max_length or (_TASK_REF_MAX if p.type == "task_ref" else None)
        if limit is not None and len(value) > limit:
            raise _Bad("too_long", limit)
        if p.type == "url" and (not _URL_RE.match(value) or not re.fullmatch(p.pattern or ".*", value)):
            raise _Bad("bad_url")
        if p.type == "task_ref" and not value:
            raise _Bad("required")
        return value
    raise _Bad("not_allowed")  # const: never chosen by a user


def _number(raw: object, *, integer: bool) -> int | float:
    if isinstance(raw, bool):
        raise _Bad("wrong_type", "number")
    if isinstance(raw, int):
        return raw if integer else float(raw)
    if isinstance(raw, float) and not integer and math.isfinite(raw):
        return raw
    if isinstance(raw, str):
        try:
            number = int(raw.strip()) if integer else float(raw.strip())
        except ValueError:
            pass
        else:
            if math.isfinite(number):
                return number
    raise _Bad("wrong_type", "integer" if integer else "number")


def resolve_params(spec: ModelSpec, params: Mapping[str, object], *, complete: bool = True) -> dict[str, Scalar]:
    """The effective wire values: the user's choices over the defaults (consts excluded).

    With ``complete=False`` inputs only the user can supply (a Sora link, an earlier task) may be
    missing — enough to price a request before it is finished.

    Raises:
        InvalidRequest: for an unknown input, a value the model does not take, or (``complete``)
            a missing required input.
    """
    values, issues = _resolve(spec, params)
    if not complete:
        issues = [i for i in issues if i.code != "required"]
    if issues:
        raise InvalidRequest(spec.id, issues)
    return values


def _resolve(spec: ModelSpec, params: Mapping[str, object]) -> tuple[dict[str, Scalar], list[InputIssue]]:
    issues: list[InputIssue] = []
    values: dict[str, Scalar] = {}
    for wire, raw in params.items():
        p = spec.param(wire)
        if p is None:
            issues.append(InputIssue(field=wire, code="unknown_field", actual=_short(raw)))
            continue
        if p.type == "const":
            # Not a choice: tolerated when it repeats the fixed value (a wire body read back).
            fixed = [v for v in (p.value, *p.when_media.values()) if v is not None]
            if not any(_same(raw, v) for v in fixed):
                issues.append(_issue(p, "not_allowed", limit=", ".join(_text(v) for v in fixed), actual=raw))
            continue
        try:
            values[wire] = _coerce(p, raw)
        except _Bad as bad:
            issues.append(_issue(p, bad.code, limit=bad.limit, actual=raw))
    for p in spec.params:
        if p.wire in values or p.type == "const":
            continue
        if p.default is not None:
            values[p.wire] = float(p.default) if p.type == "float" and not isinstance(p.default, str) else p.default
        elif p.required and p.wire not in params:
            issues.append(_issue(p, "required"))
    return values, issues


def combination_issues(spec: ModelSpec, values: Mapping[str, object]) -> list[InputIssue]:
    """Issues for a combination the model's ``[[invalid]]`` rules exclude (Hailuo 10 s at 1080P)."""
    issues: list[InputIssue] = []
    for rule in spec.pricing.invalid:
        if all(_same(values.get(k), v) for k, v in rule.when.items()):
            field = rule.field or next(iter(rule.when))
            p = spec.param(field)
            shown = ", ".join(f"{k}={_text(values.get(k))}" for k in rule.when)
            issues.append(InputIssue(field=field, code="invalid_combination", actual=shown, label=p.label if p else None))
    return issues


def _same(value: object, expected: Scalar | None) -> bool:
    """Equal and of the same JSON type: ``0`` is not ``false`` and ``80.0`` is not ``80`` on the wire."""
    return type(value) is type(expected) and value == expected


# ---- the user's request ---------------------------------------------------------------------


def validate_request(
    spec: ModelSpec,
    params: Mapping[str, object],
    *,
    prompt: str | None,
    media: Mapping[str, Sequence[MediaItem]],
) -> list[InputIssue]:
    """Everything wrong with what the user chose, in input order; empty when it can be quoted.

    ``params`` maps wire names to values (wire types, or their text as in callback data);
    ``media`` maps a media input's wire name to the files the user sent for it.
    """
    values, issues = _resolve(spec, params)
    issues += _prompt_issues(spec, prompt)
    for wire in media:
        if spec.media_input(wire) is None:
            issues.append(InputIssue(field=wire, code="unknown_field"))
    for m in spec.media:
        issues += _media_issues(m, media.get(m.wire, ()))
    if not issues:
        issues += combination_issues(spec, values)
    return issues


def _prompt_issues(spec: ModelSpec, prompt: str | None) -> list[InputIssue]:
    p = spec.prompt
    text = (prompt or "").strip()
    if p is None:
        return []
    issue = _text_issue(p.wire, p.label, text, required=p.required, min_length=p.min_length, max_length=p.max_length)
    return [issue] if issue else []


def _text_issue(wire: str, label: str, text: str, *, required: bool, min_length: int, max_length: int) -> InputIssue | None:
    if not text:
        return InputIssue(field=wire, code="required", label=label) if required else None
    if len(text) > max_length:
        return InputIssue(field=wire, code="too_long", limit=max_length, actual=len(text), label=label)
    if len(text) < min_length:
        return InputIssue(field=wire, code="too_short", limit=min_length, actual=len(text), label=label)
    return None


def _media_issues(m: MediaSpec, items: Sequence[MediaItem]) -> list[InputIssue]:
    def issue(code: str, limit: int | str | None = None, actual: int | str | None = None) -> InputIssue:
        return InputIssue(field=m.wire, code=code, limit=limit, actual=actual, label=m.label)

    count = len(items)
    if count < m.min_count:
        return [issue("required" if count == 0 else "too_few", m.min_count, count)]
    if count > m.max_count:
        return [issue("too_many", m.max_count, count)]
    issues: list[InputIssue] = []
    for item in items:
        mime = item.mime_type.split(";")[0].strip().lower()
        if mime not in m.mime_types:
            issues.append(issue("bad_mime", ", ".join(m.mime_types), mime or "?"))
        if item.size_bytes > m.max_bytes:
            issues.append(issue("too_big", m.max_mb, f"{item.size_bytes / 1_000_000:.1f}"))
        if m.max_seconds is not None and item.duration_s is not None and item.duration_s > m.max_seconds:
            issues.append(issue("media_too_long", m.max_seconds, math.ceil(item.duration_s)))
        if m.max_side_px is not None and max(item.width or 0, item.height or 0) > m.max_side_px:
            issues.append(issue("too_large_px", m.max_side_px, max(item.width or 0, item.height or 0)))
    return issues


# ---- a wire body, as Kie judges it ----------------------------------------------------------


def validate_wire_input(spec: ModelSpec, wire_input: Mapping[str, object]) -> list[InputIssue]:
    """What Kie's 422 would say about a request for ``spec``.

    ``wire_input`` is the ``input`` object of a market body, or the whole flat body of a veo/suno
    request (its ``model`` must be the spec's; ``callBackUrl`` is ignored).
    """
    issues: list[InputIssue] = []
    body = dict(wire_input)
    if spec.family != "market":
        body.pop("callBackUrl", None)
        model = body.pop("model", None)
        if model != spec.request_model:
            issues.append(InputIssue(field="model", code="not_allowed", limit=spec.request_model, actual=_short(model)))
    known = {spec.prompt.wire} if spec.prompt else set()
    known |= {m.wire for m in spec.media} | {p.wire for p in spec.params}
    issues += [InputIssue(field=k, code="unknown_field") for k in body if k not in known]

    if spec.prompt is not None:
        issues += _wire_prompt_issues(spec, body)

    for m in spec.media:
        issues += _wire_media_issues(m, body.get(m.wire), present=m.wire in body)
    values: dict[str, object] = {}
    for p in spec.params:
        if p.wire not in body:
            if p.required:
                issues.append(_issue(p, "required"))
            continue
        raw = body[p.wire]
        found = _wire_param_issue(spec, p, raw, body)
        if found:
            issues.append(found)
        else:
            values[p.wire] = raw
    if not issues:
        defaults = {p.wire: p.default for p in spec.params if p.default is not None}
        issues += combination_issues(spec, {**defaults, **values})
    return issues


def _wire_prompt_issues(spec: ModelSpec, body: Mapping[str, object]) -> list[InputIssue]:
    prompt = spec.prompt
    if prompt is None:
        return []
    raw = body.get(prompt.wire)
    if raw is not None and not isinstance(raw, str):
        return [InputIssue(field=prompt.wire, code="wrong_type", limit="text", label=prompt.label)]
    found = _text_issue(
        prompt.wire,
        prompt.label,
        raw or "",
        required=prompt.required,
        min_length=prompt.min_length,
        max_length=prompt.max_length,
    )
    return [found] if found else []


def validate_wire_body(spec: ModelSpec, body: Mapping[str, object]) -> list[InputIssue]:
    """:func:`validate_wire_input` on a whole create-task body of any family."""
    if spec.family != "market":
        return validate_wire_input(spec, body)
    issues: list[InputIssue] = []
    if body.get("model") != spec.id:
        issues.append(InputIssue(field="model", code="not_allowed", limit=spec.id, actual=_short(body.get("model"))))
    unknown = [k for k in body if k not in ("model", "input", "callBackUrl")]
    issues += [InputIssue(field=k, code="unknown_field") for k in unknown]
    inner = body.get("input")
    if not isinstance(inner, Mapping):
        return [*issues, InputIssue(field="input", code="wrong_type", limit="object")]
    return issues + validate_wire_input(spec, inner)


def _wire_media_issues(m: MediaSpec, raw: object, *, present: bool) -> list[InputIssue]:
    def issue(code: str, limit: int | str | None = None, actual: int | str | None = None) -> InputIssue:
        return InputIssue(field=m.wire, code=code, limit=limit, actual=actual, label=m.label)

    if not present:
        return [issue("required", m.min_count, 0)] if m.min_count > 0 else []
    if m.as_list:
        if not isinstance(raw, list) or not all(isinstance(u, str) for u in raw):
            return [issue("wrong_type", "list of URLs")]
        urls: list[str] = list(raw)
    else:
        if not isinstance(raw, str):
            return [issue("wrong_type", "URL")]
        urls = [raw] if raw else []
    if len(urls) < m.min_count:
        return [issue("required" if not urls else "too_few", m.min_count, len(urls))]
    if len(urls) > m.max_count:
        return [issue("too_many", m.max_count, len(urls))]
    return [issue("bad_url", actual=_short(u)) for u in urls if not _URL_RE.match(u)]


def _wire_param_issue(spec: ModelSpec, p: ParamSpec, raw: object, body: Mapping[str, object]) -> InputIssue | None:
    if p.type == "const":
        allowed: list[Scalar] = [v for v in (p.value, *p.when_media.values()) if v is not None]
        expected = p.value
        for media_wire, value in p.when_media.items():
            if body.get(media_wire):
                expected = value
        if not any(_same(raw, v) for v in allowed):
            return _issue(p, "not_allowed", limit=", ".join(_text(v) for v in allowed), actual=raw)
        if not _same(raw, expected):
            return _issue(p, "invalid_combination", actual=raw)
        return None
    wire_type_ok = {
        "enum": isinstance(raw, str),
        "bool": isinstance(raw, bool),
        "int": isinstance(raw, int) and not isinstance(raw, bool),
        "float": isinstance(raw, int | float) and not isinstance(raw, bool),
        "string": isinstance(raw, str),
        "url": isinstance(raw, str),
        "task_ref": isinstance(raw, str),
    }[p.type]
    if not wire_type_ok:
        expected_type = {"enum": "text", "bool": "true/false", "int": "integer", "float": "number"}.get(p.type, "text")
        return _issue(p, "wrong_type", limit=expected_type, actual=raw)
    try:
        _coerce(p, raw)
    except _Bad as bad:
        return _issue(p, bad.code, limit=bad.limit, actual=raw)
    return None
