"""Typed shape of ``registry/models.toml``: what Kie accepts for each model and what it costs.

Every struct forbids unknown fields, so a typo in the registry (``max_lenght``) stops the loader
instead of silently dropping a limit. The structs are frozen: a loaded :class:`Registry` is shared
by every task of the process.

Names of inputs are Kie's **wire** names (``image_urls`` vs ``image_url`` vs ``input_urls``...),
taken from the request examples of each model's page on https://docs.kie.ai/market/ — never the
normalized names of the original bot, which Kie rejects with 422.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Final, Literal

import msgspec

from kiebot.kie.types import CREATE_PATHS as _KIE_CREATE_PATHS
from kiebot.kie.types import RECORD_PATHS as _KIE_RECORD_PATHS

Family = Literal["market", "veo", "suno"]
Category = Literal["image", "video", "audio"]
MediaType = Literal["image", "audio", "video"]
ParamType = Literal["enum", "bool", "int", "float", "string", "const", "url", "task_ref"]
PriceUnit = Literal["run", "second", "1000_chars"]
QuantitySource = Literal["text_chars", "input_audio_seconds", "output_seconds"]
Lang = Literal["ru", "en"]

#: A value of a wire input as it goes into the JSON body.
Scalar = str | bool | int | float

FAMILIES: Final[tuple[Family, ...]] = ("market", "veo", "suno")
CATEGORIES: Final[tuple[Category, ...]] = ("image", "video", "audio")

#: Where each family creates and polls its tasks: the Kie client's own table (one source of truth).
CREATE_PATHS: Final[dict[Family, str]] = dict(_KIE_CREATE_PATHS)
RECORD_PATHS: Final[dict[Family, str]] = dict(_KIE_RECORD_PATHS)


class Text(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """A human text in both languages (Russian first)."""

    ru: str
    en: str

    def get(self, lang: str) -> str:
        return self.en if lang == "en" else self.ru


class KindSpec(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Per kind of generation: how long it usually takes and when we give up on it.

    ``timeout_seconds`` becomes the job's deadline (DESIGN "Concurrency": each generation runs in
    its own cancel scope whose deadline is its kind's timeout).
    """

    categories: tuple[Category, ...]
    typical_seconds: int
    timeout_seconds: int


class PromptSpec(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """The free text of a request: ``prompt`` for most models, ``text`` for ElevenLabs."""

    wire: str = "prompt"
    label: str = "prompt"
    required: bool = True
    min_length: int = 0
    max_length: int
    #: Sent when the user gives no text (Kie's avatar examples send ``"prompt": ""``).
    default: str | None = None


class MediaSpec(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """A file the user supplies (uploaded to Kie first; the wire value is its URL).

    Kie's model pages: "File URL after upload, not file content; accepted types image/jpeg,
    image/png, image/webp; max 10 MB" for image inputs.
    """

    wire: str
    type: MediaType
    label: str
    #: The wire value is a list of URLs (``image_urls``) rather than one URL (``image_url``).
    as_list: bool
    min_count: int = 1
    max_count: int = 1
    mime_types: tuple[str, ...]
    #: Decimal megabytes (10 MB = 10,000,000 bytes): the stricter reading of Kie's "max 10MB".
    max_mb: int = 10
    #: Longest accepted audio/video, when the price or the model assumes one ("up to 15 s").
    max_seconds: int | None = None
    #: Longest side in pixels, when the price tier depends on the output size (Topaz).
    max_side_px: int | None = None
    #: Send ``[]`` when the user gives no file (nano-banana-pro's doc example does).
    send_empty: bool = False

    @property
    def max_bytes(self) -> int:
        return self.max_mb * 1_000_000


class ParamSpec(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """One non-text, non-file wire input.

    ``wizard = true`` makes it a button step of the wizard (aspect, duration, resolution, sound,
    quality, voice...); the others are sent with their ``default`` (when they have one) and never
    shown. ``url`` and ``task_ref`` inputs have no default: the user supplies them.
    """

    wire: str
    type: ParamType
    label: str | None = None
    wizard: bool = False
    #: Kie rejects the request without it (our default fills it in when there is one).
    required: bool = False
    values: tuple[str, ...] = ()
    default: Scalar | None = None
    #: ``const``: the value always sent...
    value: Scalar | None = None
    #: ...unless a media input is non-empty: ``{imageUrls = "FIRST_AND_LAST_FRAMES_2_VIDEO"}``.
    when_media: dict[str, str] = {}
    min: float | None = None
    max: float | None = None
    max_length: int | None = None
    #: ``url``: a regular expression the whole URL must match.
    pattern: str | None = None
    #: ``task_ref``: the models whose earlier results this input accepts (grok-imagine/upscale).
    accepts: tuple[str, ...] = ()
    #: i18n set for values: the button of value ``v`` reads ``catalog.value.<value_labels>.<v>``.
    value_labels: str | None = None


class Sku(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """One price: the credits Kie charges for one combination of the price-changing inputs."""

    when: dict[str, str | bool] = {}
    #: Credits per run, or per unit for metered models (1 credit = $0.005).
    credits: Decimal
    #: The ``model, variant`` names of this SKU on https://kie.ai/pricing, for ``registry diff``.
    kie_labels: tuple[str, ...] = ()


class InvalidRule(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """A combination Kie does not offer (Hailuo 2.3: 10 s is not available at 1080P)."""

    when: dict[str, str | bool]
    #: The input a user is told to change; defaults to the first key of ``when``.
    field: str | None = None


class Pricing(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """How a model is billed.

    ``by`` lists the inputs that change the price; every combination of their values has exactly
    one SKU, or is listed in ``invalid`` (the loader checks both ways). Metered models
    (``unit`` = ``second`` or ``1000_chars``) bill ``credits × quantity``; ``quantity`` says where
    the quantity comes from, bounded by ``quantity_min`` and ``quantity_max``.
    """

    by: tuple[str, ...] = ()
    unit: PriceUnit = "run"
    quantity: QuantitySource | None = None
    quantity_min: int = 1
    quantity_max: int = 1
    skus: tuple[Sku, ...]
    invalid: tuple[InvalidRule, ...] = ()

    @property
    def metered(self) -> bool:
        return self.unit != "run"


class ModelSpec(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Everything the bot, the Kie client and the price list need to know about one model."""

    id: str
    family: Family
    category: Category
    kind: str
    title: Text
    description: Text
    popularity: int
    enabled: bool = True
    doc_url: str
    #: The ``model`` field of a veo/suno body ("veo3_fast", "V4_5"); market bodies use ``id``.
    wire_model: str | None = None
    #: Files one run returns (grok-imagine text-to-image: 6 pictures; Suno: 2 tracks).
    results_per_run: int = 1
    typical_seconds: int
    timeout_seconds: int
    prompt: PromptSpec | None = None
    media: tuple[MediaSpec, ...] = ()
    params: tuple[ParamSpec, ...] = ()
    pricing: Pricing

    @property
    def request_model(self) -> str:
        """The ``model`` value sent to Kie."""
        return self.wire_model or self.id

    @property
    def create_path(self) -> str:
        return CREATE_PATHS[self.family]

    @property
    def wizard_params(self) -> tuple[ParamSpec, ...]:
        return tuple(p for p in self.params if p.wizard)

    @property
    def user_params(self) -> tuple[ParamSpec, ...]:
        """Inputs the user must supply besides text and files (a Sora link, an earlier task)."""
        return tuple(p for p in self.params if p.type in ("url", "task_ref"))

    def param(self, wire: str) -> ParamSpec | None:
        for p in self.params:
            if p.wire == wire:
                return p
        return None

    def media_input(self, wire: str) -> MediaSpec | None:
        for m in self.media:
            if m.wire == wire:
                return m
        return None


class Registry:
    """The loaded catalogue; read-only once built. Lists hold enabled models, most popular first."""

    __slots__ = ("_enabled", "_index", "kinds", "models", "path", "schema_version")

    def __init__(self, *, path: str, schema_version: int, kinds: dict[str, KindSpec], models: tuple[ModelSpec, ...]) -> None:
        self.path = path
        self.schema_version = schema_version
        self.kinds = dict(kinds)
        self.models = models
        self._index = {m.id: m for m in models}
        self._enabled = tuple(sorted((m for m in models if m.enabled), key=lambda m: (-m.popularity, m.id)))

    def __repr__(self) -> str:
        return f"Registry({self.path!r}, {len(self.models)} models)"

    def get(self, model_id: str) -> ModelSpec | None:
        """The model with this kiebot id (enabled or not), or ``None``."""
        return self._index.get(model_id)

    def require(self, model_id: str) -> ModelSpec:
        spec = self._index.get(model_id)
        if spec is None:
            raise KeyError(f'unknown model id "{model_id}"')
        return spec

    @property
    def enabled(self) -> tuple[ModelSpec, ...]:
        return self._enabled

    def by_category(self, category: str) -> tuple[ModelSpec, ...]:
        return tuple(m for m in self._enabled if m.category == category)

    def by_kind(self, kind: str) -> tuple[ModelSpec, ...]:
        return tuple(m for m in self._enabled if m.kind == kind)

    def popular(self, limit: int = 10) -> tuple[ModelSpec, ...]:
        return self._enabled[:limit]

    def categories(self) -> tuple[Category, ...]:
        """Categories that have at least one enabled model, in menu order."""
        present = {m.category for m in self._enabled}
        return tuple(c for c in CATEGORIES if c in present)

    def for_wire(self, family: str, wire_model: str) -> ModelSpec | None:
        """The model a request body names: market by id, veo/suno by their ``model`` field."""
        for m in self.models:
            if m.family == family and m.request_model == wire_model:
                return m
        return None


class MediaItem(msgspec.Struct, frozen=True, kw_only=True):
    """What the bot knows about a file the user sent (from Telegram's message, before upload)."""

    mime_type: str
    size_bytes: int
    duration_s: float | None = None
    width: int | None = None
    height: int | None = None


class InputIssue(msgspec.Struct, frozen=True, kw_only=True):
    """One problem with a request, structured so it can be shown in either language.

    ``field`` is the wire name (``image_urls``), ``label`` the i18n label of that input
    (``catalog.param.<label>``) when it has one, ``code`` the kind of problem
    (``catalog.input_error.<code>``); ``limit`` and ``actual`` fill the message.
    """

    field: str
    code: str
    limit: int | str | None = None
    actual: int | str | None = None
    label: str | None = None


class WireRequest(msgspec.Struct, frozen=True, kw_only=True):
    """Exactly what to POST to Kie, minus ``callBackUrl`` (the Kie client adds it)."""

    family: Family
    path: str
    body: dict[str, object]
