"""Human words for the catalogue: input labels, value buttons and validation messages.

The texts live in ``kiebot/bot/locales/{ru,en}/catalog.toml`` (Russian first); the registry only
names them (``label = "duration"`` → ``catalog.param.duration``), and the loader refuses a
registry that names a text one language lacks.
"""

from __future__ import annotations

from kiebot.catalog.types import InputIssue, ModelSpec, ParamSpec, PriceUnit, Scalar
from kiebot.i18n import t


def field_label(label: str | None, wire: str, lang: str) -> str:
    """The name of an input as a user reads it; the wire name for inputs users never see."""
    return t(lang, f"catalog.param.{label}") if label else f"«{wire}»"


def render_issue(issue: InputIssue, lang: str) -> str:
    """One sentence for the user, naming the input: "Промпт слишком длинный: 1200 символов, максимум 1000."."""
    return t(
        lang,
        f"catalog.input_error.{issue.code}",
        field=field_label(issue.label, issue.field, lang),
        limit="" if issue.limit is None else issue.limit,
        actual="" if issue.actual is None else issue.actual,
    )


def param_label(param: ParamSpec, lang: str) -> str:
    return field_label(param.label, param.wire, lang)


def value_label(param: ParamSpec, value: Scalar, lang: str) -> str:
    """The button text for one value of an enum or bool input."""
    raw = ("true" if value else "false") if isinstance(value, bool) else str(value)
    if param.value_labels:
        return t(lang, f"catalog.value.{param.value_labels}.{raw}")
    return raw


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
