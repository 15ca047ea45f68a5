"""The fake Kie's catalogue API speaks the reference's shapes (kie-live-truth §2–3): the model list,
price texts, OpenAPI schemas with awkward keys and oneOf inputs, success-rate buckets with null
rates, the shared 1 request/s budget answered as ``code: 429`` inside HTTP 200, and its switches."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import trio

from kiebot.catalog import load_registry
from kiebot.testing.kie.server import FakeKie

KEY = "fake-catalogue-key"
REGISTRY = load_registry()


@pytest.fixture
async def fake(nursery: trio.Nursery) -> FakeKie:
    server = FakeKie(api_key=KEY, speed=0.01)
    await nursery.start(server.serve)
    return server


async def get(http: httpx.AsyncClient, fake: FakeKie, path: str, key: str = KEY) -> tuple[int, dict[str, Any]]:
    response = await http.get(fake.base_url + path, headers={"Authorization": f"Bearer {key}"})
    return response.status_code, response.json()


async def test_shapes_budget_and_switches(fake: FakeKie) -> None:
    fake.catalogue.budget_interval_s = 0.2
    with trio.fail_after(30):
        async with httpx.AsyncClient() as http:
            status, body = await get(http, fake, "/api/v1/models")
            assert status == 200
            assert body["code"] == 200
            models = body["data"]["models"]
            assert body["data"]["total"] == len(models) == len(REGISTRY.models) + 1
            kling = next(m for m in models if m["model"] == "kling-2.6/text-to-video")
            assert set(kling) == {"model", "slug", "title", "provider", "taskType", "description", "pricingDesc"}
            assert "55 credits" in kling["pricingDesc"]
            assert next(m for m in models if m["model"] == "z-image")["description"] is None
            assert {"veo3_fast", "V4_5"} <= {m["model"] for m in models}

            # The shared budget: the next call within 0.2 s is refused inside an HTTP 200.
            status, body = await get(http, fake, "/api/v1/models/kling-2.6/text-to-video/price")
            assert status == 200
            assert body["code"] == 429
            assert fake.catalogue.rejected == 1

            await trio.sleep(0.21)
            status, body = await get(http, fake, "/api/v1/models/kling-2.6/text-to-video/schema")
            doc = body["data"]["openapi"]
            assert doc["openapi"].startswith("3.1")
            schemas = doc["components"]["schemas"]
            assert "Input Params " in schemas  # a key ending in a space
            assert "response%20not%20with%20recordId" in schemas  # a literal %20 key
            ref = doc["paths"]["/api/v1/jobs/createTask"]["post"]["requestBody"]["content"]["application/json"]["schema"]["$ref"]
            assert ref == "#/components/schemas/Create%20Task%20Request"

            await trio.sleep(0.21)
            _, body = await get(http, fake, "/api/v1/models/bytedance/seedance-1.5-pro/schema")
            assert "oneOf" in body["data"]["openapi"]["components"]["schemas"]["Input Params "]  # text or frames

            await trio.sleep(0.21)
            _, body = await get(http, fake, "/api/v1/models/z-image/success-rate")
            points = body["data"]["points"]
            assert len(points) == 144
            assert any(p["successRate"] is None for p in points)  # quiet buckets
            assert all(set(p) == {"start", "end", "successRate", "errorRate", "isNormal"} for p in points)

            fake.catalogue.budget_interval_s = None
            fake.catalogue.null_schemas.add("z-image")
            fake.catalogue.missing.add("google/nano-banana")
            fake.catalogue.price_texts["z-image"] = "Now 2 credits per image."
            _, body = await get(http, fake, "/api/v1/models/z-image/schema")
            assert body["data"] == {"model": "z-image", "openapi": None}
            _, body = await get(http, fake, "/api/v1/models/z-image/price")
            assert body["data"]["pricingDesc"] == "Now 2 credits per image."
            _, body = await get(http, fake, "/api/v1/models/google/nano-banana/price")
            assert body["code"] == 404
            _, body = await get(http, fake, "/api/v1/models")
            assert "google/nano-banana" not in {m["model"] for m in body["data"]["models"]}

            status, body = await get(http, fake, "/api/v1/models", key="wrong")
            assert status == 401
            assert body["code"] == 401
