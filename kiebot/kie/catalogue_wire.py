"""Kie's catalogue API answers, read tolerantly (no I/O).

Shapes (reference: kie-live-truth §2; "treat every field as possibly missing and every list as
possibly empty"):

* ``GET /api/v1/models`` → ``data: {total, models: [{model, slug, title, provider, taskType: [..],
  description (may be null), pricingDesc}]}``;
* ``GET /api/v1/models/<model>/price`` → ``data: {model, pricingDesc}``;
* ``GET /api/v1/models/<model>/schema`` → ``data: {model, openapi}``, ``openapi`` a whole OpenAPI
  3.1 document as an object, **or null** for a model Kie has not synced yet;
* ``GET /api/v1/models/<model>/success-rate`` → ``data: {model, points: [{start, end,
  successRate, errorRate, isNormal}]}``, 10-minute buckets over 24 h; a bucket without traffic has
  null rates; an empty list means "no data", not zero.

Every reader here accepts a missing envelope (the object itself as ``data``), ``data`` given as a
bare list, strings where lists were expected and numbers as strings; an entry without a model id
is skipped rather than failing the whole answer.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import msgspec


class KieModel(msgspec.Struct, frozen=True, kw_only=True):
    """One entry of Kie's catalogue."""

    model: str
    slug: str | None = None
    title: str | None = None
    provider: str | None = None
    task_types: tuple[str, ...] = ()
    description: str | None = None
    pricing_desc: str | None = None


class SuccessPoint(msgspec.Struct, frozen=True, kw_only=True):
    """A 10-minute bucket of ``/success-rate``; rates are None when the bucket had no traffic."""

    start: datetime | None = None
    end: datetime | None = None
    success_rate: float | None = None
    error_rate: float | None = None
    is_normal: bool | None = None


def _text(value: object) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return None


def _number(value: object) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip().rstrip("%"))
        except ValueError:
            return None
    return None


def _moment(value: object) -> datetime | None:
    """An ISO 8601 string or a Unix time in seconds or milliseconds."""
    if isinstance(value, str):
        text = value.strip()
        if text.isdigit():
            return _moment(int(text))
        try:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            return None
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    number = _number(value)
    if number is None:
        return None
    if number > 1e11:  # milliseconds
        number /= 1000.0
    try:
        return datetime.fromtimestamp(number, UTC)
    except (OverflowError, OSError, ValueError):
        return None


def _first(entry: Mapping[str, Any], *names: str) -> Any:
    for name in names:
        if name in entry and entry[name] is not None:
            return entry[name]
    return None


def parse_models(data: object) -> list[KieModel]:
    """The catalogue's models, from ``data`` of ``GET /api/v1/models``."""
    items: object = data
    if isinstance(data, Mapping):
        items = _first(data, "models", "list", "records", "items") or []
    if not isinstance(items, list):
        return []
    out: list[KieModel] = []
    for entry in items:
        if isinstance(entry, str):
            out.append(KieModel(model=entry))
            continue
        if not isinstance(entry, Mapping):
            continue
        model = _text(_first(entry, "model", "modelId", "model_id", "id", "slug"))
        if not model:
            continue
        task_types = _first(entry, "taskType", "task_type", "taskTypes")
        if isinstance(task_types, str):
            task_types = [task_types]
        out.append(
            KieModel(
                model=model,
                slug=_text(entry.get("slug")),
                title=_text(entry.get("title")),
                provider=_text(entry.get("provider")),
                task_types=tuple(t for t in (task_types or []) if isinstance(t, str)),
                description=_text(entry.get("description")),
                pricing_desc=_text(_first(entry, "pricingDesc", "pricing_desc", "pricing")),
            )
        )
    return out


def parse_price(data: object) -> str | None:
    """``pricingDesc`` of ``GET /api/v1/models/<model>/price`` (None when absent)."""
    if isinstance(data, str):
        return data
    if isinstance(data, Mapping):
        return _text(_first(data, "pricingDesc", "pricing_desc", "pricing"))
    return None


def parse_schema(data: object) -> dict[str, Any] | None:
    """The OpenAPI document of ``GET /api/v1/models/<model>/schema``; None = not synced yet.

    ``openapi`` is documented as an inlined object; a JSON string holding one is accepted too.
    """
    doc: object = data
    if isinstance(data, Mapping) and "paths" not in data:
        doc = _first(data, "openapi", "schema")
    if isinstance(doc, str):
        try:
            doc = msgspec.json.decode(doc)
        except msgspec.DecodeError:
            return None
    if isinstance(doc, Mapping) and doc:
        return dict(doc)
    return None


def parse_success_rate(data: object) -> list[SuccessPoint]:
    """Buckets of ``GET /api/v1/models/<model>/success-rate``, in the order Kie gave them."""
    items: object = data
    if isinstance(data, Mapping):
        items = _first(data, "points", "list", "items") or []
    if not isinstance(items, list):
        return []
    out = []
    for entry in items:
        if not isinstance(entry, Mapping):
            continue
        normal = entry.get("isNormal")
        out.append(
            SuccessPoint(
                start=_moment(entry.get("start")),
                end=_moment(entry.get("end")),
                success_rate=_number(_first(entry, "successRate", "success_rate")),
                error_rate=_number(_first(entry, "errorRate", "error_rate")),
                is_normal=normal if isinstance(normal, bool) else None,
            )
        )
    return out
