"""Free means the cheapest variant (issue 13 item 8), through the bot.

InfiniteTalk is in the default free tier because its 480p variant is among the five cheapest
models (3 credits = 2,34 ₽); its 720p variant costs four times as much (9,36 ₽). Free uses are given
at 480p only: 720p stays selectable, marked with its price, and is paid from the balance. The card,
the parameter picker, the wizard's price line and the summary each say which variant is free, and a
forged "free" confirm at 720p gives nothing away.
"""

from __future__ import annotations

import pytest
import trio

from kiebot.bot.screens.wizard import state as ws
from kiebot.testing.harness import open_world

USER = 5_600_001
MODEL = "infinitalk/from-audio"
PAID_720P = 936  # 12 credits × $0.005 × 78 ₽/$ × markup 2


async def _to_summary(ann) -> object:
    """Press Next through the steps already answered until the summary."""
    for _ in range(10):
        loaded = await ann.draft()
        assert loaded is not None
        draft, version = loaded
        if draft.step == ws.SUMMARY:
            return ann.last()
        await ann.press(ann.last(), f"wz:{version}:nx", force=True)
    raise AssertionError("the wizard did not reach the summary")


@pytest.mark.slow
async def test_a_free_model_is_free_only_at_its_cheapest_variant(database_url: str, bot_user) -> None:
    with trio.fail_after(90):
        async with open_world(database_url) as world:
            assert MODEL in world.app.bot.free_tier
            ann = bot_user(world, USER)
            await ann.start()
            bot_user.relax_flood_limits(world)

            card = await ann.open_model(MODEL)
            assert "Бесплатен только вариант «" in card.content
            assert "480p" in card.content

            summary = await ann.walk(MODEL, prompt="hello there")
            assert any(":ok:f:" in d for d in summary.callback_data())  # 480p (the default): free

            # Change → parameters → resolution: 480p is marked free, 720p with its price.
            loaded = await ann.draft()
            assert loaded is not None
            version = loaded[1]
            change = await ann.press(summary, f"wz:{version}:ch")
            params = await ann.press(change, f"wz:{version}:st:params")
            assert "Бесплатно в этом варианте" in params.content
            version = (await ann.draft() or (None, 0))[1]
            picker = await ann.press(params, f"wz:{version}:pp:0")
            labels = ann.labels(picker)
            assert any("480p" in label and "бесплатно" in label for label in labels), labels
            assert any("720p" in label and "9,36" in label for label in labels), labels
            params = await ann.press(picker, f"wz:{version}:pv:0:1")
            assert "Бесплатно только в варианте «" in params.content
            assert "9,36" in params.content

            summary = await _to_summary(ann)
            assert "Бесплатно только в варианте «" in summary.content
            assert "9,36" in summary.content
            data = summary.callback_data()
            assert not any(":ok:f:" in d for d in data), data
            assert any(d.endswith(f":ok:p:{PAID_720P}") for d in data), data

            # A forged free confirm at 720p gives nothing away: the summary comes back with the price.
            version = (await ann.draft() or (None, 0))[1]
            ann.forget_taps()
            again = await ann.press(summary, f"wz:{version}:ok:f:0", force=True)
            assert await ann.jobs() == []
            assert "9,36" in again.content

            # Paid from the balance at its price.
            await ann.credit(1000)
            ann.forget_taps()
            summary = await ann.press(again, f"wz:{version}:sm", force=True)
            await ann.confirm(summary)
            job = await ann.wait_job("delivered")
            assert (job.free, job.quote_kopecks) == (False, PAID_720P)
            account = await ann.account()
            assert (account.balance, account.held) == (1000 - PAID_720P, 0)
