"""The leader's daily catalogue sync in a whole world (fake Telegram, fake Kie, the app): a model
gone from Kie's catalogue is paused and the admins are told; a changed price text reaches them
with the text before and after; the admin sees the last report (with Seedance's pricingDesc) in
🎨 Models → 🔄 Kie catalogue, and "Enable" resumes the paused model for good."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from types import SimpleNamespace
from typing import Any, cast

import httpx
import trio

from kiebot.generation.notify import Notifier
from kiebot.i18n import t
from kiebot.kie.catalogue import CatalogueClient
from kiebot.kie.pacing import Pacer
from kiebot.limits import DEFAULT_LIMITS
from kiebot.runtime.catalog_duties import CatalogWatch, catalog_jobs
from kiebot.store import admin, catalog_sync
from kiebot.testing.harness import ADMIN_ID, KIE_KEY, World, eventually

Driver = Any
DriverFactory = Callable[..., AbstractAsyncContextManager[Driver]]  # conftest.py's admin_driver
GONE = "kling-2.6/text-to-video"
REPRICED = "wan/2-6-text-to-video"
NEW_TEXT = "A 5-second 720p video now costs 80 credits (0.40 USD)."


async def fast_watch(world: World, http: httpx.AsyncClient) -> CatalogWatch:
    """A watch like the leader's, reading the fake at test speed (the fake's budget narrowed to
    match), independent of the leader's own (whose first run comes later)."""
    world.kie.catalogue.budget_interval_s = 0.005
    app = world.app
    return CatalogWatch(
        app.db,
        app.bot.registry,
        CatalogueClient(http, api_key=KIE_KEY, api_url=world.kie.base_url, pacer=Pacer(0.01)),
        Notifier(app.settings, app.db, app.bot.tg, app.bot.registry),
        app.bot.availability,
    )


def admin_texts(world: World, since: int) -> list[str]:
    return [
        str(r.params.get("text"))
        for r in world.tg.requests[since:]
        if r.method.lower() == "sendmessage" and str(r.params.get("chat_id")) == str(ADMIN_ID)
    ]


async def test_daily_sync_pauses_the_missing_tells_admins_and_shows_the_report(
    admin_driver: DriverFactory
) -> None:
    with trio.fail_after(90):
        async with admin_driver() as d, httpx.AsyncClient() as http:
            world = d.world
            bot = world.app.bot
            d.tg.add_user(ADMIN_ID, "Boss", username="boss")
            home = int(d.screen(ADMIN_ID, await d.send(ADMIN_ID, "/admin")).message_id)
            watch = await fast_watch(world, http)

            # Day 1: a model vanished; the price texts are remembered.
            world.kie.catalogue.missing.add(GONE)
            mark = len(world.tg.requests)
            report = await watch.sync()
            assert report.missing() == (GONE,)
            assert await bot.availability.status(GONE) == "disabled"
            alerts = admin_texts(world, mark)
            assert any(GONE in text and "больше нет в каталоге Kie" in text and "приостановлена" in text for text in alerts), alerts
            async with world.app.db.connection() as conn:
                audit = await admin.recent_admin_actions(conn, 5, target=f"model:{GONE}")
                texts = await catalog_sync.price_texts(conn)
            assert [(a.action, a.admin_id) for a in audit] == [("catalog_missing_pause", catalog_sync.SYSTEM_ACTOR)]
            assert "bytedance/seedance-1.5-pro" in texts

            # The admin sees the report and resumes the model from its card.
            await d.tap(ADMIN_ID, home, "adm.m:0")
            assert "adm.ks" in d.tg.message(ADMIN_ID, home).callback_data()
            await d.tap(ADMIN_ID, home, "adm.ks")
            screen = d.tg.message(ADMIN_ID, home)
            assert GONE in screen.content
            assert t("ru", "catalog_sync.kind.missing") in screen.content
            assert "bytedance/seedance-1.5-pro" in screen.content  # its pricingDesc, from Kie
            assert "kling-2.6/motion-control" in screen.content  # new at Kie
            code = bot.codes.code(GONE)
            assert f"adm.mo:{code}:0" in screen.callback_data()
            await d.tap(ADMIN_ID, home, f"adm.me:{code}:1:0")
            assert await bot.availability.status(GONE) == "available"

            # Day 2: still missing (known: not paused again), and a price text changed.
            world.kie.catalogue.price_texts[REPRICED] = NEW_TEXT
            mark = len(world.tg.requests)
            report = await watch.sync()
            assert {(x.model, x.kind) for x in report.drift} == {(GONE, "missing"), (REPRICED, "price")}
            assert await bot.availability.status(GONE) == "available"
            alerts = admin_texts(world, mark)
            changed = [text for text in alerts if REPRICED in text and "изменил описание цены" in text]
            assert len(changed) == 1, alerts
            assert NEW_TEXT in changed[0]
            assert "credits" in changed[0].split("Стало:")[0]  # the text before is there too
            assert not any("больше нет в каталоге Kie" in text for text in alerts)  # told once
            assert any(REPRICED in text and "расходится" in text for text in alerts)


def test_the_leader_schedules_sync_daily_and_health_every_15_minutes() -> None:
    async def nothing() -> None:
        return None

    watch = cast(CatalogWatch, SimpleNamespace(sync=nothing, health=nothing))
    jobs = {job.name: job for job in catalog_jobs(watch, DEFAULT_LIMITS)}
    assert jobs["catalog-sync"].every_s == 24 * 3600
    assert jobs["model-health"].every_s == 15 * 60
    assert DEFAULT_LIMITS.kie_catalogue_interval_s >= 1.1  # inside Kie's shared 1 request/s


async def test_the_leaders_own_jobs_run_and_store(admin_world: Callable[..., Any]) -> None:
    """The production wiring: the leader's scheduler runs the health read and the sync by itself."""
    limits = '{"model_health_first_after_s": 0.1, "catalog_sync_first_after_s": 0.1, "kie_catalogue_interval_s": 0.02}'
    with trio.fail_after(90):
        async with admin_world(env={"KIEBOT_LIMITS": limits}) as world:
            world.kie.catalogue.budget_interval_s = 0.005
            assert world.app.catalog_watch is not None

            async def stored() -> bool:
                async with world.app.db.connection() as conn:
                    health = await catalog_sync.all_health(conn)
                    report = await catalog_sync.last_report(conn)
                return len(health) == len(world.app.bot.registry.enabled) and report is not None

            await eventually(stored, interval=0.2)
            async with world.app.db.connection() as conn:
                report = await catalog_sync.last_report(conn)
            assert report is not None
            assert report.drift_count == 0


async def test_health_screen_lists_every_rate(admin_world: Callable[..., Any], driver_for: Callable[[World], Driver]) -> None:
    with trio.fail_after(90):
        async with admin_world() as world, httpx.AsyncClient() as http:
            d = driver_for(world)
            d.tg.add_user(ADMIN_ID, "Boss", username="boss")
            home = int(d.screen(ADMIN_ID, await d.send(ADMIN_ID, "/admin")).message_id)
            watch = await fast_watch(world, http)
            world.kie.catalogue.success_rates[GONE] = 0.3
            health = await watch.health()
            assert health[GONE].troubled
            assert not health["z-image"].troubled
            await d.tap(ADMIN_ID, home, "adm.kh")
            content = d.tg.message(ADMIN_ID, home).content
            assert "30\u00a0%" in content
            assert "97\u00a0%" in content
            first = content.split("\n")[1]
            assert first.startswith("⚠️")  # troubled models first
            await d.tap(ADMIN_ID, home, f"adm.mo:{world.app.bot.codes.code(GONE)}:0")
            card = d.tg.message(ADMIN_ID, home).content
            assert "30\u00a0% успешных" in card
            assert "Kie сообщает о проблемах" in card
            await d.tap(ADMIN_ID, home, "adm.m:0")
            assert {"adm.ks", "adm.kh"} <= set(d.tg.message(ADMIN_ID, home).callback_data())


async def test_a_catalogue_missing_most_models_pauses_nothing(admin_world: Callable[..., Any]) -> None:
    with trio.fail_after(90):
        async with admin_world() as world, httpx.AsyncClient() as http:
            world.tg.add_user(ADMIN_ID, "Boss", username="boss")
            watch = await fast_watch(world, http)
            sold = [m.id for m in world.app.bot.registry.enabled]
            gone = [m.id for m in world.app.bot.registry.enabled if m.family == "market"][3:]
            world.kie.catalogue.missing.update(gone)
            mark = len(world.tg.requests)
            report = await watch.sync()
            assert set(report.missing()) == set(gone)
            statuses = await world.app.bot.availability.listed()
            assert all(statuses[m] == "available" for m in sold)
            alerts = admin_texts(world, mark)
            assert any("похоже на сбой Kie" in text for text in alerts), alerts
            assert not any("Продажа приостановлена" in text for text in alerts)
