"""Model health at Kie as users see it: a model Kie reports problems with (last hour below 60 %
with traffic) carries "⚠ Kie reports problems with this model right now" on its card and its order
summary, and its circuit breaker opens after two provider failures instead of five."""

from __future__ import annotations

from datetime import UTC, datetime

import trio

from kiebot.i18n import t
from kiebot.store import breakers, catalog_sync
from kiebot.testing.harness import open_world

TROUBLED = "kling-2.6/text-to-video"
FINE = "z-image"
WARNING = t("ru", "catalog_sync.user.troubled")


async def mark(world, model_id: str, *, troubled: bool) -> None:
    """A health reading as the leader's 15-minute job stores it."""
    async with world.app.db.connection() as conn:
        await catalog_sync.save_health(conn, [(model_id, 0.3 if troubled else 0.97, 5, troubled)], datetime.now(UTC))


async def test_troubled_model_warns_on_card_and_summary(database_url: str, bot_user) -> None:
    with trio.fail_after(60):
        async with open_world(database_url) as world:
            world.kie.catalogue.success_rates[TROUBLED] = 0.3  # what the leader's own reading would find
            await mark(world, TROUBLED, troubled=True)
            await mark(world, FINE, troubled=False)
            ann = bot_user(world, 7_100_001)
            await ann.start()
            await ann.credit(500_000)
            assert WARNING in (await ann.open_model(TROUBLED)).content
            assert WARNING not in (await ann.open_model(FINE)).content
            summary = await ann.walk(TROUBLED)
            assert "Проверьте заказ" in summary.content
            assert WARNING in summary.content
            assert WARNING not in (await ann.walk(FINE)).content


async def test_breaker_opens_after_two_failures_when_kie_reports_problems(database_url: str, bot_user) -> None:
    with trio.fail_after(90):
        async with open_world(database_url) as world:
            world.kie.catalogue.success_rates[TROUBLED] = 0.3
            await mark(world, TROUBLED, troubled=True)
            world.kie.script(TROUBLED, outcome="fail", message="Internal error", times=2)
            ann = bot_user(world, 7_100_002)
            await ann.start()
            await ann.credit(500_000)
            for _ in range(2):
                await ann.confirm(await ann.walk(TROUBLED))
                job = await ann.wait_job("failed", "delivered")
                assert job.state == "failed"
                async with world.app.db.connection() as conn:
                    breaker = await breakers.get_breaker(conn, TROUBLED)
                assert breaker is not None
            assert breaker.state == "open"  # two failures: Kie already said the model is in trouble
            world.app.bot.availability.invalidate()
            assert await world.app.bot.availability.status(TROUBLED) == "paused"
