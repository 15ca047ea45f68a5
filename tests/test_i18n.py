"""Russian and English texts are complete: same keys, same placeholders."""

from kiebot.i18n import LANGS, catalog, normalize_lang, placeholders, t


def test_every_key_exists_in_both_languages() -> None:
    ru, en = catalog("ru"), catalog("en")
    assert sorted(set(ru) - set(en)) == [], "keys missing in English"
    assert sorted(set(en) - set(ru)) == [], "keys missing in Russian"


#: Date formats pick their fields per language (``07.12`` vs ``7 Dec``) from one fixed set.
CLOCK_FORMATS = ("clock.short", "clock.long", "clock.precise", "clock.date")
CLOCK_FIELDS = frozenset({"day", "month", "mon", "year", "hour", "minute", "second"})


def test_placeholders_match_between_languages() -> None:
    ru, en = catalog("ru"), catalog("en")
    mismatched = [
        k for k in ru if k in en and k not in CLOCK_FORMATS and placeholders(ru[k]) != placeholders(en[k])
    ]
    assert mismatched == []


def test_date_formats_use_only_the_fields_the_clock_gives() -> None:
    for lang in LANGS:
        for key in CLOCK_FORMATS:
            assert placeholders(catalog(lang)[key]) <= CLOCK_FIELDS, (lang, key)


def test_no_text_is_empty() -> None:
    for lang in LANGS:
        assert [k for k, v in catalog(lang).items() if not v.strip()] == []


def test_lookup_fills_placeholders_and_falls_back() -> None:
    assert t("en", "common.back") == "◀️ Back"
    assert t("ru", "common.back") == "◀️ Назад"
    assert t("de", "common.back") == "◀️ Назад"
    assert t("en", "no.such.key") == "no.such.key"


def test_language_codes_normalize() -> None:
    assert normalize_lang("en-US") == "en"
    assert normalize_lang("ru") == "ru"
    assert normalize_lang("uk") == "ru"
    assert normalize_lang(None) == "ru"
