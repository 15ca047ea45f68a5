"""User-visible texts: Russian first, English second, all in ``kiebot/bot/locales/<lang>/*.toml``.

A key is ``<file stem>.<dotted path>``: ``common.back`` is ``back`` in ``common.toml``. Each area of
the product keeps its own file, so texts stay next to nothing but other texts and no handler
holds an inline string. ``tests/test_i18n.py`` fails when a key or a ``{placeholder}`` exists in
one language and not the other.

Missing keys never crash a handler: :func:`t` falls back to Russian, then to the key itself, and
logs the miss.
"""

from __future__ import annotations

import logging
import string
import tomllib
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any, Final, Literal

Lang = Literal["ru", "en"]
LANGS: Final[tuple[Lang, ...]] = ("ru", "en")
DEFAULT_LANG: Final[Lang] = "ru"
LOCALES_DIR: Final = Path(__file__).parent / "bot" / "locales"

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
    return string.Formatter().vformat(template, (), _SafeDict(params))


def placeholders(template: str) -> frozenset[str]:
    return frozenset(name for _, name, _, _ in string.Formatter().parse(template) if name)
