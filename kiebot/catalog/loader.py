"""Load ``registry/models.toml`` and refuse it unless it is complete and consistent.

The registry is the price list and the wire schema at once, so a mistake in it costs money or
fails jobs at Kie (422). The loader therefore rejects, each with a message naming the model and
the field:

- unknown keys anywhere (a misspelt limit would otherwise vanish);
- duplicate ids, unknown families, kinds or categories, empty titles in either language;
- enum defaults outside the enum, ranges the wrong way round, const inputs without a value;
- a price-changing combination with no SKU (**every valid combination must have a price**), a SKU
  for a combination listed as invalid, a SKU twice, a model whose defaults are an invalid
  combination;
- metered prices whose quantity bounds do not match the input limits that bound them;
- labels whose texts are missing from ``kiebot/bot/locales/{ru,en}/catalog.toml``.

Credits are read as :class:`~decimal.Decimal` straight from the TOML text (``parse_float``), so
0.8 credits stays exactly 0.8 and prices come out to the kopeck.
"""

from __future__ import annotations

import itertools
import math
import os
import re
import tomllib
from collections.abc import Iterator, Mapping
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any, Final

import msgspec

from kiebot.catalog.types import CATEGORIES, FAMILIES, KindSpec, ModelSpec, ParamSpec, Pricing, Registry
from kiebot.i18n import LANGS
from kiebot.i18n import catalog as texts

ENV_VAR: Final = "KIEBOT_REGISTRY"
DEFAULT_PATH: Final = Path(__file__).resolve().parents[2] / "registry" / "models.toml"
SCHEMA_VERSION: Final = 1
_TOP_LEVEL: Final = frozenset({"schema_version", "kinds", "models"})
_FINITE_TYPES: Final = frozenset({"enum", "bool"})


class RegistryError(ValueError):
    """The registry cannot be used; ``str(err)`` names the file, the model and the field."""


def registry_path(path: Path | str | None = None) -> Path:
    """The file to load: ``path``, else ``$KIEBOT_REGISTRY``, else the repository's registry."""
    if path is not None:
        return Path(path)
    env = os.environ.get(ENV_VAR, "").strip()
    return Path(env) if env else DEFAULT_PATH


def load_registry(path: Path | str | None = None) -> Registry:
    """The validated registry, cached per file (and reloaded when the file changes).

    Raises:
        RegistryError: with a precise message on any problem.
    """
    resolved = registry_path(path).expanduser().resolve()
    try:
        stat = resolved.stat()
    except OSError as err:
        raise RegistryError(f"{resolved}: cannot read the registry ({err.strerror or err})") from None
    return _load_cached(str(resolved), stat.st_mtime_ns, stat.st_size)


def clear_registry_cache() -> None:
    _load_cached.cache_clear()


@lru_cache(maxsize=8)
def _load_cached(path: str, mtime_ns: int, size: int) -> Registry:
    try:
        raw_text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise RegistryError(f"{path}: cannot read the registry ({err})") from None
    return parse_registry(raw_text, source=path)


def parse_registry(text: str, *, source: str = "<registry>") -> Registry:
    """Parse and validate registry text (the loader's work, without the file)."""
    try:
        data = tomllib.loads(text, parse_float=Decimal)
    except tomllib.TOMLDecodeError as err:
        raise RegistryError(f"{source}: invalid TOML: {err}") from None
    return _Builder(source).build(data)


class _Builder:
    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, message: str) -> RegistryError:
        return RegistryError(f"{self.source}: {message}")

    def build(self, data: dict[str, Any]) -> Registry:
        unknown = sorted(set(data) - _TOP_LEVEL)
        if unknown:
            raise self.fail(f'unknown top-level key "{unknown[0]}" (expected {", ".join(sorted(_TOP_LEVEL))})')
        version = data.get("schema_version")
        if version != SCHEMA_VERSION:
            raise self.fail(f"schema_version: expected {SCHEMA_VERSION}, got {version!r}")
        kinds = self._kinds(data.get("kinds"))
        raw_models = data.get("models")
        if not isinstance(raw_models, list) or not raw_models:
            raise self.fail("models: expected at least one [[models]] table")
        models: list[ModelSpec] = []
        seen: set[str] = set()
        for position, raw in enumerate(raw_models):
            spec = self._model(position, raw, kinds)
            if spec.id in seen:
                raise self.fail(f'model "{spec.id}": duplicate id')
            seen.add(spec.id)
            models.append(spec)
        by_id = {m.id: m for m in models}
        for spec in models:
            self._cross_refs(spec, by_id)
        return Registry(path=self.source, schema_version=SCHEMA_VERSION, kinds=kinds, models=tuple(models))

    # ---- kinds ----------------------------------------------------------------------------

    def _kinds(self, raw: object) -> dict[str, KindSpec]:
        if not isinstance(raw, dict) or not raw:
            raise self.fail("kinds: expected a [kinds.<name>] table per kind of generation")
        kinds: dict[str, KindSpec] = {}
        for name, value in raw.items():
            try:
                kind = msgspec.convert(value, KindSpec)
            except msgspec.ValidationError as err:
                raise self.fail(f'kind "{name}": {_msgspec_detail(err)}') from None
            if not kind.categories:
                raise self.fail(f'kind "{name}": categories must not be empty')
            if not 0 < kind.typical_seconds <= kind.timeout_seconds:
                raise self.fail(f'kind "{name}": expected 0 < typical_seconds ≤ timeout_seconds')
            self._need_text(f"catalog.kind.{name}", f'kind "{name}"')
            kinds[name] = kind
        for category in CATEGORIES:
            self._need_text(f"catalog.category.{category}", f'category "{category}"')
        return kinds

    # ---- one model ------------------------------------------------------------------------

    def _model(self, position: int, raw: object, kinds: dict[str, KindSpec]) -> ModelSpec:
        if not isinstance(raw, dict):
            raise self.fail(f"models[{position}]: expected a table")
        model_id = raw.get("id")
        if not isinstance(model_id, str) or not model_id.strip():
            raise self.fail(f'models[{position}]: missing "id"')
        where = f'model "{model_id}"'
        kind_name = raw.get("kind")
        kind = kinds.get(kind_name) if isinstance(kind_name, str) else None
        if kind is None:
            raise self.fail(f'{where}: kind {kind_name!r} is not one of [kinds]: {", ".join(sorted(kinds))}')
        filled = dict(raw)
        filled.setdefault("typical_seconds", kind.typical_seconds)
        filled.setdefault("timeout_seconds", kind.timeout_seconds)
        try:
            spec = msgspec.convert(filled, ModelSpec)
        except msgspec.ValidationError as err:
            raise self.fail(f"{where}: {_msgspec_detail(err)}") from None

        if spec.family not in FAMILIES:  # pragma: no cover - Literal already checks
            raise self.fail(f"{where}: unknown family {spec.family!r}")
        if spec.category not in kind.categories:
            raise self.fail(
                f'{where}: category "{spec.category}" does not fit kind "{spec.kind}" '
                f"(allowed: {', '.join(kind.categories)})"
            )
        if spec.family == "market":
            if spec.wire_model not in (None, spec.id):
                raise self.fail(f"{where}: wire_model: market models are sent under their id")
        elif not spec.wire_model:
            raise self.fail(f'{where}: wire_model: required for the "{spec.family}" family (the body\'s "model")')
        for field, text in (("title", spec.title), ("description", spec.description)):
            for lang in LANGS:
                if not text.get(lang).strip():
                    raise self.fail(f"{where}: {field}.{lang} is empty")
        if not 0 <= spec.popularity <= 100:
            raise self.fail(f"{where}: popularity: expected 0–100, got {spec.popularity}")
        if not 0 < spec.typical_seconds <= spec.timeout_seconds:
            raise self.fail(f"{where}: expected 0 < typical_seconds ≤ timeout_seconds")
        if spec.results_per_run < 1:
            raise self.fail(f"{where}: results_per_run must be ≥ 1")
        if not spec.doc_url.startswith("https://"):
            raise self.fail(f"{where}: doc_url: expected an https:// link to the Kie doc page")

        self._prompt(spec, where)
        self._media(spec, where)
        self._params(spec, where)
        self._pricing(spec, where)
        return spec

    def _prompt(self, spec: ModelSpec, where: str) -> None:
        p = spec.prompt
        if p is None:
            return
        where = f"{where}: prompt"
        if p.max_length <= 0 or not 0 <= p.min_length <= p.max_length:
            raise self.fail(f"{where}: expected 0 ≤ min_length ≤ max_length and max_length > 0")
        if p.required and p.default is not None:
            raise self.fail(f"{where}: a required prompt cannot have a default")
        if p.default is not None and len(p.default) > p.max_length:
            raise self.fail(f"{where}: default is longer than max_length")
        self._need_text(f"catalog.param.{p.label}", where)

    def _media(self, spec: ModelSpec, where: str) -> None:
        for m in spec.media:
            here = f'{where}: media "{m.wire}"'
            if not 0 <= m.min_count <= m.max_count or m.max_count < 1:
                raise self.fail(f"{here}: expected 0 ≤ min_count ≤ max_count and max_count ≥ 1")
            if not m.as_list and m.max_count != 1:
                raise self.fail(f"{here}: a single-URL input (as_list = false) takes max_count = 1")
            if m.send_empty and (not m.as_list or m.min_count > 0):
                raise self.fail(f"{here}: send_empty needs as_list = true and min_count = 0")
            if not m.mime_types:
                raise self.fail(f"{here}: mime_types must not be empty")
            wrong = [t for t in m.mime_types if not t.startswith(m.type + "/")]
            if wrong:
                raise self.fail(f'{here}: MIME type "{wrong[0]}" is not a {m.type} type')
            if m.max_mb <= 0:
                raise self.fail(f"{here}: max_mb must be > 0")
            self._need_text(f"catalog.param.{m.label}", here)
        self._unique_wires(spec, where)

    def _unique_wires(self, spec: ModelSpec, where: str) -> None:
        wires = [spec.prompt.wire] if spec.prompt else []
        wires += [m.wire for m in spec.media] + [p.wire for p in spec.params]
        for wire in wires:
            if wires.count(wire) > 1:
                raise self.fail(f'{where}: input "{wire}" is declared twice')
        if spec.family != "market" and "model" in wires:
            raise self.fail(f'{where}: "model" is the family\'s wire_model, not an input')

    def _params(self, spec: ModelSpec, where: str) -> None:
        for p in spec.params:
            self._param(spec, p, f'{where}: param "{p.wire}"')

    def _param(self, spec: ModelSpec, p: ParamSpec, here: str) -> None:
        if p.type != "enum" and p.values:
            raise self.fail(f"{here}: values are only for enums")
        if p.type != "const" and (p.value is not None or p.when_media):
            raise self.fail(f"{here}: value/when_media are only for const inputs")
        if p.type not in ("int", "float") and (p.min is not None or p.max is not None):
            raise self.fail(f"{here}: min/max are only for numbers")
        if p.type not in ("string", "url", "task_ref") and p.max_length is not None:
            raise self.fail(f"{here}: max_length is only for texts")
        if p.type != "url" and p.pattern is not None:
            raise self.fail(f"{here}: pattern is only for url inputs")
        if p.type != "task_ref" and p.accepts:
            raise self.fail(f"{here}: accepts is only for task_ref inputs")
        if p.wizard and p.type not in _FINITE_TYPES:
            raise self.fail(f"{here}: only enum and bool inputs can be wizard buttons")
        if p.value_labels is not None and p.type not in _FINITE_TYPES:
            raise self.fail(f"{here}: value_labels are only for enum and bool inputs")

        if p.type == "enum":
            if not p.values:
                raise self.fail(f"{here}: an enum needs values")
            if len(set(p.values)) != len(p.values):
                raise self.fail(f"{here}: duplicate enum values")
            if p.default is None:
                raise self.fail(f"{here}: an enum needs a default (the wizard may be skipped)")
            if not isinstance(p.default, str) or p.default not in p.values:
                raise self.fail(f'{here}: default "{p.default}" is not one of its values [{", ".join(p.values)}]')
        elif p.type == "bool":
            if not isinstance(p.default, bool):
                raise self.fail(f"{here}: a bool needs a default of true or false")
        elif p.type in ("int", "float"):
            if p.min is not None and p.max is not None and p.min > p.max:
                raise self.fail(f"{here}: min > max")
            if p.default is not None:
                number_ok = (
                    isinstance(p.default, int) and not isinstance(p.default, bool)
                    if p.type == "int"
                    else isinstance(p.default, int | float) and not isinstance(p.default, bool)
                )
                if not number_ok:
                    raise self.fail(f"{here}: default {p.default!r} is not a {p.type}")
                assert not isinstance(p.default, str | bool)
                if (p.min is not None and p.default < p.min) or (p.max is not None and p.default > p.max):
                    raise self.fail(f"{here}: default {p.default} is outside [{p.min}, {p.max}]")
        elif p.type == "string":
            if p.default is not None and not isinstance(p.default, str):
                raise self.fail(f"{here}: default must be a string")
        elif p.type == "const":
            if p.value is None:
                raise self.fail(f"{here}: a const input needs a value")
            if p.default is not None:
                raise self.fail(f"{here}: a const input has a value, not a default")
            for media_wire in p.when_media:
                if spec.media_input(media_wire) is None:
                    raise self.fail(f'{here}: when_media names "{media_wire}", which is not a media input')
        elif p.type in ("url", "task_ref"):
            if p.default is not None:
                raise self.fail(f"{here}: a {p.type} input is supplied by the user and has no default")
            if not p.required:
                raise self.fail(f"{here}: a {p.type} input must be required")
            if p.type == "url":
                if not p.pattern:
                    raise self.fail(f"{here}: a url input needs a pattern")
                try:
                    re.compile(p.pattern)
                except re.error as err:
                    raise self.fail(f"{here}: pattern does not compile ({err})") from None
            elif not p.accepts:
                raise self.fail(f"{here}: a task_ref input needs accepts = [model ids]")

        if (p.wizard or p.type in ("url", "task_ref")) and not p.label:
            raise self.fail(f"{here}: a user-facing input needs a label")
        if p.label:
            self._need_text(f"catalog.param.{p.label}", here)
        if p.value_labels:
            options: tuple[str, ...] = ("true", "false") if p.type == "bool" else p.values
            for option in options:
                self._need_text(f"catalog.value.{p.value_labels}.{option}", here)

    # ---- prices ---------------------------------------------------------------------------

    def _pricing(self, spec: ModelSpec, where: str) -> None:
        pricing = spec.pricing
        here = f"{where}: pricing"
        dims: list[ParamSpec] = []
        for name in pricing.by:
            param = spec.param(name)
            if param is None:
                raise self.fail(f'{here}: by names "{name}", which is not an input of the model')
            if param.type not in _FINITE_TYPES:
                raise self.fail(f'{here}: by "{name}": only enum and bool inputs can change the price')
            dims.append(param)
        if len(set(pricing.by)) != len(pricing.by):
            raise self.fail(f"{here}: by lists an input twice")
        if not pricing.skus:
            raise self.fail(f"{here}: no SKU")

        keys: dict[tuple[str | bool, ...], int] = {}
        for i, sku in enumerate(pricing.skus):
            sku_where = f"{here}: skus[{i}]"
            combo = self._combo(dims, sku.when, sku_where)
            if combo in keys:
                raise self.fail(f"{sku_where}: same combination as skus[{keys[combo]}] ({_describe(dims, combo)})")
            keys[combo] = i
            if sku.credits <= 0 or not sku.credits.is_finite():
                raise self.fail(f"{sku_where}: credits must be a positive number")
        invalid: set[tuple[str | bool, ...]] = set()
        for i, rule in enumerate(pricing.invalid):
            rule_where = f"{here}: invalid[{i}]"
            unknown = [k for k in rule.when if k not in pricing.by]
            if unknown or not rule.when:
                raise self.fail(f'{rule_where}: when must name inputs of "by" (got {", ".join(rule.when) or "nothing"})')
            for k, v in rule.when.items():
                self._check_value(dims[pricing.by.index(k)], v, rule_where)
            if rule.field is not None and rule.field not in rule.when:
                raise self.fail(f'{rule_where}: field "{rule.field}" is not one of its when keys')
            invalid.update(c for c in _combinations(dims) if _matches(dims, c, rule.when))

        for combo in _combinations(dims):
            if combo in invalid and combo in keys:
                raise self.fail(f"{here}: skus[{keys[combo]}] prices a combination listed as invalid ({_describe(dims, combo)})")
            if combo not in invalid and combo not in keys:
                raise self.fail(
                    f"{here}: no price for {_describe(dims, combo)} "
                    "(every valid combination needs a SKU; add one or an [[invalid]] rule)"
                )
        defaults = tuple(p.default for p in dims)
        if defaults in invalid:
            raise self.fail(f"{here}: the defaults ({_describe(dims, defaults)}) are an invalid combination")  # type: ignore[arg-type]
        self._metering(spec, pricing, here)

    def _combo(self, dims: list[ParamSpec], when: Mapping[str, str | bool], where: str) -> tuple[str | bool, ...]:
        names = [p.wire for p in dims]
        if set(when) != set(names):
            missing = [n for n in names if n not in when]
            extra = [k for k in when if k not in names]
            detail = f"missing {', '.join(missing)}" if missing else f"unexpected {', '.join(extra)}"
            raise self.fail(f"{where}: when must give exactly the inputs of by [{', '.join(names)}] ({detail})")
        for p in dims:
            self._check_value(p, when[p.wire], where)
        return tuple(when[p.wire] for p in dims)

    def _check_value(self, p: ParamSpec, value: str | bool, where: str) -> None:
        if p.type == "bool" and not isinstance(value, bool):
            raise self.fail(f'{where}: "{p.wire}" is a bool; got {value!r}')
        if p.type == "enum" and (not isinstance(value, str) or value not in p.values):
            raise self.fail(f'{where}: "{p.wire}" = {value!r} is not one of [{", ".join(p.values)}]')

    def _metering(self, spec: ModelSpec, pricing: Pricing, here: str) -> None:
        if pricing.unit == "run":
            if pricing.quantity is not None or pricing.quantity_min != 1 or pricing.quantity_max != 1:
                raise self.fail(f"{here}: quantity settings are only for metered units (second, 1000_chars)")
            return
        if pricing.quantity is None:
            raise self.fail(f'{here}: unit "{pricing.unit}" needs quantity = text_chars | input_audio_seconds | output_seconds')
        if not 1 <= pricing.quantity_min <= pricing.quantity_max:
            raise self.fail(f"{here}: expected 1 ≤ quantity_min ≤ quantity_max")
        if pricing.unit == "1000_chars":
            if pricing.quantity != "text_chars" or spec.prompt is None:
                raise self.fail(f"{here}: unit 1000_chars is measured on the text (quantity = text_chars)")
            bound = math.ceil(spec.prompt.max_length / 1000)
            if pricing.quantity_max != bound:
                raise self.fail(f"{here}: quantity_max must be {bound} (prompt.max_length {spec.prompt.max_length} in 1000s)")
        elif pricing.quantity == "text_chars":
            raise self.fail(f"{here}: text_chars is counted in 1000_chars units")
        elif pricing.quantity == "input_audio_seconds":
            audio = [m for m in spec.media if m.type == "audio"]
            if len(audio) != 1 or audio[0].max_seconds != pricing.quantity_max:
                raise self.fail(f"{here}: input_audio_seconds needs one audio input whose max_seconds equals quantity_max")

    # ---- references between models, texts --------------------------------------------------

    def _cross_refs(self, spec: ModelSpec, by_id: dict[str, ModelSpec]) -> None:
        for p in spec.params:
            for target in p.accepts:
                if target not in by_id:
                    raise self.fail(f'model "{spec.id}": param "{p.wire}": accepts unknown model "{target}"')

    def _need_text(self, key: str, where: str) -> None:
        for lang in LANGS:
            if key not in texts(lang):
                raise self.fail(f'{where}: no text "{key}" in kiebot/bot/locales/{lang}/catalog.toml')


def _combinations(dims: list[ParamSpec]) -> Iterator[tuple[str | bool, ...]]:
    domains: list[tuple[str | bool, ...]] = [(False, True) if p.type == "bool" else p.values for p in dims]
    return itertools.product(*domains)


def _matches(dims: list[ParamSpec], combo: tuple[str | bool, ...], when: Mapping[str, str | bool]) -> bool:
    return all(combo[i] == when[p.wire] for i, p in enumerate(dims) if p.wire in when)


def _describe(dims: list[ParamSpec], combo: tuple[str | bool, ...]) -> str:
    return ", ".join(f"{p.wire}={_show(v)}" for p, v in zip(dims, combo, strict=True))


def _show(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return f'"{value}"'


def _msgspec_detail(err: msgspec.ValidationError) -> str:
    """msgspec's message with its ``$.path`` turned into a readable location."""
    text = str(err)
    match = re.match(r"^(?P<msg>.*?)(?: - at `\$(?P<at>[^`]*)`)?$", text)
    if not match:  # pragma: no cover - the pattern matches any text
        return text
    msg = match.group("msg").replace("Object contains unknown field", "unknown field")
    at = (match.group("at") or "").lstrip(".")
    return f"{msg} (at {at})" if at else msg
