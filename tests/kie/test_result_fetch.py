"""Result downloads cannot point the bot inside (issue 13, item 2), through the real transport.

Traffic goes only to 127.0.0.1 (the fake Kie). Private and public addresses are proved refused
or pinned by the check itself: a resolver stand-in answers them, and the connecting transport is
either one that fails the test when called (refused before any connection) or a recording
``httpx.MockTransport`` (the connection would go to the checked IP, keeping Host and SNI).
"""

from __future__ import annotations

import random
from collections.abc import Sequence

import httpx
import pytest
import trio

from kiebot.config import load_settings
from kiebot.kie import KieClient, ResultRefused
from kiebot.kie.client import RetryPolicy
from kiebot.kie.result_fetch import ResultFetcher, system_resolver
from kiebot.kie.result_guard import TrustedHosts
from kiebot.metrics import Metrics
from kiebot.testing.kie.server import FakeKie
from kiebot.testing.kie.stub import start_stub_kie

from .conftest import API_KEY

MARKET = {"model": "google/nano-banana", "input": {"prompt": "a red fox", "output_format": "png", "image_size": "1:1"}}
TIMEOUT = httpx.Timeout(5.0)


class Resolver:
    """A DNS stand-in: fixed answers per host (a list per call, the last repeating), and a log."""

    def __init__(self, answers: dict[str, list[list[str]]]) -> None:
        self.answers = answers
        self.asked: list[str] = []

    async def __call__(self, host: str, port: int) -> Sequence[str]:
        self.asked.append(host)
        replies = self.answers[host]
        return replies[min(len(self.asked) - 1, len(replies) - 1)] if len(replies) > 1 else replies[0]


class NoConnection(httpx.AsyncBaseTransport):
    """Fails the test if a connection is ever attempted."""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        raise AssertionError(f"a connection was attempted to {request.url.host}")


def recording(seen: list[httpx.Request], answer: httpx.Response | None = None) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return answer or httpx.Response(200, content=b"png-bytes")

    return httpx.MockTransport(handler)


async def fetch(fetcher: ResultFetcher, url: str) -> bytes:
    async with fetcher.stream(url, timeout=TIMEOUT) as response:
        return await response.aread()


async def result_url(fake: FakeKie, kie: KieClient) -> str:
    task_id = await kie.create_task("market", MARKET, callback_url=None)
    await fake.wait_final(task_id)
    [url] = (await kie.get_task("market", task_id)).result_urls
    return url


@pytest.mark.parametrize(
    "answer",
    [["10.0.0.1"], ["127.0.0.1"], ["169.254.169.254"], ["::1"], ["fd00::5"], ["93.184.216.34", "10.0.0.1"], ["::ffff:192.168.0.1"]],
)
async def test_a_host_resolving_inside_is_refused_before_any_connection(answer: list[str]) -> None:
    with trio.fail_after(5):
        resolver = Resolver({"files.example": [answer]})
        fetcher = ResultFetcher(resolver=resolver, transport=NoConnection())
        with pytest.raises(ResultRefused) as info:
            await fetch(fetcher, "https://files.example/result.png?token=s3cr3t")
        assert info.value.host == "files.example"
        assert info.value.reason.startswith("address:")
        assert "s3cr3t" not in str(info.value)
        assert "result.png" not in str(info.value)
        assert resolver.asked == ["files.example"]


async def test_http_and_ip_literals_are_refused_without_a_lookup() -> None:
    with trio.fail_after(5):
        resolver = Resolver({})
        fetcher = ResultFetcher(resolver=resolver, transport=NoConnection())
        for url, reason in (
            ("http://files.example/x.png", "scheme"),
            ("https://10.0.0.1/x.png", "address:private"),
            ("https://[::1]:8443/x.png", "address:loopback"),
            ("https://169.254.169.254/latest/meta-data/", "address:link-local"),
        ):
            with pytest.raises(ResultRefused) as info:
                await fetch(fetcher, url)
            assert info.value.reason == reason
        assert resolver.asked == []


async def test_the_connection_goes_to_the_checked_address_keeping_host_and_sni() -> None:
    """DNS rebinding: the second answer (inside) is never asked for — the checked IP is dialled."""
    with trio.fail_after(5):
        resolver = Resolver({"files.example": [["93.184.216.34"], ["10.0.0.1"]]})
        seen: list[httpx.Request] = []
        fetcher = ResultFetcher(resolver=resolver, transport=recording(seen))
        assert await fetch(fetcher, "https://files.example/r/1.png") == b"png-bytes"
        [sent] = seen
        assert sent.url.host == "93.184.216.34"
        assert sent.url.scheme == "https"
        assert sent.url.path == "/r/1.png"
        assert sent.headers["Host"] == "files.example"
        assert sent.extensions["sni_hostname"] == "files.example"  # TLS name and cert check stay on the name
        assert resolver.asked == ["files.example"]


async def test_every_redirect_hop_is_checked_again() -> None:
    with trio.fail_after(5):
        resolver = Resolver({"cdn.example": [["93.184.216.34"]], "inside.example": [["10.1.2.3"]]})
        for location, reason in (
            ("https://inside.example/x.png", "address:private"),
            ("https://127.0.0.1/x.png", "address:loopback"),
            ("http://cdn.example/x.png", "scheme"),  # a downgrade to plain http
        ):
            seen: list[httpx.Request] = []
            redirect = httpx.Response(302, headers={"Location": location})
            fetcher = ResultFetcher(resolver=resolver, transport=recording(seen, redirect))
            with pytest.raises(ResultRefused) as info:
                await fetch(fetcher, "https://cdn.example/start.png")
            assert info.value.reason == reason
            assert [r.url.host for r in seen] == ["93.184.216.34"]  # the refused hop never connected


async def test_redirects_are_limited() -> None:
    with trio.fail_after(5):
        seen: list[httpx.Request] = []
        loop = httpx.Response(307, headers={"Location": "/again"})
        fetcher = ResultFetcher(resolver=Resolver({"cdn.example": [["93.184.216.34"]]}), transport=recording(seen, loop), max_redirects=3)
        with pytest.raises(ResultRefused) as info:
            await fetch(fetcher, "https://cdn.example/start")
        assert info.value.reason == "redirects"
        assert len(seen) == 4


async def test_a_trusted_name_is_fetched_over_http_from_loopback(fake: FakeKie, kie: KieClient) -> None:
    """A stand-in name pinned to 127.0.0.1: the bytes come from the fake, asked for by that name."""
    with trio.fail_after(10):
        url = await result_url(fake, kie)
        port = httpx.URL(url).port
        assert port is not None
        named = url.replace("127.0.0.1", "kie-fake.test")
        resolver = Resolver({"kie-fake.test": [["127.0.0.1"]]})
        fetcher = ResultFetcher(TrustedHosts.parse(["kie-fake.test"]), resolver=resolver)
        data = await fetch(fetcher, named)
        assert data[:4] == b"\x89PNG"
        untrusted = ResultFetcher(TrustedHosts.parse([f"kie-fake.test:{port + 1}"]), resolver=resolver, transport=NoConnection())
        with pytest.raises(ResultRefused):
            await fetch(untrusted, named)


async def test_localhost_trusted_works_over_plain_http_with_the_system_resolver(fake: FakeKie, kie: KieClient) -> None:
    """``KIE_TRUSTED_RESULT_HOSTS=localhost``: /etc/hosts may list ::1 first, the fake listens on
    127.0.0.1 only, so every checked address is tried in turn."""
    with trio.fail_after(10):
        url = (await result_url(fake, kie)).replace("127.0.0.1", "localhost")
        assert set(await system_resolver("localhost", 80)) <= {"127.0.0.1", "::1"}
        fetcher = ResultFetcher(TrustedHosts.parse(["localhost"]))
        assert (await fetch(fetcher, url))[:4] == b"\x89PNG"
        trusted_ip = ResultFetcher(TrustedHosts.parse(["127.0.0.1"]))
        assert (await fetch(trusted_ip, url.replace("localhost", "127.0.0.1")))[:4] == b"\x89PNG"


async def test_the_client_refuses_the_fakes_own_urls_when_nothing_is_trusted(fake: FakeKie, kie: KieClient, http: httpx.AsyncClient) -> None:
    with trio.fail_after(10):
        url = await result_url(fake, kie)
        seen: list[tuple[str, str]] = []
        strict = KieClient(
            http, api_key=API_KEY, api_url=fake.base_url, upload_url=fake.base_url,
            read_retry=RetryPolicy(attempts=3, base_delay_s=0.01), rng=random.Random(1),
            observer=lambda endpoint, code: seen.append((endpoint, code)),
        )
        before = sum(fake.requests.values())
        with pytest.raises(ResultRefused) as info:
            await strict.fetch_result(url, max_bytes=100_000)
        assert info.value.reason == "scheme"
        assert not info.value.retryable
        with pytest.raises(ResultRefused) as info:
            await strict.fetch_result(url.replace("http://", "https://"), max_bytes=100_000)
        assert info.value.reason == "address:loopback"
        assert sum(fake.requests.values()) == before  # nothing reached the fake
        assert seen == [("result", "refused"), ("result", "refused")]  # refused at once, never retried


async def test_the_stub_trusts_its_own_fake_and_nothing_else(nursery: trio.Nursery, http: httpx.AsyncClient) -> None:
    """``KIE_STUB=1`` with no trusted hosts: the in-process fake's own results (plain http on
    127.0.0.1, its port) are fetched; the same loopback host on another port is not trusted."""
    with trio.fail_after(10):
        settings = load_settings({"KIE_STUB": "1", "KIE_API_KEY": API_KEY})
        assert settings.kie_trusted_result_hosts == ()
        fake, stub = await start_stub_kie(nursery, settings, Metrics(), http)
        url = await result_url(fake, stub)
        assert url.startswith("http://127.0.0.1:")
        assert (await stub.fetch_result(url, max_bytes=1_000_000))[:4] == b"\x89PNG"
        port = httpx.URL(url).port
        assert port is not None
        with pytest.raises(ResultRefused):
            await stub.fetch_result(url.replace(f":{port}/", f":{port + 1}/"), max_bytes=1_000_000)
