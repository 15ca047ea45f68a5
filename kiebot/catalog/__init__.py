"""The model catalogue: ``registry/models.toml`` loaded into typed, validated specs.

Pure: no I/O besides reading the TOML (and the locale TOML it checks labels against).

Typical use::

    registry = load_registry()
    spec = registry.get("kling-2.6/text-to-video")
    issues = validate_request(spec, {"duration": "10"}, prompt=text, media={})
    if issues:
        reply(render_issue(issues[0], lang))
    request = build_wire_request(spec, {"duration": "10"}, prompt=text, media_urls={})
    # request.path == "/api/v1/jobs/createTask"; request.body == {"model": ..., "input": {...}}

Prices are in :mod:`kiebot.catalog.pricing`.

Also the money side of the catalogue: ``pricing`` (Kie credits → kopecks with the markup, the
free tier), ``fx`` (the ruble rate), ``availability`` (switched-off models, circuit breakers),
and the ``registry``/``prices`` command line (``cli``). May import the kernel, ``store`` and ``kie``
(wire types).
"""

from kiebot.catalog.loader import (
    DEFAULT_PATH,
    ENV_VAR,
    RegistryError,
    clear_registry_cache,
    load_registry,
    parse_registry,
    registry_path,
)
from kiebot.catalog.texts import (
    category_label,
    description,
    field_label,
    kind_label,
    param_label,
    render_issue,
    title,
    unit_label,
    value_label,
    variant_label,
)
from kiebot.catalog.types import (
    CATEGORIES,
    CREATE_PATHS,
    FAMILIES,
    RECORD_PATHS,
    Category,
    Family,
    InputIssue,
    InvalidRule,
    KindSpec,
    MediaItem,
    MediaSpec,
    ModelSpec,
    ParamSpec,
    PriceUnit,
    Pricing,
    PromptSpec,
    QuantitySource,
    Registry,
    Scalar,
    Sku,
    Text,
    WireRequest,
)
from kiebot.catalog.validation import (
    InvalidRequest,
    combination_issues,
    resolve_params,
    validate_request,
    validate_wire_body,
    validate_wire_input,
)
from kiebot.catalog.wire import build_wire_request

__all__ = [
    "CATEGORIES",
    "CREATE_PATHS",
    "DEFAULT_PATH",
    "ENV_VAR",
    "FAMILIES",
    "RECORD_PATHS",
    "Category",
    "Family",
    "InputIssue",
    "InvalidRequest",
    "InvalidRule",
    "KindSpec",
    "MediaItem",
    "MediaSpec",
    "ModelSpec",
    "ParamSpec",
    "PriceUnit",
    "Pricing",
    "PromptSpec",
    "QuantitySource",
    "Registry",
    "RegistryError",
    "Scalar",
    "Sku",
    "Text",
    "WireRequest",
    "build_wire_request",
    "category_label",
    "clear_registry_cache",
    "combination_issues",
    "description",
    "field_label",
    "kind_label",
    "load_registry",
    "param_label",
    "parse_registry",
    "registry_path",
    "render_issue",
    "resolve_params",
    "title",
    "unit_label",
    "validate_request",
    "validate_wire_body",
    "validate_wire_input",
    "value_label",
    "variant_label",
]
