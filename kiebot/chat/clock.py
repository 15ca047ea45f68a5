"""One clock for every time a person reads: the ``TIMEZONE`` of the deployment (Europe/Moscow by
default), named once per screen.

History said Moscow time while the balance printed UTC without saying so, and the admin panel
wrote UTC: three clocks in one chat. Every screen now turns a moment into words here, in one
zone, and names that zone once (``zone_name``) — in its title, or beside the one time it shows.
How a date is written is the language's (``clock.*`` in the locale files): ``07.12 20:44`` in
Russian, ``7 Dec 20:44`` in English, where ``07.12`` would read as July 12 to half the readers.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from functools import cache
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from kiebot.i18n import catalog, t

Style = Literal["short", "long", "precise", "date"]


class UnknownZone(ValueError):
    """``TIMEZONE`` is not an IANA zone name this Python knows."""


@cache
def zone(name: str) -> ZoneInfo:
    """The zone of an IANA name (``Europe/Moscow``); the ``tzdata`` package supplies the data
    where the system has none (slim images, Windows)."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise UnknownZone(name) from None


def local(moment: datetime, zone_name: str) -> datetime:
    """``moment`` on the deployment's clock (a naive moment is taken as UTC, as the store keeps it)."""
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    return aware.astimezone(zone(zone_name))


def _month_name(month: int, lang: str) -> str:
    months = t(lang, "clock.months").split()
    return months[month - 1] if len(months) == 12 else str(month)


def when(moment: datetime | None, zone_name: str, lang: str, style: Style = "short") -> str:
    """A moment in words: ``short`` = day, month and time (dense lists), ``long`` adds the year,
    ``precise`` adds seconds (a job's steps), ``date`` is the day alone; ``—`` for nothing."""
    if moment is None:
        return "—"
    at = local(moment, zone_name)
    return t(
        lang,
        f"clock.{style}",
        day=at.day,
        month=at.month,
        mon=_month_name(at.month, lang),
        year=at.year,
        hour=at.hour,
        minute=at.minute,
        second=at.second,
    )


def zoned(moment: datetime | None, zone_name_: str, lang: str) -> str:
    """``07.12.2026 23:44 (по Москве)``: one time on a message with no title to name the zone."""
    return t(lang, "clock.zoned", time=when(moment, zone_name_, lang, "long"), zone=zone_name(zone_name_, lang))


def day(d: date, lang: str) -> str:
    """A calendar day (the exchange rate's date): ``07.12.2026`` / ``7 Dec 2026``."""
    return t(lang, "clock.date", day=d.day, month=d.month, mon=_month_name(d.month, lang), year=d.year)


def zone_name(zone_name: str, lang: str, now: datetime | None = None) -> str:
    """How a screen names the clock: «по Москве» / "Moscow time" for zones the locale files
    name, else the offset from UTC (``UTC+5``, ``UTC−3:30``) at ``now``."""
    key = f"clock.zone.{zone_name}"
    if key in catalog("ru"):
        return t(lang, key)
    offset = local(now or datetime.now(UTC), zone_name).utcoffset()
    minutes = int(offset.total_seconds() // 60) if offset is not None else 0
    if minutes == 0:
        return "UTC"
    sign = "+" if minutes > 0 else "\u2212"
    hours, rest = divmod(abs(minutes), 60)
    return f"UTC{sign}{hours}" + (f":{rest:02d}" if rest else "")
