"""User-visible texts: Russian first, English second, all in ``kiebot/bot/locales/<lang>/*.toml``.

A key is ``<file stem>.<dotted path>``: ``common.back`` is ``back`` in ``common.toml``. Each area of
the product keeps its own file, so texts stay next to nothing but other texts and no handler
holds an inline string. ``tests/test_i18n.py`` fails when a key or a ``{placeholder}`` exists in
one language and not the other.

Missing keys never crash a handler: :func:`t` falls back to Russian, then to the key itself, and
logs the miss.

Counts agree with their nouns by the CLDR plural rules
(https://www.unicode.org/cldr/charts/latest/supplemental/language_plural_rules.html): a text
writes ``{n|# кредит|# кредита|# кредитов}`` in Russian (forms for *one*, *few*, *many*, and an
optional fourth for *other* — fractions — which defaults to *few*: «0,8 кредита») and
``{n|# credit|# credits}`` in English (*one*, *other*). ``#`` is the number, written the
language's way by :func:`number` (decimal comma and no-break-space thousands in Russian), and a
form may leave it out («{n|остался # кредит|…}» agrees the verb too). Two rules were small enough
to write here and test against CLDR's own samples rather than pull in a locale database.
"""

from __future__ import annotations

import logging
import re
import string
import tomllib
from collections.abc import Mapping
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import cache
from pathlib import Path
from typing import Any, Final, Literal

Lang = Literal["ru", "en"]
Plural = Literal["one", "few", "many", "other"]
LANGS: Final[tuple[Lang, ...]] = ("ru", "en")
DEFAULT_LANG: Final[Lang] = "ru"
LOCALES_DIR: Final = Path(__file__).parent / "bot" / "locales"
#: The CLDR categories each language's plural forms are written in, in template order.
PLURAL_FORMS: Final[Mapping[Lang, tuple[Plural, ...]]] = {"ru": ("one", "few", "many", "other"), "en": ("one", "other")}
NBSP: Final = "\u00a0"
MINUS: Final = "\u2212"

#: ``{name|form|form…}``: a plural group (forms hold no braces).
_PLURAL_RE: Final = re.compile(r"\{(\w+)\|([^{}]*)\}")

log = logging.getLogger(__name__)


def _flatten(prefix: str, node: Mapping[str, Any], out: dict[str, str]) -> None:
    for key, value in node.items():
        full = f"{prefix}.{key}"
        if isinstance(value, Mapping):
            _flatten(full, value, out)
        elif isinstance(value, str):
            out[full] = value
        else:
            raise ValueError(f"locale value {full} must be a string, got {type(value).__name__}")


@cache
def catalog(lang: Lang) -> Mapping[str, str]:
    """All texts of one language, flattened to ``file.path.key → text``."""
    out: dict[str, str] = {}
    for path in sorted((LOCALES_DIR / lang).glob("*.toml")):
        with path.open("rb") as fh:
            _flatten(path.stem, tomllib.load(fh), out)
    return out


def normalize_lang(code: str | None) -> Lang:
    """Telegram's ``language_code`` (``"en-US"``, ``"ru"``, ``None``) → a supported language."""
    if code and code.lower().startswith("en"):
        return "en"
    return DEFAULT_LANG


Number = int | float | Decimal


def _decimal(value: Number | str, lang: str = "ru") -> Decimal | None:
    """The exact value of a number, or of a number written as text the language's way
    (``"1 234,5"`` in Russian, ``"1,234.5"`` in English); None for anything else."""
    if isinstance(value, bool):
        return None
    # str() first: Decimal(0.8) would be 0.8000000000000000444…
    text = str(value).strip().replace(NBSP, "").replace(" ", "").replace(MINUS, "-")
    text = text.replace(",", ".") if lang == "ru" else text.replace(",", "")
    try:
        number = Decimal(text)
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def number(value: Number, lang: str, *, decimals: int | None = None, money: bool = False) -> str:
    """``1234567.5`` → ``1 234 567,5`` (ru, no-break spaces) / ``1,234,567.5`` (en).

    ``decimals=None`` keeps what the value has, at most two places, dropping trailing zeros
    (``0.80`` → ``0,8``; an ``int`` never grows a fraction); ``decimals=2`` always shows two.
    The minus is U+2212, as typography wants it. Russian leaves a four-digit count whole
    («до 1000 символов», as Russian typesetting does) and groups from 10 000; amounts of money
    (``money=True``) group from 1 000 («1 234,50 ₽»), as banks and shops write them.
    """
    exact = _decimal(value, lang)
    if exact is None:
        return str(value)
    places = 2 if decimals is None else decimals
    exact = exact.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    sign = MINUS if exact < 0 else ""
    text = f"{abs(exact):f}"
    whole, _, fraction = text.partition(".")
    if decimals is None:
        fraction = fraction.rstrip("0")
    group, point = (NBSP, ",") if lang == "ru" else (",", ".")
    whole_int = int(whole)
    if lang == "ru" and not money and whole_int < 10_000:
        grouped = str(whole_int)
    else:
        grouped = f"{whole_int:,}".replace(",", group)
    return f"{sign}{grouped}{point}{fraction}" if fraction else f"{sign}{grouped}"


def plural_category(lang: str, shown: str) -> Plural:
    """The CLDR plural category of a number as it is shown (``"21"``, ``"1,5"``, ``"1 001"``).

    The rule reads the written digits, as CLDR does: ``1,0`` has a visible fraction (v = 1) and
    is *other*, not *one*. Russian: one = v0 and i%10=1 and i%100≠11; few = v0 and i%10∈2..4 and
    i%100∉12..14; many = the rest of v0; other = fractions. English: one = i=1 and v0; other.
    """
    digits = shown.replace(NBSP, "").replace(" ", "").replace(MINUS, "").lstrip("-")
    point = "," if lang == "ru" else "."
    if lang != "ru":
        digits = digits.replace(",", "")
    whole, _, fraction = digits.partition(point)
    try:
        i = int(whole or "0")
    except ValueError:
        return "other"
    if lang == "ru":
        if fraction:
            return "other"
        if i % 10 == 1 and i % 100 != 11:
            return "one"
        if 2 <= i % 10 <= 4 and not 12 <= i % 100 <= 14:
            return "few"
        return "many"
    return "one" if i == 1 and not fraction else "other"


def _choose(lang: Lang, forms: list[str], category: Plural) -> str:
    order = PLURAL_FORMS[lang]
    if lang == "ru" and len(forms) == 3:
        forms = [*forms, forms[1]]  # *other* (fractions) reads like *few*: 1,5 кредита
    index = order.index(category)
    return forms[index] if index < len(forms) else forms[-1]


def _plurals(lang: Lang, template: str, params: Mapping[str, Any]) -> str:
    """Resolve every ``{name|forms…}`` group against ``params[name]``; ``#`` becomes the number."""

    def pick(match: re.Match[str]) -> str:
        name, forms = match.group(1), match.group(2).split("|")
        value = params.get(name)
        exact = _decimal(value, lang) if isinstance(value, int | float | Decimal | str) else None
        if exact is None:
            return _choose(lang, forms, "other").replace("#", "{" + name + "}")
        shown = number(exact, lang)
        return _choose(lang, forms, plural_category(lang, shown)).replace("#", shown)

    return _PLURAL_RE.sub(pick, template)


def plural_groups(template: str) -> list[tuple[str, list[str]]]:
    """Every plural group of a template as ``(name, forms)`` (for tests and tools)."""
    return [(m.group(1), m.group(2).split("|")) for m in _PLURAL_RE.finditer(template)]


class _SafeDict(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def t(lang: str, key: str, /, **params: Any) -> str:
    """The text for ``key`` in ``lang`` with ``{placeholders}`` filled from ``params``."""
    language: Lang = "en" if lang == "en" else "ru"
    template = catalog(language).get(key)
    if template is None:
        template = catalog(DEFAULT_LANG).get(key)
        log.warning("missing text", extra={"key": key, "lang": language})
        if template is None:
            return key
        language = DEFAULT_LANG  # the Russian text's plural forms follow the Russian rule
    if "|" in template:
        template = _plurals(language, template, params)
    shown = {k: number(v, language) if isinstance(v, float | Decimal) else v for k, v in params.items()}
    return string.Formatter().vformat(template, (), _SafeDict(shown))


def placeholders(template: str) -> frozenset[str]:
    """The names a template takes, counting those only used in a plural group."""
    plain = _PLURAL_RE.sub(lambda m: "{" + m.group(1) + "}", template)
    return frozenset(name for _, name, _, _ in string.Formatter().parse(plain) if name)
