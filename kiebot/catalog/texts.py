"""Human words for the catalogue: input labels, value buttons and validation messages.

The texts live in ``kiebot/bot/locales/{ru,en}/catalog.toml`` (Russian first); the registry only
names them (``label = "duration"`` → ``catalog.param.duration``), and the loader refuses a
registry that names a text one language lacks.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

from kiebot.catalog.types import InputIssue, ModelSpec, ParamSpec, PriceUnit, Scalar
from kiebot.i18n import number, t


def field_label(label: str | None, wire: str, lang: str) -> str:
    """The name of an input as a user reads it; the wire name, quoted, for inputs users never see."""
    return t(lang, f"catalog.param.{label}") if label else t(lang, "catalog.unnamed", wire=wire)


def render_issue(issue: InputIssue, lang: str) -> str:
    """One sentence for the user, naming the input: "Промпт слишком длинный: 1200 символов, максимум 1000."."""
    limit, actual = issue.limit, issue.actual
    if issue.code == "too_big" and isinstance(actual, str):
        actual = number(Decimal(actual), lang, decimals=1)  # megabytes: «10,5 МБ», not «10.5»
    return t(
        lang,
        f"catalog.input_error.{issue.code}",
        field=field_label(issue.label, issue.field, lang),
        # A number is written the language's way (the actual count agrees in its plural group).
        limit=number(limit, lang) if isinstance(limit, int) else (limit or ""),
        actual="" if actual is None else actual,
    )


def param_label(param: ParamSpec, lang: str) -> str:
    return field_label(param.label, param.wire, lang)


def value_label(param: ParamSpec, value: Scalar, lang: str) -> str:
    """The button text for one value of an enum or bool input."""
    raw = ("true" if value else "false") if isinstance(value, bool) else str(value)
    if param.value_labels:
        return t(lang, f"catalog.value.{param.value_labels}.{raw}")
    return raw


def value_text(param: ParamSpec, value: Scalar | None, lang: str) -> str:
    """A chosen value as the wizard showed it: the button's words for enums and bools."""
    if value is None:
        return "—"
    if param.type in ("enum", "bool"):
        return value_label(param, value, lang)
    return str(value)


def choices_in_words(spec: ModelSpec | None, params: Mapping[str, Scalar], lang: str) -> list[tuple[str, str]]:
    """The parameters of a job as the user saw them — ``Формат кадра: 1:1 квадрат``, not
    ``aspect_ratio=1:1`` — for the admin job card and the dry-run answer. Inputs the user never
    chose (constants the registry adds) are left out; a model gone from the registry shows its
    wire names, quoted, rather than nothing."""
    if spec is None:
        return [(t(lang, "catalog.unnamed", wire=k), str(v)) for k, v in sorted(params.items())]
    shown = [*spec.wizard_params, *spec.user_params]
    return [(param_label(p, lang), value_text(p, params[p.wire], lang)) for p in shown if p.wire in params]


def title(spec: ModelSpec, lang: str) -> str:
    return spec.title.get(lang)


def description(spec: ModelSpec, lang: str) -> str:
    return spec.description.get(lang)


def category_label(category: str, lang: str) -> str:
    return t(lang, f"catalog.category.{category}")


def kind_label(kind: str, lang: str) -> str:
    return t(lang, f"catalog.kind.{kind}")


def unit_label(unit: PriceUnit, lang: str) -> str:
    """"за генерацию" / "за секунду" / "за 1000 символов"."""
    return t(lang, f"catalog.unit.{unit}")


def variant_label(spec: ModelSpec, key: str, lang: str) -> str:
    """A SKU key (``duration=10,sound=true``) in words: "Длительность: 10 с, Звук: да"; "" for
    ``default`` (a model with one price). Unknown parts are shown as they are."""
    if not key or key == "default":
        return ""
    parts = []
    for item in key.split(","):
        name, _, raw = item.partition("=")
        param = spec.param(name)
        if param is None:
            parts.append(item)
            continue
        value: Scalar = (raw == "true") if param.type == "bool" else raw
        parts.append(f"{param_label(param, lang)}: {value_label(param, value, lang)}")
    return ", ".join(parts)
