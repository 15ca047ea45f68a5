"""The free tier and referrals as users see them: "N of M left, next in mm:ss", free models,
limits enforced at Confirm (a paid offer when they run out), a failed free generation gives the
use back, and the referral link with who joined and the bonus earned."""

from __future__ import annotations

import re

import trio

from kiebot.catalog.pricing import quote
from kiebot.generation.request import JobRequest
from kiebot.store import free_tier, jobs
from kiebot.testing.harness import World

ZIMAGE = "z-image"
LIMITS = free_tier.FreeLimits(daily=5, hourly=2)


async def _run(shared_world, scenario) -> None:
    with trio.fail_after(60):
        await shared_world.run(scenario)


async def _status(world: World, user_id: int) -> free_tier.FreeStatus:
    async with world.app.db.connection() as conn:
        return await free_tier.free_status(conn, user_id, world.app.bot.now(), LIMITS)


async def _use_free(ann) -> None:
    await ann.confirm(await ann.walk(ZIMAGE))
    await ann.wait_job("delivered")


async def test_free_screen_counts_down_and_past_the_hourly_limit_offers_to_pay(shared_world, bot_user) -> None:
    async def scenario(world: World) -> None:
        ann = bot_user(world, 9_100_001)
        menu = await ann.start()
        free = await ann.press(menu, "free")
        assert "Осталось сегодня: 5 из 5" in free.content
        labels = ann.labels(free)
        assert len([label for label in labels if "бесплатно" in label]) == 5
        assert any(label.startswith("Z-Image") for label in labels)

        await _use_free(ann)
        await _use_free(ann)
        free = await ann.press(ann._expect(await ann.say("/menu")), "free")
        assert "Осталось сегодня: 3 из 5" in free.content
        waiting = re.search(r"через (\d+):(\d\d)", free.content)
        assert waiting is not None, free.content  # the hourly limit (2) is used up: next in mm:ss
        assert 58 <= int(waiting.group(1)) <= 59, free.content

        summary = await ann.walk(ZIMAGE)
        assert "закончились — следующая через" in summary.content
        price = quote(world.app.bot.registry.require(ZIMAGE), {}, fx=78, markup=2).kopecks
        assert any(":ok:p:" in d for d in summary.callback_data())
        await ann.credit(1000)
        summary = await ann.walk(ZIMAGE)
        await ann.confirm(summary)
        paid = await ann.wait_job("delivered")
        assert not paid.free
        assert paid.quote_kopecks == price
        assert (await ann.account()).balance == 1000 - price

    await _run(shared_world, scenario)


async def test_free_uses_running_out_between_summary_and_confirm_turn_into_a_paid_offer(shared_world, bot_user) -> None:
    async def scenario(world: World) -> None:
        ann = bot_user(world, 9_100_002)
        await ann.start()
        await _use_free(ann)
        summary = await ann.walk(ZIMAGE)
        assert "Запустить бесплатно" in " ".join(ann.labels(summary))
        # Meanwhile the last free use of the hour goes to another job (another device, another instance).
        spec = world.app.bot.registry.require(ZIMAGE)
        async with world.app.db.transaction() as conn:
            created = await jobs.create_job(
                conn, user_id=ann.user_id, chat_id=ann.user_id, model_id=ZIMAGE, kind=spec.kind,
                params=JobRequest(prompt="elsewhere").to_json(), quote_kopecks=0, idempotency_key=f"elsewhere-{ann.user_id}",
                timeout_s=600, dry_run=True,
            )
            await free_tier.claim_free_use(conn, ann.user_id, ZIMAGE, created.job.id, world.app.bot.now(), 5, 2)
            await jobs.transition(conn, created.job.id, "cancelled")  # no worker will see it
        offer = await ann.confirm(summary)
        assert "закончились" in offer.content
        assert any(":ok:p:" in d for d in offer.callback_data())
        assert len(await ann.jobs()) == 2  # the delivered one and the one made "elsewhere": none now

    await _run(shared_world, scenario)


async def test_a_failed_free_generation_gives_the_use_back(shared_world, bot_user) -> None:
    async def scenario(world: World) -> None:
        ann = bot_user(world, 9_100_003)
        await ann.start()
        world.kie.script(ZIMAGE, outcome="fail", message="temporary failure")
        progress = await ann.confirm(await ann.walk(ZIMAGE))
        await ann.wait_job("failed")
        told = await ann.wait_for(contains="❌", after=progress.message_id - 1)
        assert "Бесплатная попытка возвращена" in told.content
        status = await _status(world, ann.user_id)
        assert (status.left_today, status.left_this_hour) == (5, 2)

    await _run(shared_world, scenario)


async def test_referral_link_joined_friends_and_bonus_uses(shared_world, bot_user) -> None:
    async def scenario(world: World) -> None:
        ann = bot_user(world, 9_100_004)
        menu = await ann.start()
        screen = await ann.press(menu, "ref")
        link = f"https://t.me/kiebot_test_bot?start=ref_{ann.user_id}"
        assert link in screen.content
        assert "Приглашено: 0" in screen.content
        assert "<b>3 бесплатные генерации</b>" in (screen.source or "")
        share = screen.button("Поделиться")
        assert str(share["url"]).startswith("https://t.me/share/url?url=https%3A%2F%2Ft.me%2Fkiebot_test_bot")

        bob = bot_user(world, 9_100_005, name="Bob")
        await bob.start(f"ref_{ann.user_id}")
        note = await ann.wait_for(contains="пришёл новый пользователь")
        assert "3" in note.content
        again = await bob.start(f"ref_{ann.user_id}")  # a second /start changes nothing
        assert again is not None
        screen = await ann.press(ann._expect(await ann.say("/menu")), "ref")
        assert "Приглашено: 1" in screen.content
        assert "Получено бонусных генераций: 3, из них не использовано: 3" in screen.content
        menu = ann._expect(await ann.say("/menu"))
        # The button says what the number counts: today's five and the three bonus ones.
        assert "🎁 Бесплатно: 8 генераций" in ann.labels(menu)
        free = await ann.press(menu, "free")
        assert "Бонусных за друзей: 3" in free.content
        status = await _status(world, ann.user_id)
        assert status.bonus_left == 3
        # A "left" never exceeds its limit: bonus uses are shown apart (once «осталось 8 из 5»).
        card = await ann.open_model(ZIMAGE)
        assert "сегодня осталось 5 из 5" in card.content
        assert "🎁 Бонусных за друзей: 3" in card.content
        assert "8 из 5" not in card.content
        summary = await ann.walk(ZIMAGE)
        assert "сегодня осталось 5 генераций из 5" in summary.content
        assert "8 генераций из 5" not in summary.content

    await _run(shared_world, scenario)
