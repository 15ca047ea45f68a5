"""One clock: every time a person reads is on ``TIMEZONE``, written the language's way."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from kiebot.chat.clock import UnknownZone, day, local, when, zone_name, zoned
from kiebot.config import ConfigError, load_settings

MOMENT = datetime(2026, 12, 7, 21, 5, 9, tzinfo=UTC)


def test_times_are_on_the_deployments_clock_written_each_languages_way() -> None:
    assert when(MOMENT, "Europe/Moscow", "ru") == "08.12 00:05"  # past midnight in Moscow
    assert when(MOMENT, "Europe/Moscow", "en") == "8 Dec 00:05"
    assert when(MOMENT, "Europe/Moscow", "ru", "long") == "08.12.2026 00:05"
    assert when(MOMENT, "Europe/Moscow", "en", "long") == "8 Dec 2026, 00:05"
    assert when(MOMENT, "UTC", "ru", "precise") == "07.12 21:05:09"
    assert when(MOMENT, "Asia/Yekaterinburg", "ru") == "08.12 02:05"
    assert when(None, "UTC", "ru") == "—"
    assert day(date(2026, 3, 1), "en") == "1 Mar 2026"
    assert day(date(2026, 3, 1), "ru") == "01.03.2026"


def test_a_naive_moment_is_taken_as_utc() -> None:
    assert local(datetime(2026, 1, 1, 0, 0), "Europe/Moscow").hour == 3


def test_the_zone_is_named_in_words_or_by_its_offset() -> None:
    assert zone_name("Europe/Moscow", "ru") == "по Москве"
    assert zone_name("Europe/Moscow", "en") == "Moscow time"
    assert zone_name("UTC", "en") == "UTC"
    assert zone_name("Asia/Yekaterinburg", "ru", MOMENT) == "UTC+5"
    assert zone_name("Asia/Kolkata", "en", MOMENT) == "UTC+5:30"
    assert zone_name("America/New_York", "en", MOMENT) == "UTC\u22125"  # winter time
    assert zone_name("America/New_York", "en", datetime(2026, 7, 1, tzinfo=UTC)) == "UTC\u22124"
    assert zoned(MOMENT, "Europe/Moscow", "ru") == "08.12.2026 00:05 (по Москве)"


def test_timezone_is_configured_and_checked() -> None:
    assert load_settings({}).timezone == "Europe/Moscow"
    assert load_settings({"TIMEZONE": "Asia/Yekaterinburg"}).timezone == "Asia/Yekaterinburg"
    with pytest.raises(ConfigError, match='TIMEZONE: expected an IANA time zone such as "Europe/Moscow"'):
        load_settings({"TIMEZONE": "Moscow/Mars"})
    with pytest.raises(UnknownZone):
        when(MOMENT, "Moscow/Mars", "ru")
