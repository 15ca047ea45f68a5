"""The fake Kie's catalogue API: ``/api/v1/models``, ``/price``, ``/schema``, ``/success-rate``
(reference: kie-live-truth §2–3), derived from ``registry/models.toml`` so it agrees with the bot
by default, with switches to make it disagree.

What it reproduces:

* the shapes: ``{code, msg, data: {total, models: [...]}}``, ``{model, pricingDesc}``,
  ``{model, openapi}`` (a whole OpenAPI 3.1 document per model, **null** when switched),
  ``{model, points: [...]}`` (144 ten-minute buckets; quiet buckets have **null** rates);
* one budget of 1 request/s shared by the four endpoints, answered as ``code: 429`` **inside an
  HTTP 200** and not queued (``budget_interval_s``; None switches it off);
* awkward schemas: the create body is a ``$ref`` to a key with a percent-encoded space written
  literally (``Create%20Task%20Request``), ``input`` a ``$ref`` to a key ending in a space
  (``Input Params ``), an error response under ``Error ``, and models whose media input is
  optional give ``input`` as ``oneOf`` text-only / with-files alternatives.

Switches (all keyed by our model id): ``missing`` (absent from the list; its endpoints 404),
``price_texts`` (replace a ``pricingDesc``), ``null_schemas``, ``drop_fields`` (the schema lacks
an input), ``drop_enum_values``, ``extra_required``, ``success_rates`` (the last hour's success
rate, 0–1) and ``extra_models`` (catalogue entries the registry lacks).
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any, Final

import trio
from quart import Response

from kiebot.catalog import ModelSpec, Registry, load_registry
from kiebot.catalog.types import MediaSpec, ParamSpec

Guard = Callable[[], Awaitable[tuple[Response | None, float]]]

RATE_LIMIT_MSG: Final = "Rate limit exceeded: the models API allows 1 request per second"
_TASK_TYPES: Final[dict[str, str]] = {
    "text_to_image": "text-to-image",
    "image_to_image": "image-to-image",
    "background_removal": "image-to-image",
    "upscale": "upscale",
    "text_to_video": "text-to-video",
    "image_to_video": "image-to-video",
    "video_to_video": "video-to-video",
    "avatar": "image-to-video",
    "watermark_removal": "video-to-video",
    "speech": "text-to-speech",
    "sound_effect": "text-to-audio",
    "audio_isolation": "audio-to-audio",
    "music": "text-to-music",
}
_UNITS: Final[dict[str, str]] = {"run": "per generation", "second": "per second", "1000_chars": "per 1,000 characters"}
DEFAULT_EXTRA: Final[tuple[dict[str, Any], ...]] = (
    {
        "model": "kling-2.6/motion-control",
        "slug": "kling-2-6-motion-control",
        "title": "Kling 2.6 Motion Control",
        "provider": "kling",
        "taskType": ["image-to-video"],
        "description": None,
        "pricingDesc": "A 5-second video costs 70 credits (0.35 USD).",
    },
)


def _num(value: Decimal) -> str:
    return format(value.normalize(), "f")


def kie_id(spec: ModelSpec) -> str:
    """The catalogue's ``model`` for one of ours: the id for market models, the wire model else."""
    return spec.id if spec.family == "market" else spec.request_model


def pricing_desc(spec: ModelSpec) -> str:
    """English prose in Kie's manner, one sentence per variant, with credits and dollars."""
    unit = _UNITS[spec.pricing.unit]
    parts = []
    for sku in spec.pricing.skus:
        usd = sku.credits * Decimal("0.005")
        where = ", ".join(f"{k} {str(v).lower()}" for k, v in sku.when.items())
        head = f"With {where}" if where else "Each run"
        parts.append(f"{head}: {_num(sku.credits)} credits ({_num(usd)} USD) {unit}.")
    return " ".join(parts)


def _media_schema(m: MediaSpec) -> dict[str, Any]:
    if m.as_list:
        return {"type": "array", "items": {"type": "string", "format": "uri"}, "maxItems": m.max_count}
    return {"type": "string", "format": "uri", "description": f"{m.type} URL after upload"}


def _param_schema(p: ParamSpec) -> dict[str, Any]:
    if p.type == "enum":
        return {"type": "string", "enum": list(p.values), "default": p.default}
    if p.type == "bool":
        return {"type": "boolean", "default": p.default}
    if p.type in ("int", "float"):
        out: dict[str, Any] = {"type": "integer" if p.type == "int" else "number"}
        if p.min is not None:
            out["minimum"] = p.min
        if p.max is not None:
            out["maximum"] = p.max
        return out
    if p.type == "const":
        values = [v for v in (p.value, *p.when_media.values()) if v is not None]
        return {"type": "string", "enum": list(dict.fromkeys(values))}
    return {"type": "string"}


class FakeCatalogue:
    """State and switches of the catalogue endpoints (one per :class:`FakeKie`)."""

    def __init__(self, registry: Registry | None = None, *, budget_interval_s: float | None = 1.0) -> None:
        self._registry = registry
        self.budget_interval_s = budget_interval_s
        self.missing: set[str] = set()
        self.price_texts: dict[str, str] = {}
        self.null_schemas: set[str] = set()
        self.drop_fields: dict[str, set[str]] = {}
        self.drop_enum_values: dict[str, dict[str, set[str]]] = {}
        self.extra_required: dict[str, set[str]] = {}
        self.success_rates: dict[str, float] = {}
        self.extra_models: list[dict[str, Any]] = [dict(e) for e in DEFAULT_EXTRA]
        #: trio time of every admitted request, and the number answered 429.
        self.admitted: list[float] = []
        self.rejected = 0
        self._last = float("-inf")

    @property
    def registry(self) -> Registry:
        return self._registry or load_registry()

    # ---- what Kie publishes ---------------------------------------------------------------

    def _by_kie_id(self) -> dict[str, ModelSpec]:
        return {kie_id(m): m for m in self.registry.models if m.id not in self.missing}

    def entry(self, spec: ModelSpec) -> dict[str, Any]:
        return {
            "model": kie_id(spec),
            "slug": kie_id(spec).replace("/", "-").replace(".", "-").replace("_", "-"),
            "title": spec.title.en,
            "provider": kie_id(spec).split("/", 1)[0].split("-", 1)[0],
            "taskType": [_TASK_TYPES.get(spec.kind, spec.kind.replace("_", "-"))],
            "description": None if spec.id == "z-image" else spec.description.en,
            "pricingDesc": self.price_texts.get(spec.id, pricing_desc(spec)),
        }

    def models(self) -> dict[str, Any]:
        entries = [self.entry(m) for m in self._by_kie_id().values()] + list(self.extra_models)
        return {"total": len(entries), "models": entries}

    def openapi(self, spec: ModelSpec) -> dict[str, Any] | None:
        """The model's OpenAPI document, with Kie's awkward keys; None when switched to null."""
        if spec.id in self.null_schemas:
            return None
        drop = self.drop_fields.get(spec.id, set())
        properties: dict[str, Any] = {}
        required: list[str] = []
        if spec.prompt is not None:
            properties[spec.prompt.wire] = {"type": "string", "maxLength": spec.prompt.max_length}
            if spec.prompt.required and spec.prompt.default is None:
                required.append(spec.prompt.wire)
        optional_media: list[str] = []
        for m in spec.media:
            properties[m.wire] = _media_schema(m)
            if m.min_count > 0:
                required.append(m.wire)
            else:
                optional_media.append(m.wire)
        for p in spec.params:
            properties[p.wire] = _param_schema(p)
            if p.required:
                required.append(p.wire)
        for field, values in self.drop_enum_values.get(spec.id, {}).items():
            if "enum" in properties.get(field, {}):
                properties[field]["enum"] = [v for v in properties[field]["enum"] if v not in values]
        required += sorted(self.extra_required.get(spec.id, set()))
        for field in drop:
            properties.pop(field, None)
        required = [r for r in dict.fromkeys(required) if r not in drop]
        if optional_media and all(w in properties for w in optional_media):
            # Text-only or with files: two alternatives, each with its own "required".
            plain = {k: v for k, v in properties.items() if k not in optional_media}
            input_schema: dict[str, Any] = {
                "oneOf": [
                    {"type": "object", "properties": plain, "required": required},
                    {"type": "object", "properties": properties, "required": [*required, *optional_media]},
                ]
            }
        else:
            input_schema = {"type": "object", "properties": properties, "required": required}
        if spec.family == "market":
            body = {
                "type": "object",
                "required": ["model", "input"],
                "properties": {
                    "model": {"type": "string", "enum": [spec.id]},
                    "callBackUrl": {"type": "string", "format": "uri"},
                    "input": {"$ref": "#/components/schemas/Input%20Params%20"},
                },
            }
        else:
            flat = input_schema.get("properties", {})
            body = {
                "type": "object",
                "required": ["model", *input_schema.get("required", [])],
                "properties": {"model": {"type": "string", "enum": [spec.request_model]}, "callBackUrl": {"type": "string"}, **flat},
            }
        return {
            "openapi": "3.1.0",
            "info": {"title": spec.title.en, "version": "1.0.0"},
            "paths": {
                spec.create_path: {
                    "post": {
                        "requestBody": {
                            "required": True,
                            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Create%20Task%20Request"}}},
                        },
                        "responses": {
                            "200": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/response%20not%20with%20recordId"}}}},
                            "422": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error%20"}}}},
                        },
                    }
                }
            },
            "components": {
                "schemas": {
                    # The key holds "%20" literally, as some of Kie's documents do.
                    "Create%20Task%20Request": body,
                    # A key ending in a space, referenced with its space percent-encoded.
                    "Input Params ": input_schema,
                    "response%20not%20with%20recordId": {"type": "object", "properties": {"code": {"type": "integer"}, "data": {"type": "object"}}},
                    "Error ": {"type": "object", "properties": {"code": {"type": "integer", "enum": [401, 402, 404, 422, 429, 433, 455]}, "msg": {"type": "string"}}},
                }
            },
        }

    def points(self, spec: ModelSpec) -> list[dict[str, Any]]:
        """144 ten-minute buckets ending now; quiet ones (every third) have null rates."""
        rate = self.success_rates.get(spec.id, 0.97)
        now_ms = int(time.time() * 1000) // 600_000 * 600_000
        out = []
        for i in range(144):
            end = now_ms - (143 - i) * 600_000
            quiet = i % 3 == 0
            out.append(
                {
                    "start": end - 600_000,
                    "end": end,
                    "successRate": None if quiet else rate,
                    "errorRate": None if quiet else round(1.0 - rate, 4),
                    "isNormal": rate >= 0.6,
                }
            )
        return out

    # ---- HTTP -------------------------------------------------------------------------------

    def _within_budget(self) -> bool:
        if self.budget_interval_s is None:
            return True
        now = trio.current_time()
        if now - self._last < self.budget_interval_s:
            self.rejected += 1
            return False
        self._last = now
        self.admitted.append(now)
        return True

    @staticmethod
    def _json(payload: object) -> Response:
        return Response(json.dumps(payload, ensure_ascii=False), status=200, content_type="application/json")

    def mount(self, app: Any, guard: Guard) -> None:
        """Add the routes to the fake's Quart app; ``guard`` checks the key and scripted faults."""

        async def list_models() -> Response:
            early, _ = await guard()
            if early is not None:
                return early
            if not self._within_budget():
                return self._json({"code": 429, "msg": RATE_LIMIT_MSG, "data": None})
            return self._json({"code": 200, "msg": "success", "data": self.models()})

        async def one_model(rest: str) -> Response:
            early, _ = await guard()
            if early is not None:
                return early
            if not self._within_budget():
                return self._json({"code": 429, "msg": RATE_LIMIT_MSG, "data": None})
            model, _, endpoint = rest.rpartition("/")
            spec = self._by_kie_id().get(model)
            extra = next((e for e in self.extra_models if e.get("model") == model), None)
            if (spec is None and extra is None) or endpoint not in ("price", "schema", "success-rate"):
                return self._json({"code": 404, "msg": f"Model not found: {model}", "data": None})
            if spec is None:
                assert extra is not None
                data: dict[str, Any] = {"model": model, "pricingDesc": extra.get("pricingDesc")}
                if endpoint == "schema":
                    data = {"model": model, "openapi": None}
                elif endpoint == "success-rate":
                    data = {"model": model, "points": []}
            elif endpoint == "price":
                data = {"model": model, "pricingDesc": self.price_texts.get(spec.id, pricing_desc(spec))}
            elif endpoint == "schema":
                data = {"model": model, "openapi": self.openapi(spec)}
            else:
                data = {"model": model, "points": self.points(spec)}
            return self._json({"code": 200, "msg": "success", "data": data})

        app.add_url_rule("/api/v1/models", "catalogue_models", list_models, methods=["GET"])
        app.add_url_rule("/api/v1/models/<path:rest>", "catalogue_model", one_model, methods=["GET"])
