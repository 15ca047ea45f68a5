"""Fair queueing through the bot (issue 13 item 6): with ``MAX_ACTIVE_JOBS_PER_USER=2`` and two
paid generations still running, the third Confirm is refused with the count — no job, no hold —
and the draft stays, so the user can confirm it once a generation ends."""

from __future__ import annotations

import pytest
import trio

from kiebot.testing.harness import open_world

USER = 5_300_001
ULTRA = "google/imagen4-ultra"
ULTRA_KOPECKS = 936


@pytest.mark.slow
async def test_the_confirm_past_the_cap_is_refused_with_the_count_and_holds_nothing(database_url: str, bot_user) -> None:
    with trio.fail_after(90):
        # Kie takes ~800 s per image at this speed: the first two jobs stay unfinished throughout.
        async with open_world(database_url, env={"MAX_ACTIVE_JOBS_PER_USER": "2"}, kie_speed=100.0) as world:
            ann = await bot_user.ready(world, USER, credit=10_000)
            for n in range(2):
                summary = await ann.walk(ULTRA, prompt=f"a tram number {n}")
                ann.forget_taps()
                await ann.confirm(summary)
                await ann.wait_job("queued", "submitting", "submitted")
            assert len(await ann.jobs()) == 2

            summary = await ann.walk(ULTRA, prompt="a third tram")
            ann.forget_taps()
            refused = await ann.confirm(summary)
            assert "уже 2 незавершённые платные генерации" in refused.content
            assert "(2)" in refused.content
            assert len(await ann.jobs()) == 2
            account = await ann.account()
            assert (account.balance, account.held) == (10_000 - 2 * ULTRA_KOPECKS, 2 * ULTRA_KOPECKS)
            assert await ann.draft() is not None  # the draft is kept for later
