"""The Bank of Russia rate: the parser on a real-shaped windows-1251 list and on broken ones, the
fetch against a local HTTP server (answers, errors, silence), and the cache with its fallback."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
import trio

from kiebot.catalog.fx import (
    FxCache,
    FxError,
    FxOutOfRange,
    FxRate,
    fallback_rate,
    fetch_cbr_rate,
    parse_cbr_daily,
)
from kiebot.chat.format import render
from kiebot.metrics import Metrics
from kiebot.runtime.duties import refresh_fx
from kiebot.store import kv
from kiebot.store.db import Database
from kiebot.store.migrations import apply_migrations

pytestmark = pytest.mark.timeout(30)

SAMPLE = (Path(__file__).parents[1] / "data" / "fx" / "XML_daily.xml").read_bytes()
FALLBACK = fallback_rate(78.0)


def _with_usd(nominal: str, value: str) -> bytes:
    old = "<Nominal>1</Nominal><Name>Доллар США</Name><Value>80,7220</Value>".encode("cp1251")
    new = f"<Nominal>{nominal}</Nominal><Name>Доллар США</Name><Value>{value}</Value>".encode("cp1251")
    assert old in SAMPLE
    return SAMPLE.replace(old, new)


# ---- parser ---------------------------------------------------------------------------------------


def test_parses_the_usd_rate_and_its_date() -> None:
    assert SAMPLE.startswith(b'<?xml version="1.0" encoding="windows-1251"?>')
    assert "Доллар США".encode("cp1251") in SAMPLE
    assert parse_cbr_daily(SAMPLE) == FxRate(rub_per_usd=Decimal("80.7220"), date=dt.date(2025, 12, 20), source="cbr")


def test_value_is_divided_by_nominal() -> None:
    assert parse_cbr_daily(_with_usd("10", "807,2200")).rub_per_usd == Decimal("80.722")


def test_usd_is_found_by_char_code_when_its_id_changes() -> None:
    assert parse_cbr_daily(SAMPLE.replace(b'ID="R01235"', b'ID="R99999"')).rub_per_usd == Decimal("80.7220")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        pytest.param(SAMPLE[: len(SAMPLE) // 2], "malformed XML", id="truncated"),
        pytest.param(b"", "malformed XML", id="empty"),
        pytest.param(
            '<?xml version="1.0" encoding="windows-1251"?><html><body>Сервис недоступен</body></html>'.encode("cp1251"),
            "expected <ValCurs>, got <html>",
            id="html-error-page",
        ),
        pytest.param("<html><body>Сервис недоступен</body></html>".encode("cp1251"), "malformed XML", id="undeclared-encoding"),
        pytest.param(SAMPLE.replace(b'Date="20.12.2025"', b'Date="2025-12-20"'), "bad ValCurs Date", id="bad-date"),
        pytest.param(SAMPLE.replace(b'ID="R01235"', b'ID="R0"').replace(b"<CharCode>USD<", b"<CharCode>XXX<"), "no USD", id="no-usd"),
        pytest.param(_with_usd("1", "abc"), "not a number", id="value-not-a-number"),
        pytest.param(_with_usd("0", "80,7220"), "not positive", id="zero-nominal"),
        pytest.param(_with_usd("1", "807220"), "outside the sane range", id="lost-decimal-comma"),
        pytest.param(_with_usd("1", "0,0124"), "outside the sane range", id="inverted-rate"),
        pytest.param(
            b'<?xml version="1.0"?><!DOCTYPE v [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]><ValCurs Date="20.12.2025">&b;</ValCurs>',
            "document type declarations",
            id="entity-expansion",
        ),
        pytest.param(SAMPLE + b" " * 300_000, "larger than", id="oversized"),
    ],
)
def test_malformed_lists_are_refused(body: bytes, message: str) -> None:
    with pytest.raises(FxError, match=message):
        parse_cbr_daily(body)


def test_fallback_keeps_the_configured_text_exact() -> None:
    assert fallback_rate(78.43) == FxRate(rub_per_usd=Decimal("78.43"), date=None, source="fallback")
    assert fallback_rate("95").rub_per_usd == Decimal("95")
    with pytest.raises(ValueError, match="positive"):
        fallback_rate(0.0)


# ---- fetching from a local server ------------------------------------------------------------------

Handler = Callable[[trio.SocketStream], Awaitable[None]]


@asynccontextmanager
async def local_server(handler: Handler) -> AsyncIterator[str]:
    """A tiny HTTP/1.1 server on 127.0.0.1, port 0; yields its base URL."""
    hits: list[int] = []

    async def serve(stream: trio.SocketStream) -> None:
        hits.append(1)
        try:
            await handler(stream)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass
        finally:
            await stream.aclose()

    async with trio.open_nursery() as nursery:
        listeners = await nursery.start(trio.serve_tcp, serve, 0)
        port = listeners[0].socket.getsockname()[1]
        try:
            yield f"http://127.0.0.1:{port}/scripts/XML_daily.asp"
        finally:
            nursery.cancel_scope.cancel()


async def _read_request(stream: trio.SocketStream) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = await stream.receive_some(4096)
        if not chunk:
            break
        data += chunk
    return data


def answering(status: int, body: bytes, requests: list[bytes] | None = None) -> Handler:
    async def handler(stream: trio.SocketStream) -> None:
        request = await _read_request(stream)
        if requests is not None:
            requests.append(request)
        head = (
            f"HTTP/1.1 {status} X\r\nContent-Type: application/xml; charset=windows-1251\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        ).encode()
        await stream.send_all(head + body)

    return handler


async def silent(stream: trio.SocketStream) -> None:
    await _read_request(stream)
    await trio.sleep_forever()


async def test_fetch_reads_the_rate() -> None:
    requests: list[bytes] = []
    with trio.fail_after(10):
        async with local_server(answering(200, SAMPLE, requests)) as url, httpx.AsyncClient() as client:
            rate = await fetch_cbr_rate(client, url=url, timeout_s=5)
    assert rate.rub_per_usd == Decimal("80.7220")
    assert rate.source == "cbr"
    assert requests[0].startswith(b"GET /scripts/XML_daily.asp HTTP/1.1")


async def test_fetch_refuses_an_error_status() -> None:
    with trio.fail_after(10):
        async with local_server(answering(503, b"busy")) as url, httpx.AsyncClient() as client:
            with pytest.raises(FxError, match="HTTP 503"):
                await fetch_cbr_rate(client, url=url, timeout_s=5)


async def test_fetch_gives_up_on_a_server_that_never_answers() -> None:
    with trio.fail_after(10):
        async with local_server(silent) as url, httpx.AsyncClient() as client:
            started = trio.current_time()
            with pytest.raises(FxError, match=r"no answer within 0.3 s|ReadTimeout"):
                await fetch_cbr_rate(client, url=url, timeout_s=0.3)
            assert trio.current_time() - started < 3


async def test_fetch_stops_reading_an_endless_body() -> None:
    async def endless(stream: trio.SocketStream) -> None:
        await _read_request(stream)
        await stream.send_all(b"HTTP/1.1 200 OK\r\nContent-Type: application/xml\r\n\r\n")
        while True:
            await stream.send_all(b"<x/>" * 4096)

    with trio.fail_after(10):
        async with local_server(endless) as url, httpx.AsyncClient() as client:
            with pytest.raises(FxError, match="larger than"):
                await fetch_cbr_rate(client, url=url, timeout_s=5)


async def test_fetch_reports_a_refused_connection() -> None:
    listener = trio.socket.socket()
    await listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    listener.close()  # nothing listens there now
    with trio.fail_after(10):
        async with httpx.AsyncClient() as client:
            with pytest.raises(FxError, match="ConnectError"):
                await fetch_cbr_rate(client, url=f"http://127.0.0.1:{port}/", timeout_s=5)


# ---- the cache --------------------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_offline_cache_never_fetches() -> None:
    cache = FxCache(fallback=FALLBACK, client=None)
    assert not cache.is_stale()
    with trio.fail_after(5):
        assert await cache.get() == FALLBACK
        assert await cache.refresh() == FALLBACK


async def test_cache_fetches_once_then_when_stale() -> None:
    requests: list[bytes] = []
    clock = Clock()
    with trio.fail_after(10):
        async with local_server(answering(200, SAMPLE, requests)) as url, httpx.AsyncClient() as client:
            cache = FxCache(fallback=FALLBACK, client=client, url=url, max_age_s=3600, clock=clock)
            assert cache.current() == FALLBACK
            first = await cache.get()
            assert first.source == "cbr"
            assert await cache.get() is first
            assert len(requests) == 1
            clock.now += 3600
            await cache.get()
            assert len(requests) == 2


async def test_failed_refresh_keeps_the_last_good_rate_and_retries_later() -> None:
    clock = Clock()
    good = FxRate(rub_per_usd=Decimal("81.5"), date=dt.date(2025, 12, 19), source="cbr")
    requests: list[bytes] = []
    with trio.fail_after(10):
        async with local_server(answering(500, b"oops", requests)) as url, httpx.AsyncClient() as client:
            cache = FxCache(fallback=FALLBACK, client=client, url=url, retry_s=600, clock=clock)
            assert await cache.get() == FALLBACK
            assert cache.last_error == "CBR: HTTP 500"
            cache.seed(good)
            assert await cache.get() == good  # not stale yet: no new request
            assert len(requests) == 1
            clock.now += 600
            assert await cache.get() == good  # refresh failed again, the good rate stays
            assert len(requests) == 2
    cache.seed(FALLBACK)
    assert cache.current() == good, "a fallback never replaces an official rate"


# ---- the sane range (issue 13 item 7) ---------------------------------------------------------------


@pytest.mark.parametrize("value", ["700,0000", "15,5000"])
def test_a_rate_outside_20_to_500_is_refused_by_the_parser(value: str) -> None:
    """Both were accepted by the old 1–1000 range: a lost digit would have priced every model."""
    with pytest.raises(FxOutOfRange) as err:
        parse_cbr_daily(_with_usd("1", value))
    assert err.value.rate == Decimal(value.replace(",", "."))


def test_a_stored_rate_outside_the_range_is_not_seeded() -> None:
    cache = FxCache(fallback=FALLBACK, client=None)
    cache.seed(FxRate(rub_per_usd=Decimal("700"), date=dt.date(2025, 12, 19), source="cbr"))
    assert cache.current() == FALLBACK


async def test_the_fx_duty_ignores_a_fetched_rate_outside_the_range_and_alerts_admins(
    database_url: str, aio_loop: None
) -> None:
    good = FxRate(rub_per_usd=Decimal("81.5"), date=dt.date(2025, 12, 19), source="cbr")
    alerts: list[tuple[str, dict[str, object]]] = []

    async def alert(key: str, **params: object) -> None:
        alerts.append((key, params))

    metrics = Metrics()
    with trio.fail_after(20):
        async with (
            Database.open(database_url, max_size=2) as db,
            local_server(answering(200, _with_usd("1", "700,0000"))) as url,
            httpx.AsyncClient() as client,
        ):
            await apply_migrations(db)
            cache = FxCache(fallback=FALLBACK, client=client, url=url)
            cache.seed(good)
            await refresh_fx(db, cache, metrics, alert)
            async with db.connection() as conn:
                stored = await kv.get(conn, "fx")
    assert cache.current() == good  # the last good rate keeps pricing
    assert cache.last_refused == Decimal("700.0000")
    assert stored is not None
    assert stored.value == {"rub_per_usd": "81.5", "date": "2025-12-19", "source": "cbr"}
    assert metrics.registry.get_sample_value("kiebot_fx_rub_per_usd") == 81.5
    assert [key for key, _ in alerts] == ["edges.fx_refused"]
    params = alerts[0][1]
    assert (params["rate"], params["kept"], params["topic"]) == ("700.0000", "81.5", "fx:range")
    for lang in ("ru", "en"):
        text = render(lang, "edges.fx_refused", **{k: v for k, v in params.items() if k != "topic"})
        assert "700.0000" in text
        assert "FX_RUB_PER_USD" in text
