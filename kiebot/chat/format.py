"""Formatting for chat texts: money, durations, HTML escaping.

Every text is sent with ``parse_mode=HTML`` (https://core.telegram.org/bots/api#html-style), so
anything that came from a user (names, prompts, Kie error messages) must be escaped before it is
put into a text. :class:`Safe` marks a string that is already HTML (a link we built); everything
else is escaped by :func:`render`.
"""

from __future__ import annotations

import html
from decimal import Decimal
from typing import Any

from kiebot.i18n import NBSP, number, t


class Safe(str):
    """A string that is already valid HTML and must not be escaped again."""


def escape(value: object) -> str:
    if isinstance(value, Safe):
        return str(value)
    return html.escape(str(value), quote=False)


def render(lang: str, key: str, /, **params: Any) -> str:
    """:func:`kiebot.i18n.t` with every string parameter HTML-escaped (ints and Safe pass)."""
    return t(lang, key, **{k: (escape(v) if isinstance(v, str) else v) for k, v in params.items()})


def rub(kopecks: int, lang: str = "ru") -> str:
    """``123456`` → ``1 234,56 ₽`` (ru) / ``1,234.56 ₽`` (en); whole rubles drop the kopecks.

    The number is :func:`kiebot.i18n.number`'s (one helper for every number a user reads), and
    a no-break space keeps ₽ on the line of its amount.
    """
    amount = Decimal(kopecks) / 100
    return f"{number(amount, lang, decimals=2 if kopecks % 100 else 0, money=True)}{NBSP}₽"


def credits_text(value: float, lang: str = "en") -> str:
    """Kie credits as Kie writes them: ``120``, ``0.8``, ``1234567`` — at most four decimals, no
    exponent (``:g`` turned a billed 1,234,567 into ``1.23457e+06``), no grouping; the decimal
    comma in Russian (``0,8``), as every number a Russian reader sees."""
    text = f"{value:.4f}".rstrip("0").rstrip(".")
    text = "0" if text in ("", "-0") else text
    return text.replace(".", ",") if lang == "ru" else text


def duration(seconds: float, lang: str = "ru") -> str:
    """``75`` → ``1:15``; ``3725`` → ``1:02:05``. Whole seconds are counted, never rounded up: a
    wait of 59 min 59.6 s shows ``59:59`` (an hour away would be a lie), and a job done in 4.7 s
    shows ``0:04``."""
    total = max(0, int(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}:{minutes:02d}:{secs:02d}"
    return f"{minutes}:{secs:02d}"


def approx_duration(seconds: float, lang: str = "ru") -> str:
    """A human estimate: ``~20 с`` / ``~3 мин`` (used for "typical time")."""
    if seconds < 90:
        return t(lang, "common.approx_seconds", n=max(1, round(seconds)))
    return t(lang, "common.approx_minutes", n=max(1, round(seconds / 60)))


def mention(first_name: str, username: str | None) -> str:
    return escape(f"@{username}" if username else first_name)
