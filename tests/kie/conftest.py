"""Fixtures for the Kie client tests: the fake Kie server on 127.0.0.1:0 and a client pointed at it."""

from __future__ import annotations

import random
from typing import Any

import httpx
import pytest
import trio

from kiebot.kie.client import KieClient, RetryPolicy
from kiebot.kie.result_fetch import ResultFetcher
from kiebot.kie.result_guard import TrustedHosts
from kiebot.kie.throttle import SlidingWindowThrottle
from kiebot.testing.kie.server import FakeKie

API_KEY = "kie-test-key-7f3a9c1d2e"
HMAC_KEY = "kie-hmac-test-key"
FAST = RetryPolicy(attempts=3, base_delay_s=0.01, max_delay_s=0.05)


@pytest.fixture
async def fake(nursery: trio.Nursery) -> FakeKie:
    server = FakeKie(api_key=API_KEY, speed=0.01, hmac_key=HMAC_KEY)
    await nursery.start(server.serve)
    return server


class ClientFactory:
    """Builds clients on the shared httpx client, with fast back-off and a seeded jitter."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http

    def __call__(
        self, base_url: str, *, key: str = API_KEY, timeout: float = 5.0, **options: Any
    ) -> KieClient:
        settings: dict[str, Any] = {
            "read_retry": FAST,
            "create_retry": FAST,
            "throttle": SlidingWindowThrottle(20, 10.0),
            "rng": random.Random(7),
            # The fake serves results over http from 127.0.0.1: trusted as KIE_TRUSTED_RESULT_HOSTS would.
            "results": ResultFetcher(TrustedHosts.parse(["127.0.0.1"])),
        }
        settings.update(options)
        return KieClient(
            self.http, api_key=key, api_url=base_url, upload_url=base_url, timeout=timeout, **settings
        )


@pytest.fixture
def make_kie(http: httpx.AsyncClient) -> ClientFactory:
    return ClientFactory(http)


@pytest.fixture
def kie(make_kie: ClientFactory, fake: FakeKie) -> KieClient:
    return make_kie(fake.base_url)
