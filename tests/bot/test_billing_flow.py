"""Billed credits end to end (issue 15 items 1–3), with the real app against the fake Kie.

* A task billed far above its quote reaches every admin's chat with the billed figure, and stops
  further sales of that variant at once: the summary says "temporarily unavailable", a forced
  Confirm holds nothing, other variants of the model stay on sale; the job confirmed before keeps
  its price; the admin sees quoted and billed credits on the job card and the margin on the
  dashboard, and resumes the variant in Models (audited).
* A small drift alarms once per variant per day and pauses nothing.
* Through polling (no callback), ``creditsConsumed`` of recordInfo does the same for a free
  variant, where any billed cost above the quote pauses it.
"""

from __future__ import annotations

import pytest
import trio

from kiebot.store import admin as admin_store
from kiebot.store import variant_pauses
from kiebot.testing.harness import ADMIN_ID, open_world
from tests.support.books import assert_books_balance

USER = 5_300_001
PRO = "nano-banana-pro"  # 18 credits at 1K/2K, 24 at 4K: 18 × 0.005 × 78 × 2 = 14.04 ₽
PRO_KOPECKS = 1404
ULTRA = "google/imagen4-ultra"  # 12 credits: 9.36 ₽
ZIMAGE = "z-image"  # 0.8 credits, in the free tier


async def _boss_and_ann(world, bot_user, *, credit: int = 0):
    """Max, the admin who gets the drift alarms, and Ann, who buys (``credit`` kopecks topped up)."""
    boss = bot_user(world, ADMIN_ID, "Max")
    await boss.start()
    return boss, await bot_user.ready(world, USER, credit=credit)


async def _pauses(world) -> list[tuple[str, str]]:
    async with world.app.db.connection() as conn:
        return [(p.model_id, p.sku_key) for p in await variant_pauses.paused_variants(conn)]


def _drift_messages(world) -> list[str]:
    return [m.content for m in world.tg.bot_messages(ADMIN_ID) if "Kie списал больше цены" in m.content]


@pytest.mark.slow
async def test_a_task_billed_far_above_its_quote_alarms_admins_and_pauses_the_variant(database_url: str, bot_user) -> None:
    with trio.fail_after(90):
        async with open_world(database_url) as world:
            boss, ann = await _boss_and_ann(world, bot_user, credit=10_000)

            world.kie.bill_next(PRO, credits=200)
            summary = await ann.walk(PRO)
            assert "14,04" in summary.content
            await ann.confirm(summary)
            job = await ann.wait_job("delivered")
            assert (job.quote_kopecks, job.sku_key) == (PRO_KOPECKS, "resolution=1K")

            alarm = await boss.wait_for(contains="Kie списал больше цены")
            assert "nano-banana-pro" in alarm.content
            assert "resolution=1K" in alarm.content
            assert "По прайсу: 18 кредитов ≈ 7,02\u00a0₽" in alarm.content  # 18 × 0.005 × 78
            assert "200 кредитов ≈ 78\u00a0₽" in alarm.content  # 200 × 0.005 × 78
            assert "снят с продажи" in alarm.content
            assert await _pauses(world) == [(PRO, "resolution=1K")]
            job = await ann.wait_job("delivered")
            assert job.billed_credits == 200
            account = await ann.account()
            assert account.balance == 10_000 - PRO_KOPECKS  # the confirmed job kept its price

            # Sales of that variant stop: the card says so, the summary has no Confirm.
            card = await ann.open_model(PRO)
            assert "Временно недоступно" in card.content
            assert "1K" in card.content
            summary = await ann.walk(PRO)
            assert "временно недоступен" in summary.content
            assert not [d for d in summary.callback_data() if ":ok:" in d]
            # A Confirm forced anyway (a button from before the pause) holds nothing.
            loaded = await ann.draft()
            assert loaded is not None
            ann.forget_taps()
            await ann.press(summary, f"wz:{loaded[1]}:ok:p:{PRO_KOPECKS}", force=True)
            assert any(a.text and "временно недоступен" in a.text for a in world.tg.callback_answers)
            assert len(await ann.jobs()) == 1
            assert (await ann.account()).held == 0

            # Other variants (2K, 4K) of the same model are still sold: the card keeps its Start,
            # and the resolution picker marks only 1K as paused.
            assert "go:" in " ".join(card.callback_data())
            ann.forget_taps()
            picker = await ann.press(summary, f"wz:{loaded[1]}:pp:1", force=True)
            labels = bot_user.labels(picker)
            assert "✅ ⏸ 1K" in labels
            assert {"2K", "4K"} <= {label.split(" · ")[0] for label in labels}

            # The admin: quoted and billed credits on the job card, margin on the dashboard.
            dashboard = await boss.say("/admin")
            assert dashboard is not None
            assert "Маржа за 7 дн." in dashboard.content
            assert "14,04" in dashboard.content
            assert "78\u00a0₽" in dashboard.content
            boss.forget_taps()
            job_card = await boss.press(dashboard, f"adm.j:{job.id}", force=True)
            assert "по прайсу 18, списано 200" in job_card.content
            assert "+1011%" in job_card.content

            # Resumed in Models (audited): the variant is on sale again.
            code = world.app.bot.codes.code(PRO)
            boss.forget_taps()
            model_card = await boss.press(job_card, f"adm.mo:{code}:0", force=True)
            assert "На паузе варианты" in model_card.content
            resume = next(d for d in model_card.callback_data() if d.startswith("adm.vr:"))
            boss.forget_taps()
            resumed = await boss.press(model_card, resume)
            assert "снова в продаже" in resumed.content
            assert await _pauses(world) == []
            async with world.app.db.connection() as conn:
                audit = await admin_store.recent_admin_actions(conn, admin_id=ADMIN_ID)
            assert [a.action for a in audit] == ["variant_resume"]
            assert audit[0].target == f"model:{PRO}:resolution=1K"
            summary = await ann.walk(PRO)
            assert [d for d in summary.callback_data() if ":ok:" in d]
            await assert_books_balance(world.app.db)


@pytest.mark.slow
async def test_a_small_drift_alarms_once_a_day_and_pauses_nothing(database_url: str, bot_user) -> None:
    with trio.fail_after(90):
        async with open_world(database_url) as world:
            boss, ann = await _boss_and_ann(world, bot_user, credit=10_000)
            # 13 credits for a 12-credit quote: +8 %, still far below the price (×2 markup).
            world.kie.bill_next(ULTRA, credits=13, times=3)
            # The first alarm reaches nobody (Telegram fails it): the day's claim is given back.
            world.app.bot.tg.max_retries = 0
            world.tg.inject("sendMessage", status=500, times=1, chat_id=ADMIN_ID)
            for n in range(3):
                ann.forget_taps()
                await ann.confirm(await ann.walk(ULTRA, prompt=f"tram number {n}"))
                # The alarm is attempted before the job moves on, so by delivery it is over.
                await ann.wait_job("delivered")
                if n == 0:
                    assert _drift_messages(world) == []
            jobs = await ann.jobs()
            assert [j.billed_credits for j in jobs] == [13, 13, 13]
            await boss.wait_for(contains="Kie списал больше цены")
            await trio.sleep(0.3)
            [alarm] = _drift_messages(world)  # the second job's; the third one's day was taken
            assert f"#{jobs[1].id}" in alarm
            assert "+8%" in alarm
            assert "снят с продажи" not in alarm
            assert await _pauses(world) == []
            # Billed exactly as quoted: no alarm at all.
            ann.forget_taps()
            await ann.confirm(await ann.walk(ULTRA, prompt="tram number 3"))
            third = await ann.wait_job("delivered")
            assert third.billed_credits == 12
            assert len(_drift_messages(world)) == 1


@pytest.mark.slow
async def test_credits_consumed_by_polling_pause_a_free_variant(database_url: str, bot_user) -> None:
    with trio.fail_after(90):
        async with open_world(database_url) as world:
            world.app.gen.callback_base_override = None  # no callback URL: recordInfo is the only news
            boss, ann = await _boss_and_ann(world, bot_user)
            assert ZIMAGE in world.app.bot.free_tier
            world.kie.bill_next(ZIMAGE, credits=0.9)  # +12.5 % on a model users get for free
            summary = await ann.walk(ZIMAGE)
            assert ":ok:f:" in " ".join(summary.callback_data())
            await ann.confirm(summary)
            job = await ann.wait_job("delivered")
            task = world.kie.tasks[job.kie_task_id or ""]
            assert task.callback_url is None
            assert job.billed_credits == pytest.approx(0.9)
            alarm = await boss.wait_for(contains="Kie списал больше цены")
            assert "0,9 кредита" in alarm.content
            assert "снят с продажи" in alarm.content
            assert await _pauses(world) == [(ZIMAGE, "default")]
            card = await ann.open_model(ZIMAGE)
            assert "Модель временно недоступна" in card.content
            assert "go:" not in " ".join(card.callback_data())
            # Listed with ⏸ in the catalogue, like a model paused by its breaker.
            menu = await ann.say("/menu")
            assert menu is not None
            ann.forget_taps()
            free_list = await ann.press(menu, "free", force=True)
            z_title = world.app.bot.registry.require(ZIMAGE).title.ru
            [button] = [b for b in bot_user.labels(free_list) if z_title in b]
            assert button.startswith("⏸")
