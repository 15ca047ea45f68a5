"""Rubles per US dollar: the Bank of Russia's official rate, with a configured fallback.

One source, with its date (the original bot mixed 78, 79, 95 and 100 and read a third-party
mirror): the daily XML of the Bank of Russia, https://www.cbr.ru/scripts/XML_daily.asp ::

    <?xml version="1.0" encoding="windows-1251"?>
    <ValCurs Date="20.12.2025" name="Foreign Currency Market">
      <Valute ID="R01235"><NumCode>840</NumCode><CharCode>USD</CharCode><Nominal>1</Nominal>
        <Name>Доллар США</Name><Value>80,7220</Value><VunitRate>80,722</VunitRate></Valute> ...

The rate is ``Value / Nominal`` with a decimal comma. The body is parsed defensively: a size
cap, no DTDs, the US dollar found by its stable ``ID`` (or ``CharCode``), a sanity range, and
every problem raised as :class:`FxError` — a caller falls back to ``FX_RUB_PER_USD`` (default 78.0),
which is also the rate offline (``TEST_MODE``), when no network call is made at all.

The HTTP client is injected (an ``httpx.AsyncClient``), so tests point it at a local server.
httpx and trio are imported only by the fetch, so pricing stays a cheap import.
"""

from __future__ import annotations

import datetime as dt
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Final, Literal

import msgspec

from kiebot.config import FX_SANE_MAX, FX_SANE_MIN

if TYPE_CHECKING:
    import httpx

CBR_DAILY_URL: Final = "https://www.cbr.ru/scripts/XML_daily.asp"
USD_VALUTE_ID: Final = "R01235"
#: The real file is about 10 KB; anything far larger is not it.
MAX_BODY_BYTES: Final = 256 * 1024
#: A rate outside this range is a parsing accident (a lost decimal comma) or a broken source, not a
#: market: prices are ``credits × FX × markup``, so pricing with it would sell at a loss (or scare
#: every user away). The same range bounds ``FX_RUB_PER_USD`` (kiebot.config).
SANE_RANGE: Final = (Decimal(repr(FX_SANE_MIN)), Decimal(repr(FX_SANE_MAX)))
DEFAULT_TIMEOUT_S: Final = 10.0
#: The Bank of Russia sets the rate once a day; refresh a few times a day.
DEFAULT_MAX_AGE_S: Final = 6 * 3600.0
#: After a failed fetch, try again this much later (not on every quote).
DEFAULT_RETRY_S: Final = 600.0

FxSource = Literal["cbr", "fallback"]


class FxError(Exception):
    """The official rate could not be obtained or understood; use the fallback."""


class FxOutOfRange(FxError):
    """The source answered with a well-formed rate outside :data:`SANE_RANGE`: ignored, and worth
    an admin alert (unlike a network blip, it will not go away by itself)."""

    def __init__(self, rate: Decimal) -> None:
        low, high = SANE_RANGE
        super().__init__(f"CBR: USD rate {rate} is outside the sane range {low}–{high}")
        self.rate = rate


class FxRate(msgspec.Struct, frozen=True, kw_only=True):
    """Rubles per dollar, the date the Bank of Russia set it for, and where it came from."""

    rub_per_usd: Decimal
    date: dt.date | None
    source: FxSource


def fallback_rate(rub_per_usd: float | Decimal | str) -> FxRate:
    """The configured rate (``FX_RUB_PER_USD``), kept exact from its text."""
    value = Decimal(repr(rub_per_usd)) if isinstance(rub_per_usd, float) else Decimal(str(rub_per_usd))
    if not value.is_finite() or value <= 0:
        raise ValueError(f"FX_RUB_PER_USD must be a positive number, got {rub_per_usd!r}")
    return FxRate(rub_per_usd=value, date=None, source="fallback")


def in_sane_range(rate: Decimal) -> bool:
    low, high = SANE_RANGE
    return low <= rate <= high


def parse_cbr_daily(body: bytes) -> FxRate:
    """The USD rate of a ``XML_daily.asp`` body.

    Raises:
        FxError: for anything but a well-formed daily list with a sane USD rate.
    """
    if len(body) > MAX_BODY_BYTES:
        raise FxError(f"CBR: body of {len(body)} bytes is larger than {MAX_BODY_BYTES}")
    if b"<!DOCTYPE" in body or b"<!ENTITY" in body:
        raise FxError("CBR: document type declarations are not expected")
    try:
        root = ET.fromstring(body)
    except (ET.ParseError, ValueError, LookupError) as err:
        raise FxError(f"CBR: malformed XML ({err})") from None
    if root.tag != "ValCurs":
        raise FxError(f"CBR: expected <ValCurs>, got <{root.tag}>")
    try:
        date = dt.datetime.strptime(root.get("Date", ""), "%d.%m.%Y").date()
    except ValueError:
        raise FxError(f"CBR: bad ValCurs Date {root.get('Date')!r}") from None
    usd = next((v for v in root.iter("Valute") if v.get("ID") == USD_VALUTE_ID), None)
    if usd is None:
        usd = next((v for v in root.iter("Valute") if (v.findtext("CharCode") or "").strip() == "USD"), None)
    if usd is None:
        raise FxError("CBR: no USD (R01235) in the list")
    try:
        nominal = int((usd.findtext("Nominal") or "").strip())
        value = Decimal((usd.findtext("Value") or "").strip().replace(",", "."))
    except (ValueError, InvalidOperation):
        raise FxError("CBR: USD Nominal or Value is not a number") from None
    if nominal <= 0 or not value.is_finite():
        raise FxError("CBR: USD Nominal or Value is not positive")
    rate = value / nominal
    if not in_sane_range(rate):
        raise FxOutOfRange(rate)
    return FxRate(rub_per_usd=rate, date=date, source="cbr")


async def fetch_cbr_rate(
    client: httpx.AsyncClient, *, url: str = CBR_DAILY_URL, timeout_s: float = DEFAULT_TIMEOUT_S
) -> FxRate:
    """Download and parse today's list; ``timeout_s`` bounds the whole exchange.

    Raises:
        FxError: on a network problem, a non-200 answer, an oversized or malformed body, or when
            ``timeout_s`` seconds pass.
    """
    import httpx  # imported here so that pricing (and `registry check`) start fast
    import trio

    try:
        with trio.fail_after(timeout_s):
            async with client.stream("GET", url, timeout=timeout_s) as response:
                if response.status_code != 200:
                    raise FxError(f"CBR: HTTP {response.status_code}")
                chunks: list[bytes] = []
                size = 0
                async for chunk in response.aiter_bytes():
                    size += len(chunk)
                    if size > MAX_BODY_BYTES:
                        raise FxError(f"CBR: body larger than {MAX_BODY_BYTES} bytes")
                    chunks.append(chunk)
    except trio.TooSlowError:
        raise FxError(f"CBR: no answer within {timeout_s:g} s") from None
    except httpx.HTTPError as err:
        raise FxError(f"CBR: {type(err).__name__}: {err}") from None
    return parse_cbr_daily(b"".join(chunks))


class FxCache:
    """The last good official rate, refreshed when stale, the fallback until one arrives.

    A failed refresh keeps the last good rate (with its own date, so admins see how old it is);
    without a client (offline, ``TEST_MODE``) the fallback is the only rate and nothing is fetched.
    """

    def __init__(
        self,
        *,
        fallback: FxRate,
        client: httpx.AsyncClient | None,
        url: str = CBR_DAILY_URL,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        max_age_s: float = DEFAULT_MAX_AGE_S,
        retry_s: float = DEFAULT_RETRY_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._fallback = fallback
        self._client = client
        self._url = url
        self._timeout_s = timeout_s
        self._max_age_s = max_age_s
        self._retry_s = retry_s
        self._clock = clock
        self._rate: FxRate | None = None
        self._next_attempt_at: float | None = None
        self.last_error: str | None = None
        #: The out-of-range rate the last refresh ignored (None when it was fine or just failed).
        self.last_refused: Decimal | None = None

    def current(self) -> FxRate:
        """The rate to price with right now, without any I/O."""
        return self._rate or self._fallback

    def is_stale(self) -> bool:
        if self._client is None:
            return False
        return self._next_attempt_at is None or self._clock() >= self._next_attempt_at

    def seed(self, rate: FxRate) -> None:
        """Start from a rate stored earlier (the database), so a restart does not fall back."""
        if rate.source == "cbr" and in_sane_range(rate.rub_per_usd):
            self._rate = rate

    async def refresh(self) -> FxRate:
        """Fetch now; on failure keep what we had. Returns the rate to use."""
        if self._client is None:
            return self.current()
        try:
            rate = await fetch_cbr_rate(self._client, url=self._url, timeout_s=self._timeout_s)
        except FxError as err:
            self.last_error = str(err)
            self.last_refused = err.rate if isinstance(err, FxOutOfRange) else None
            self._next_attempt_at = self._clock() + self._retry_s
            return self.current()
        self._rate = rate
        self._next_attempt_at = self._clock() + self._max_age_s
        self.last_error = None
        self.last_refused = None
        return rate

    async def get(self) -> FxRate:
        """The current rate, refreshed first when it is older than ``max_age_s``."""
        if self.is_stale():
            return await self.refresh()
        return self.current()
