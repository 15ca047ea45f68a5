"""The fake Kie server's catalogue defaults: 422 for registry-invalid market inputs, credits per
SKU (and per 1,000 characters for speech), the kind and number of result files per model."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
import trio

from kiebot.kie import InputRejected, KieClient, RetryPolicy
from kiebot.testing.kie.registry import registry_pricer, registry_profile, registry_validator
from kiebot.testing.kie.rules import Profile
from kiebot.testing.kie.server import FakeKie

KEY = "fake-kie-registry-key"


@pytest.fixture
async def fake(nursery: trio.Nursery) -> FakeKie:
    server = FakeKie(api_key=KEY, speed=0.002)  # the catalogue defaults
    await nursery.start(server.serve)
    return server


@pytest.fixture
async def kie(fake: FakeKie) -> AsyncIterator[KieClient]:
    async with httpx.AsyncClient() as http:
        once = RetryPolicy(attempts=1)
        yield KieClient(
            http,
            api_key=KEY,
            api_url=fake.base_url,
            upload_url=fake.base_url,
            read_retry=once,
            create_retry=once,
        )


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            {"model": "google/nano-banana", "input": {"prompt": "a cat", "image_size": "7:1"}},
            "image_size: not_allowed (limit 1:1, 9:16, 16:9",
        ),
        ({"model": "google/nano-banana", "input": {"image_size": "1:1"}}, "prompt: required"),
        ({"model": "google/nano-banana", "input": {"prompt": "a cat", "seed": 5}}, "seed: unknown_field"),
        ({"model": "z-image", "input": {"prompt": "x" * 5001, "aspect_ratio": "1:1"}}, "prompt: too_long"),
        (
            {"model": "kling-2.6/text-to-video", "input": {"prompt": "x", "duration": 10}},
            "duration: wrong_type",
        ),
        ({"model": "made-up/model", "input": {"prompt": "x"}}, "model made-up/model is not supported"),
    ],
)
async def test_registry_invalid_market_inputs_get_422(
    fake: FakeKie, kie: KieClient, body: dict[str, object], message: str
) -> None:
    with trio.fail_after(10):
        with pytest.raises(InputRejected) as info:
            await kie.create_task("market", body, callback_url=None)
        assert message in info.value.kie_message
        assert fake.tasks == {}


@pytest.mark.parametrize(
    ("family", "body", "credits", "profile"),
    [
        ("market", {"model": "google/nano-banana", "input": {"prompt": "a cat"}}, 4, Profile("image", 1)),
        (
            "market",
            {
                "model": "kling-2.6/text-to-video",
                "input": {"prompt": "a cat", "sound": True, "duration": "10", "aspect_ratio": "16:9"},
            },
            220,
            Profile("video", 1),
        ),
        (
            "market",
            {"model": "grok-imagine/text-to-image", "input": {"prompt": "a cat"}},
            4,
            Profile("image", 6),
        ),
        (
            "market",
            {"model": "elevenlabs/text-to-speech-turbo-2-5", "input": {"text": "x" * 2500}},
            18,  # 6 credits per started 1,000 characters
            Profile("audio", 1),
        ),
        ("veo", {"prompt": "waves", "model": "veo3_fast", "aspectRatio": "16:9"}, 60, Profile("video", 1)),
        (
            "suno",
            {"prompt": "calm piano", "customMode": False, "instrumental": True, "model": "V4_5"},
            12,
            Profile("audio", 2),
        ),
    ],
)
async def test_tasks_cost_their_catalogue_price_and_return_its_files(
    fake: FakeKie, kie: KieClient, family: str, body: dict[str, object], credits: float, profile: Profile
) -> None:
    with trio.fail_after(10):
        task_id = await kie.create_task(family, body, callback_url="http://127.0.0.1:9/unused")  # type: ignore[arg-type]
        task = await fake.wait_final(task_id)
        assert task.price_credits == credits
        assert fake.credits == 100_000 - credits
        assert (task.kind, task.result_count) == profile
        status = await kie.get_task(family, task_id)  # type: ignore[arg-type]
        assert len(status.result_urls) == profile.results
        ext = {"image": ".png", "video": ".mp4", "audio": ".mp3"}[profile.kind]
        assert all(url.endswith(ext) for url in status.result_urls)


def test_veo_and_suno_bodies_are_left_to_the_fakes_own_rules() -> None:
    assert registry_validator("veo3_fast", {"prompt": "x", "anything": 1}) == []
    assert registry_validator("V4_5", {"prompt": "x", "style": "Rock", "title": "T"}) == []


def test_unknown_models_have_no_catalogue_answers() -> None:
    assert registry_pricer("market", "made-up/model", {}) is None
    assert registry_profile("market", "made-up/model") is None
    assert registry_profile("market", "veo3.1-fast") is None  # a Veo spec is not a market model
