"""Kie's catalogue API client: pacing inside the shared 1 request/s budget, ``code: 429`` inside an
HTTP 200, tolerant reading of the documented shapes. Virtual time through ``httpx.MockTransport``
(no socket), so the 1.1 s spacing is asserted exactly."""

from __future__ import annotations

import itertools
import json
import random
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import trio
import trio.testing

from kiebot.kie.catalogue import CatalogueClient, model_path
from kiebot.kie.client import RetryPolicy
from kiebot.kie.errors import NotFound, RateLimited, Unauthorized
from kiebot.kie.pacing import Pacer

KEY = "kie-catalogue-key-5b1e"


def client_for(handler: Callable[[httpx.Request], httpx.Response], **kwargs: Any) -> tuple[CatalogueClient, httpx.AsyncClient]:
    http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    client = CatalogueClient(
        http,
        api_key=KEY,
        api_url="http://kie.test",
        retry=kwargs.pop("retry", RetryPolicy(attempts=3, base_delay_s=2.0, max_delay_s=8.0)),
        rng=random.Random(1),
        **kwargs,
    )
    return client, http


def envelope(data: object, code: int = 200, msg: str = "success") -> httpx.Response:
    return httpx.Response(200, content=json.dumps({"code": code, "msg": msg, "data": data}).encode())


async def test_calls_leave_at_least_1_1_s_apart_across_endpoints(autojump_clock: trio.testing.MockClock) -> None:
    times: list[float] = []
    paths: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        times.append(trio.current_time())
        paths.append(request.url.path)
        assert request.headers["Authorization"] == f"Bearer {KEY}"
        return envelope({"model": "x", "pricingDesc": "4 credits", "openapi": None, "points": [], "models": []})

    client, http = client_for(handler)
    with trio.fail_after(60):
        async with http:
            await client.models()
            await client.price("wan/v2-2-t2v")
            await client.schema("wan/v2-2-t2v")
            await client.success_rate("wan/v2-2-t2v")
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert len(times) == 4
    assert all(g >= 1.1 - 1e-9 for g in gaps), gaps
    # The model id goes into the path unencoded, its slash kept.
    assert paths == ["/api/v1/models", "/api/v1/models/wan/v2-2-t2v/price", "/api/v1/models/wan/v2-2-t2v/schema", "/api/v1/models/wan/v2-2-t2v/success-rate"]


async def test_two_callers_share_one_pacer(autojump_clock: trio.testing.MockClock) -> None:
    times: list[float] = []

    def handler(request: httpx.Request) -> httpx.Response:
        times.append(trio.current_time())
        return envelope({"models": []})

    pacer = Pacer()
    a, http = client_for(handler, pacer=pacer)
    b = CatalogueClient(http, api_key=KEY, api_url="http://kie.test", pacer=pacer)
    with trio.fail_after(60):
        async with http, trio.open_nursery() as nursery:
            for _ in range(3):
                nursery.start_soon(a.models)
                nursery.start_soon(b.models)
    times.sort()
    assert all(y - x >= 1.1 - 1e-9 for x, y in itertools.pairwise(times))


async def test_429_inside_http_200_backs_off_and_holds_the_budget_for_every_caller(
    autojump_clock: trio.testing.MockClock,
) -> None:
    calls: list[tuple[float, str]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append((trio.current_time(), request.url.path))
        if len(calls) == 1:
            return envelope(None, code=429, msg="Rate limit exceeded")
        return envelope({"total": 1, "models": [{"model": "z-image", "pricingDesc": "0.8 credits"}]})

    pacer = Pacer()
    sync, http = client_for(handler, pacer=pacer, retry=RetryPolicy(attempts=3, base_delay_s=5.0, max_delay_s=8.0))
    health = CatalogueClient(http, api_key=KEY, api_url="http://kie.test", pacer=pacer)
    found: list[str] = []

    async def other_caller() -> None:
        await trio.sleep(0.5)  # asks while the first caller is backing off
        found.extend(m.model for m in await health.models())

    with trio.fail_after(60):
        async with http, trio.open_nursery() as nursery:
            nursery.start_soon(other_caller)
            models = await sync.models()
    assert [m.model for m in models] == ["z-image"]
    assert found == ["z-image"]
    t0 = calls[0][0]
    # The back-off is 2.5–5 s: nobody called inside it (the pace alone would allow t0 + 1.1).
    assert all(t - t0 >= 2.5 for t, _ in calls[1:]), calls
    assert len(calls) == 3


async def test_persistent_429_raises_rate_limited(autojump_clock: trio.testing.MockClock) -> None:
    client, http = client_for(lambda request: envelope(None, code=429, msg="slow down"))
    with trio.fail_after(120):
        async with http:
            with pytest.raises(RateLimited):
                await client.models()


async def test_errors_are_typed_and_never_carry_the_key(autojump_clock: trio.testing.MockClock) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/schema"):
            return httpx.Response(200, content=json.dumps({"code": 404, "msg": "model not found"}).encode())
        return httpx.Response(401, content=json.dumps({"code": 401, "msg": f"bad key {KEY}"}).encode())

    client, http = client_for(handler)
    with trio.fail_after(60):
        async with http:
            with pytest.raises(NotFound):
                await client.schema("nope/model")
            with pytest.raises(Unauthorized) as caught:
                await client.models()
    assert KEY not in str(caught.value)


def test_model_ids_that_could_leave_the_path_are_refused() -> None:
    assert model_path("kling-2.6/text-to-video", "schema") == "/api/v1/models/kling-2.6/text-to-video/schema"
    for bad in ("../credit", "a/../../b", "x?y=1", "a b", "", "x#y"):
        with pytest.raises(ValueError):
            model_path(bad, "schema")


async def test_tolerant_shapes(autojump_clock: trio.testing.MockClock) -> None:
    answers: dict[str, Any] = {
        "/api/v1/models": {"models": [{"model": "a/b", "taskType": "text-to-image", "description": None}, {"slug": "c-d"}, {"title": "no id"}, 7]},
        "/api/v1/models/a/b/price": {"pricingDesc": "3 credits"},  # no envelope at all
        "/api/v1/models/a/b/schema": {"code": 200, "data": {"model": "a/b", "openapi": json.dumps({"paths": {}, "openapi": "3.1.0"})}},
        "/api/v1/models/a/b/success-rate": {
            "code": 200,
            "data": {"points": [{"start": "2026-12-07T10:00:00Z", "end": 1765102200000, "successRate": None, "errorRate": None}, {"successRate": "95", "isNormal": True}]},
        },
    }

    def handler(request: httpx.Request) -> httpx.Response:
        body = answers[request.url.path]
        if request.url.path == "/api/v1/models":
            return envelope(body)
        return httpx.Response(200, content=json.dumps(body).encode())

    client, http = client_for(handler, pacer=Pacer(0.0))
    with trio.fail_after(60):
        async with http:
            models = await client.models()
            assert [(m.model, m.task_types) for m in models] == [("a/b", ("text-to-image",)), ("c-d", ())]
            assert await client.price("a/b") == "3 credits"
            openapi = await client.schema("a/b")
            assert openapi is not None
            assert "paths" in openapi
            points = await client.success_rate("a/b")
    assert points[0].success_rate is None
    assert points[0].start is not None
    assert points[0].end is not None
    assert points[1].success_rate == 95.0
    assert points[1].is_normal is True
