"""The panel's screens show the right figures and do what they say, end to end (real app, real
PostgreSQL, fake Telegram): the dashboard, search and the job card, models (switch, breaker,
free tier), pending manual top-ups opened with the payments screen's Approve, the audit log.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime
from typing import Any

import pytest
import trio

from kiebot.i18n import t
from kiebot.store import admin, breakers, kv, money, payments, users
from kiebot.testing.harness import ADMIN_ID, World
from kiebot.testing.media import png

Driver = Any  # tests/admin/conftest.py's Driver (conftest modules are not importable)
WorldFactory = Callable[..., AbstractAsyncContextManager[World]]
DriverFactory = Callable[..., AbstractAsyncContextManager[Driver]]  # conftest.py's admin_driver
JobMaker = Callable[..., Awaitable[int]]

ANN = 5_000_001
BOB = 5_000_002

pytestmark = pytest.mark.slow


def plain(text: str) -> str:
    return text.replace("\u00a0", " ")


async def admin_home(d: Driver) -> int:
    d.tg.add_user(ADMIN_ID, "Boss", username="boss")
    shown = await d.send(ADMIN_ID, "/admin")
    return int(d.screen(ADMIN_ID, shown).message_id)


async def test_dashboard_figures(
    admin_world: WorldFactory, driver_for: Callable[[World], Driver], make_finished_job: JobMaker
) -> None:
    with trio.fail_after(60):
        async with admin_world() as world:
            d = driver_for(world)
            for user_id, name in ((ANN, "Ann"), (BOB, "Bob")):
                await d.start(user_id, name)
            async with world.app.db.connection() as conn:
                await money.credit(conn, ANN, 100_000, kind="welcome", key="seed")
                await payments.record_stars_payment(
                    conn, user_id=ANN, charge_id="c1", payload="p", stars=250, kopecks=25_000
                )
                await make_finished_job(conn, ANN, key="d1", outcome="delivered")
                await make_finished_job(conn, ANN, key="d2", outcome="delivered")
                await make_finished_job(conn, ANN, key="d3", outcome="delivered")
                await make_finished_job(conn, ANN, key="f1", outcome="failed")
                await make_finished_job(conn, BOB, key="free1", outcome="delivered", free=True)
                await money.hold(conn, ANN, 3_300, ref="in-flight")
                await kv.put(conn, "kie_credits", {"credits": 12345.0})
                await users.set_blocked(conn, BOB, True)
            home = await admin_home(d)
            text = plain(d.tg.message(ADMIN_ID, home).content)
            assert (
                "Пользователи: 3 · новых сегодня: 3 · активных за 24 ч: 3 · заблокировали бота: 1 · забанено: 0"
                in text
            )
            assert "Генерации сегодня: 5 — ✅ 4 · ❌ 1 · ⌛ 0 · ✖ 0 · ⏳ в работе: 0 (бесплатных: 1)" in text
            assert "Успешность сегодня: 80%" in text
            assert "Картинка из текста ~1 с" in text  # median delivery time by kind (7 days)
            assert "Выручка сегодня: 250 ₽ (250 ⭐, 1 платёж, 0 возвратов; переводом 0 ₽)" in text
            assert "Зарезервировано под генерации: 33 ₽" in text
            assert "Кредиты Kie: 12 345" in text
            assert "Курс: 78,0000 ₽/$ на — (из настроек)"  # the decimal comma in text
            assert "Очередь: 0 (в очереди: 0 · передаётся в Kie: 0 · генерируется: 0 · готово, отправляется: 0)" in text
            assert "Ведущий экземпляр: test-1, работает 0:0" in text
            assert "Заявки на пополнение (0)" in str(d.tg.message(ADMIN_ID, home).buttons)

            # Refresh shows new facts; a non-admin's /admin is an unknown command.
            async with world.app.db.connection() as conn:
                await payments.create_request(conn, ANN, 50_000, None)
            await d.tap(ADMIN_ID, home, "adm")
            assert "Заявки на пополнение (1)" in str(d.tg.message(ADMIN_ID, home).buttons)
            unknown = await d.send(ANN, "/admin")
            assert unknown.texts == [t("ru", "common.unknown_command")]


async def test_search_and_job_card(admin_driver: DriverFactory, make_finished_job: JobMaker) -> None:
    with trio.fail_after(60):
        async with admin_driver() as d:
            world = d.world
            await d.start(ANN, "Ann", username="ann_k")
            async with world.app.db.connection() as conn:
                await money.credit(conn, ANN, 10_000, kind="welcome", key="seed")
                failed = await make_finished_job(conn, ANN, key="f1", outcome="failed")
                delivered = await make_finished_job(conn, ANN, key="d1", outcome="delivered")
            home = await admin_home(d)

            async def search(query: str) -> str:
                await d.tap(ADMIN_ID, home, "adm.s")
                return plain(d.screen(ADMIN_ID, await d.send(ADMIN_ID, query)).content)

            card = await search(f"#{failed}")
            assert f"Генерация #{failed}</b> — ❌ ошибка" in d.tg.last_bot_message(ADMIN_ID).source
            assert "Imagen 4" in card or "imagen4-fast" in card
            # the parameters and states as a reader sees them, not as the wire names them
            assert "Формат кадра: 16:9 горизонтальное" in card
            assert "aspect_ratio" not in card
            assert "Описание: a red fox" in card
            assert "Цена 15 ₽ (4 кредита Kie), платно" in card
            assert "Ошибка: provider_failed — NSFW <b>filter</b>" in card  # the provider's text, escaped
            assert "в очереди — created" in card
            assert "ошибка — provider_failed" in card
            assert "Запрос: u-f1" in card

            card = await search("u-d1")  # a request id
            assert f"Генерация #{delivered}" in card
            for state in ("в очереди", "передаётся в Kie", "генерируется", "готово, отправляется", "доставлено"):
                assert f" {state}" in card
            assert "Задача Kie: task-d1" in card
            assert await search("task-d1") == card  # a Kie task id
            assert await search(f"j{delivered}") == card

            for query in ("@ann_k", "ANN_K", str(ANN)):
                found = await search(query)
                assert "Ann" in found
                assert f"({ANN})" in found or str(ANN) in found
                assert "Баланс: 85 ₽ · в резерве: 0 ₽" in found  # 100 ₽ less the delivered job's 15 ₽
                assert "−15 ₽ резерв на генерацию" in found
                assert " 15 ₽ оплата генерации" in found

            # A bare number that is both a user id and a job id: both are offered.
            async with world.app.db.connection() as conn:
                await users.touch_user(conn, delivered, first_name="Numbered")
            await d.tap(ADMIN_ID, home, "adm.s")
            both = d.screen(ADMIN_ID, await d.send(ADMIN_ID, str(delivered)))
            assert f"adm.u:{delivered}" in both.callback_data()
            assert f"adm.j:{delivered}" in both.callback_data()

            # Nothing found keeps the prompt: the next message is searched too.
            await d.tap(ADMIN_ID, home, "adm.s")
            nothing = await d.send(ADMIN_ID, "no-such-thing")
            assert "Ничего не нашлось" in nothing.texts[0]
            again = await d.send(ADMIN_ID, "@ann_k")
            assert "Ann" in again.texts[-1]


async def test_models_switch_breaker_and_free_tier(admin_driver: DriverFactory) -> None:
    with trio.fail_after(60):
        async with admin_driver() as d:
            world = d.world
            bot = world.app.bot
            model = bot.free_tier[0]
            code = bot.codes.code(model)
            home = await admin_home(d)
            await d.tap(ADMIN_ID, home, "adm.m:0")
            await d.tap(ADMIN_ID, home, f"adm.mo:{code}:0")
            assert "Статус: ✅ доступна" in d.tg.message(ADMIN_ID, home).content
            assert "Входит в бесплатные" in d.tg.message(ADMIN_ID, home).content

            off = await d.tap(ADMIN_ID, home, f"adm.me:{code}:0:0")
            assert off.texts[-1].startswith(t("ru", "admin.models.disabled_now"))
            assert await bot.availability.status(model) == "disabled"  # at once, no cache delay
            assert f"adm.me:{code}:1:0" in d.tg.message(ADMIN_ID, home).callback_data()
            await d.tap(ADMIN_ID, home, f"adm.me:{code}:1:0")
            assert await bot.availability.status(model) == "available"
            async with world.app.db.connection() as conn:
                audit = await admin.recent_admin_actions(conn, 5, target=f"model:{model}")
                overrides = await admin.model_overrides(conn)
            assert [e.action for e in audit] == ["model_enable", "model_disable"]
            assert overrides[model].enabled is True  # persisted

            async with world.app.db.connection() as conn:
                for _ in range(5):
                    await breakers.record_failure(conn, model, datetime.now(UTC), open_for_s=3600)
            bot.availability.invalidate()
            assert await bot.availability.status(model) == "paused"
            await d.tap(ADMIN_ID, home, "adm.brk")
            listing = d.tg.message(ADMIN_ID, home)
            assert "5 ошибок" in listing.content
            resume = next(x for x in listing.callback_data() if x.startswith("adm.mr:"))
            resumed = await d.tap(ADMIN_ID, home, resume)
            assert resumed.texts[-1].startswith(t("ru", "admin.models.resumed"))
            assert "Сейчас всё работает" in resumed.texts[-1]
            assert await bot.availability.status(model) == "available"
            async with world.app.db.connection() as conn:
                audit = await admin.recent_admin_actions(conn, 1, target=f"model:{model}")
            assert audit[0].action == "breaker_reset"

            free = await d.tap(ADMIN_ID, home, "adm.free")
            text = free.texts[-1]
            assert "5 в день и 2 в час" in text
            for model_id in bot.free_tier:
                assert model_id in text
            assert len(bot.free_tier) == 5


async def test_pending_topups_open_with_approve_and_the_audit_log_shows_it(
    admin_driver: DriverFactory
) -> None:
    with trio.fail_after(60):
        async with admin_driver() as d:
            world = d.world
            await d.start(ANN, "Ann")
            photo, _ = await d.send_photo(ANN, png(4, 4))
            async with world.app.db.connection() as conn:
                request = await payments.create_request(
                    conn, ANN, 50_000, f"photo:{photo['photo'][-1]['file_id']}"
                )
            home = await admin_home(d)
            listing = await d.tap(ADMIN_ID, home, "adm.t")
            assert f"#{request.id} · Ann" in plain(listing.texts[-1])
            assert "500 ₽" in plain(listing.texts[-1])

            opened = await d.tap(ADMIN_ID, home, f"mtv:{request.id}")
            receipt = opened.screens[-1]
            assert receipt.method == "sendPhoto"  # the receipt itself, re-sent by file_id
            copy = d.last(ADMIN_ID)
            assert f"mtok:{request.id}" in copy.callback_data()
            assert f"mtno:{request.id}" in copy.callback_data()
            await d.tap(ADMIN_ID, copy.message_id, f"mtok:{request.id}")
            async with world.app.db.connection() as conn:
                account = await money.get_account(conn, ANN)
            assert account.balance == 50_000

            after = await d.tap(ADMIN_ID, home, "adm.t")
            assert "Все заявки разобраны" in after.texts[-1]

            # The audit log: the payments screen's decision, and the panel's own actions.
            async with world.app.db.connection() as conn:
                await admin.set_user_banned(conn, ADMIN_ID, ANN, True, reason="test")
            log = await d.tap(ADMIN_ID, home, "adm.a:0")
            text = log.texts[-1]
            assert "пополнение одобрено" in text
            assert "бан" in text
            assert f"user:{ANN}" in text
            assert text.index("бан") < text.index("пополнение одобрено")  # newest first
