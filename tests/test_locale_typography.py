"""The locale files follow the typography of their language.

Russian: «ёлочки» (inner „лапки“), the em dash with spaces, no hyphen standing for a dash;
English: curly quotes “ ” and the curly apostrophe ’. Both: a no-break space before ₽ (a ruble
sign alone at the start of a line reads as a typo), an ellipsis character, never three dots.
Tags (``<b>``, ``<a href="…">``) are markup, not text, and are left out of the checks. Every
file under ``kiebot/bot/locales`` is read, so a text added by anyone is held to the same rules.
"""

from __future__ import annotations

import re

import pytest

from kiebot.i18n import LANGS, catalog

NBSP = "\u00a0"


def _texts(lang: str) -> dict[str, str]:
    """Every text with its HTML tags cut out."""
    return {key: re.sub(r"<[^>]*>", "", text) for key, text in catalog(lang).items()}


def _offending(lang: str, pattern: str) -> dict[str, str]:
    rx = re.compile(pattern)
    return {key: text for key, text in _texts(lang).items() if rx.search(text)}


@pytest.mark.parametrize("lang", LANGS)
def test_no_straight_quotes(lang: str) -> None:
    assert _offending(lang, "[\"']") == {}


@pytest.mark.parametrize("lang", LANGS)
def test_a_no_break_space_before_the_ruble_sign(lang: str) -> None:
    assert _offending(lang, "(?<!\u00a0)₽") == {}


@pytest.mark.parametrize("lang", LANGS)
def test_an_ellipsis_not_three_dots(lang: str) -> None:
    assert _offending(lang, r"\.\.\.") == {}


def test_russian_uses_guillemets_not_english_quotes() -> None:
    # „лапки“ inside «ёлочек» are allowed; an English closing quote ” is not Russian.
    assert _offending("ru", "”") == {}


def test_english_uses_english_quotes() -> None:
    assert _offending("en", "[«»„]") == {}


def test_russian_dashes_are_em_dashes_with_spaces() -> None:
    # A hyphen between spaces stands for a dash: « - ». An em dash touching a word on either side
    # («слово—слово») is one without its spaces; a line may start with one («— нет —»).
    assert _offending("ru", r"[ \u00a0]-[ \u00a0]|--") == {}
    assert _offending("ru", r"[^\s\u00a0(«„]—|—[^\s\u00a0»“.,)]") == {}


@pytest.mark.parametrize("lang", LANGS)
def test_the_checks_can_fail(lang: str) -> None:
    """Each rule refuses the mistake it is for (a rule that never fires proves nothing)."""
    samples = {
        "[\"']": 'a "quoted" word',
        "(?<!\u00a0)₽": "100 ₽",
        r"\.\.\.": "wait...",
    }
    for pattern, bad in samples.items():
        assert re.search(pattern, bad)
    assert re.search(r"[^\s\u00a0(«„]—|—[^\s\u00a0»“.,)]", "слово—слово")
    assert not re.search(r"[^\s\u00a0(«„]—|—[^\s\u00a0»“.,)]", "слово — слово")
