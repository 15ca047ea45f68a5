"""Every model on sale, walked through the real wizard to a delivered result on the fake Kie.

One world (fake Telegram, fake Kie, the app) serves the whole module (``shared_world``, see
conftest.py): a world per model would spend most of the time starting apps. Each model gets its
own user, so the tests stay independent; the fake Kie runs tasks at 0.2 % of their real duration.

For each model: defaults for every button, sample files (a PNG, an MP3 of 3 s, an MP4) for its
inputs, a Sora link or an earlier Grok video where needed, then Confirm → the job is delivered,
Kie got a body it accepts (the fake answers 422 to anything else), no Telegram file URL ever
reached Kie, and the user paid exactly the quote — the catalogue price at the default choices
and the measured quantity — or used a free generation.
"""

from __future__ import annotations

import math

import pytest
import trio

from kiebot.catalog import load_registry
from kiebot.catalog.pricing import quote
from kiebot.store import admin, money
from kiebot.testing.harness import World

REGISTRY = load_registry()
ON_SALE = [spec.id for spec in REGISTRY.enabled]
PROMPT = "a lighthouse on a cliff at sunset"
AUDIO_SECONDS = 3
START_KOPECKS = 1_000_000
GROK_SOURCES = ("grok-imagine/text-to-video", "grok-imagine/image-to-video")

pytestmark = pytest.mark.slow


def _expected_quantity(model_id: str) -> int | None:
    spec = REGISTRY.require(model_id)
    source = spec.pricing.quantity
    if source == "text_chars":
        return max(1, math.ceil(len(PROMPT) / 1000))
    if source == "input_audio_seconds":
        return AUDIO_SECONDS
    return None


@pytest.mark.parametrize("model_id", ON_SALE)
async def test_model_walks_from_card_to_delivered_result(model_id: str, shared_world, bot_user) -> None:
    user_id = 6_000_000 + ON_SALE.index(model_id)

    async def scenario(world: World) -> None:
        ann = bot_user(world, user_id)
        await ann.start()
        await ann.credit(START_KOPECKS)
        spec = REGISTRY.require(model_id)
        if any(p.type == "task_ref" for p in spec.params):
            # Grok upscale takes one of the user's own earlier Grok videos: make one first.
            await ann.confirm(await ann.walk(GROK_SOURCES[0], prompt=PROMPT))
            await ann.wait_job("delivered")
        before = await ann.account()
        summary = await ann.walk(model_id, prompt=PROMPT)
        assert "Проверьте заказ" in summary.content, summary.content
        progress = await ann.confirm(summary)
        job = await ann.wait_job("delivered", "failed", "timed_out", "cancelled")
        assert job.state == "delivered", f"{job.state}: {job.error_code} {job.error_message}"
        assert job.model_id == model_id
        assert job.progress_message_id == progress.message_id
        result = await ann.wait_for(predicate=lambda m: m.kind in ("photo", "video", "audio", "document"), after=progress.message_id)
        assert result.file is not None

        task = world.kie.tasks[str(job.kie_task_id)]
        assert task.model == spec.request_model
        assert world.kie.telegram_urls_seen == []

        after = await ann.account()
        assert after.held == 0
        if job.free:
            assert model_id in world.app.bot.free_tier
            assert after.balance == before.balance
        else:
            expected = quote(spec, {}, fx=78, markup=2, quantity=_expected_quantity(model_id))
            assert job.quote_kopecks == expected.kopecks
            assert after.balance == before.balance - expected.kopecks
        async with world.app.db.connection() as conn:
            assert await money.check_invariants(conn) == []

    with trio.fail_after(70):
        await shared_world.run(scenario)


async def test_disabled_models_are_neither_listed_nor_startable(shared_world, bot_user) -> None:
    # Every registry model is on sale since Seedance 1.5 Pro (issue 15); a model switched off is
    # one the admin switched off (or a registry entry with enabled = false: the same status).
    switched_off = REGISTRY.require("wan/2-5-text-to-video")
    disabled = [spec for spec in REGISTRY.models if not spec.enabled] + [switched_off]

    async def scenario(world: World) -> None:
        async with world.app.db.connection() as conn:
            await admin.set_model_enabled(conn, switched_off.id, False, 1)
        world.app.bot.availability.invalidate()
        try:
            ann = bot_user(world, 6_100_000)
            await ann.start()
            for spec in disabled:
                code = world.app.bot.codes.code(spec.id)
                card = await ann.open_model(spec.id)
                assert "недоступна" in card.content
                assert not any(d.startswith("go:") for d in card.callback_data())
                started = await ann.press(card, f"go:{code}:m", force=True)
                assert await ann.draft() is None, started.content
            popular = await ann.press(ann._expect(await ann.say("/menu")), "pop:0")
            titles = " ".join(ann.labels(popular))
            assert all(spec.title.ru not in titles for spec in disabled)
        finally:
            async with world.app.db.connection() as conn:
                await admin.set_model_enabled(conn, switched_off.id, True, 1)
            world.app.bot.availability.invalidate()

    with trio.fail_after(70):
        await shared_world.run(scenario)
