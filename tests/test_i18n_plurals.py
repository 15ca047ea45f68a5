"""Counts agree with their nouns by CLDR's rules, and numbers are written the language's way.

Every message that takes a count (a ``{n|…}`` plural group) is rendered with 0, 1, 2, 3, 5, 11,
21, 22, 25, 101 and 1.5 and must show the form CLDR picks for that number; a count written
without a group before a noun («{n} символов») is refused, so a new message cannot slip back to
«2 символов». The examples the review found wrong are pinned word for word.
"""

from __future__ import annotations

import re
from decimal import Decimal

import pytest

from kiebot.chat.format import rub
from kiebot.i18n import LANGS, PLURAL_FORMS, catalog, number, placeholders, plural_category, plural_groups, t

NBSP = "\u00a0"
COUNTS = (0, 1, 2, 3, 5, 11, 21, 22, 25, 101, 1.5)
#: CLDR's answers for COUNTS, written out rather than computed, so a wrong rule cannot agree
#: with itself (https://www.unicode.org/cldr/charts/latest/supplemental/language_plural_rules.html).
EXPECTED = {
    "ru": {0: "many", 1: "one", 2: "few", 3: "few", 5: "many", 11: "many", 21: "one", 22: "few", 25: "many", 101: "one", 1.5: "other"},
    "en": {0: "other", 1: "one", 2: "other", 3: "other", 5: "other", 11: "other", 21: "other", 22: "other", 25: "other", 101: "other", 1.5: "other"},
}


def _shown(value: float, lang: str) -> str:
    return number(value, lang)


@pytest.mark.parametrize("lang", LANGS)
def test_the_rule_matches_cldr_samples(lang: str) -> None:
    # CLDR's own sample numbers for each category.
    samples = {
        "ru": {
            "one": ["1", "21", "31", "101", "1001", "10\u00a0001"],
            "few": ["2", "3", "4", "22", "24", "34", "102", "1002"],
            "many": ["0", "5", "11", "12", "14", "19", "100", "111", "1000", "10\u00a0000"],
            "other": ["0,5", "1,5", "2,3", "10,1", "0,8"],
        },
        "en": {"one": ["1"], "other": ["0", "2", "16", "100", "1,000", "0.5", "1.5", "21"]},
    }[lang]
    for category, shown in samples.items():
        assert [plural_category(lang, s) for s in shown] == [category] * len(shown), category


def test_numbers_are_written_the_languages_way() -> None:
    assert number(0.8, "ru") == "0,8"
    assert number(0.8, "en") == "0.8"
    assert number(1234567, "ru") == f"1{NBSP}234{NBSP}567"
    assert number(1000, "ru") == "1000"  # four digits stay whole in Russian
    assert number(10000, "ru") == f"10{NBSP}000"
    assert number(1000, "en") == "1,000"
    assert number(1234567, "en") == "1,234,567"
    assert number(Decimal("12.50"), "ru") == "12,5"
    assert number(12.5, "ru", decimals=2) == "12,50"
    assert number(-3, "ru") == "\u22123"
    assert number(78.12345, "ru", decimals=4) == "78,1235"
    # Money goes through the same helper: one way of writing a number in the whole bot.
    assert rub(123456, "ru") == f"1{NBSP}234,56{NBSP}₽"
    assert rub(123456, "en") == f"1,234.56{NBSP}₽"
    assert rub(-5000, "ru") == f"\u221250{NBSP}₽"


def test_floats_in_plain_placeholders_use_the_decimal_comma() -> None:
    assert "0,8" in t("ru", "admin.dash.rate", rate=0.8)
    assert "0.8" in t("en", "admin.dash.rate", rate=0.8)


def _count_keys(lang: str) -> list[tuple[str, str]]:
    return [(key, name) for key, text in catalog(lang).items() for name, _ in plural_groups(text)]


def test_there_are_messages_with_counts() -> None:
    # The walk below is only as good as its list: every count English marks, Russian marks too
    # (Russian also agrees verbs English leaves alone: «осталась 1 из 5» / "1 of 5 left").
    ru, en = set(_count_keys("ru")), set(_count_keys("en"))
    assert len(ru) >= 30
    assert en <= ru


@pytest.mark.parametrize("lang", LANGS)
def test_every_plural_group_has_its_languages_forms(lang: str) -> None:
    wrong = []
    for key, text in catalog(lang).items():
        for name, forms in plural_groups(text):
            allowed = (3, 4) if lang == "ru" else (2,)
            if len(forms) not in allowed or not all(f.strip() for f in forms):
                wrong.append((key, name, forms))
            # A Russian group shows its number in every form or in none (a lost # is a typo);
            # English may say "once".
            if lang == "ru" and len({("#" in f) for f in forms}) != 1:
                wrong.append((key, name, "# in some forms only"))
    assert wrong == []


@pytest.mark.parametrize("lang", LANGS)
def test_every_message_with_a_count_agrees_with_every_count(lang: str) -> None:
    """Render each counted message with each of COUNTS and find the form CLDR wants in it."""
    checked = 0
    for key, name in _count_keys(lang):
        text = catalog(lang)[key]
        params = {p: "X" for p in placeholders(text)}
        (forms,) = [f for n, f in plural_groups(text) if n == name][:1]
        order = PLURAL_FORMS[lang]
        if lang == "ru" and len(forms) == 3:
            forms = [*forms, forms[1]]
        for count in COUNTS:
            category = EXPECTED[lang][count]
            want = forms[order.index(category)].replace("#", _shown(count, lang))
            rendered = t(lang, key, **{**params, name: count})
            assert want in rendered, (key, count, rendered)
            assert "|" not in rendered, (key, count, rendered)
            checked += 1
    assert checked >= 300


@pytest.mark.parametrize(
    ("lang", "key", "params", "expected"),
    [
        ("ru", "catalog.input_error.too_short", {"field": "Описание", "actual": 2, "limit": 3}, "слишком коротко — 2 символа"),
        ("ru", "catalog.input_error.too_short", {"field": "Описание", "actual": 1, "limit": 3}, "слишком коротко — 1 символ"),
        ("ru", "catalog.input_error.too_long", {"field": "Описание", "actual": 5, "limit": 3}, "слишком длинно — 5 символов"),
        ("ru", "generation.admin.low_credits", {"credits": 422, "threshold": 1000}, "осталось 422 кредита"),
        ("ru", "generation.admin.low_credits", {"credits": 21, "threshold": 1000}, "остался 21 кредит"),
        ("ru", "generation.admin.low_credits", {"credits": 425, "threshold": 1000}, "осталось 425 кредитов"),
        ("ru", "admin.job.price_paid", {"price": "1 ₽", "credits": 0.8}, "(0,8 кредита Kie)"),
        ("ru", "admin.job.price_paid", {"price": "1 ₽", "credits": 21}, "(21 кредит Kie)"),
        ("en", "referral.body", {"link": "L", "bonus": 1, "invited": 0, "earned": 0, "left": 0}, "you get <b>1 free generation</b>"),
        ("en", "referral.body", {"link": "L", "bonus": 3, "invited": 0, "earned": 0, "left": 0}, "you get <b>3 free generations</b>"),
        ("en", "admin_broadcast.confirm", {"id": 1, "reachable": 1}, "Send it to 1 user?"),
        ("en", "admin_broadcast.confirm", {"id": 1, "reachable": 2}, "Send it to 2 users?"),
        ("ru", "admin_broadcast.confirm", {"id": 1, "reachable": 21}, "Отправить 21 пользователю?"),
        ("ru", "wizard.price.free", {"left": 1, "limit": 5}, "сегодня осталась 1 генерация из 5"),
        ("ru", "wizard.price.free", {"left": 3, "limit": 5}, "сегодня остались 3 генерации из 5"),
        ("ru", "menu.free", {"n": 5}, "🎁 Бесплатно: 5 генераций"),
        ("en", "menu.free", {"n": 1}, "🎁 Free: 1 generation left"),
        ("ru", "menu.referral_joined", {"n": 1}, "Вам начислена 1 бесплатная генерация."),
        ("ru", "wizard.summary.prompt", {"name": "Описание", "length": 1001, "text": "x"}, "(1001 символ)"),
        ("ru", "wizard.summary.prompt", {"name": "Описание", "length": 12345, "text": "x"}, f"(12{NBSP}345 символов)"),
    ],
)
def test_the_examples_the_review_found(lang: str, key: str, params: dict[str, object], expected: str) -> None:
    assert expected in t(lang, key, **params)


def test_a_count_passed_as_text_still_agrees_and_a_missing_one_does_not_crash() -> None:
    assert "осталось 422 кредита" in t("ru", "generation.admin.low_credits", credits="422", threshold=1)
    assert "осталось 1234,5 кредита" in t("ru", "generation.admin.low_credits", credits="1 234,5", threshold=1)
    assert "1,234.5 credits left" in t("en", "generation.admin.low_credits", credits="1,234.5", threshold=1)
    assert "{credits}" in t("ru", "generation.admin.low_credits", threshold=1)


#: Nouns a count is written before; after a bare ``{n}`` they mean a missing plural group.
_RU_NOUNS = r"раз(?:а|\(а\))?\b|незаверш|платн|символ|кредит|файл|генерац|пользовател|польз\.|ошиб|заяв|плат[её]ж|возврат|пиксел|минут|секунд|час[аов]*\b|дн[еяи]|бесплатн|бонусн|модел|сообщени|звёзд|шт\."
_EN_NOUNS = r"(?:times?|time\(s\)|unfinished|characters?|chars|credits?|files?|generations?|users?|failures?|requests?|payments?|refunds?|pixels?|models?|messages?)\b"


@pytest.mark.parametrize(("lang", "nouns"), [("ru", _RU_NOUNS), ("en", _EN_NOUNS)])
def test_no_count_stands_before_a_noun_without_a_plural_group(lang: str, nouns: str) -> None:
    pattern = re.compile(r"\{\w+\}[ \u00a0]+(?:" + nouns + ")", re.IGNORECASE)
    bare = {key: text for key, text in catalog(lang).items() if pattern.search(text)}
    assert bare == {}, "write {n|# форма|# формы|# форм} (see README, “Texts”)"
