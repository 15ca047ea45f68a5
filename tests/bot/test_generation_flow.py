"""End to end through the real app, the fake Telegram and the fake Kie: from /start to a result."""

from __future__ import annotations

import pytest
import trio

from kiebot.store import free_tier
from kiebot.testing.harness import open_world

USER = 5_100_001


@pytest.mark.slow
async def test_new_user_gets_a_free_picture_and_the_free_counter_goes_down(database_url: str, bot_user) -> None:
    with trio.fail_after(60):
        async with open_world(database_url) as world:
            ann = bot_user(world, USER)
            menu = await ann.start()
            assert any("добро пожаловать" in t for t in ann.texts())
            free = await ann.press(menu, "🎁")
            assert "Осталось сегодня: 5 из 5" in free.content
            card = await ann.press(free, "Z-Image")
            assert "бесплатно" in card.content.lower()
            params = await ann.press(card, "▶️")
            assert "Формат кадра" in params.content
            picker = await ann.press(params, "Формат кадра")
            params = await ann.press(picker, "16:9")
            assert "16:9" in params.content
            ask = await ann.press(params, "Далее")
            assert "Опишите" in ask.content
            summary = await ann.say("a red fox in the snow")
            assert summary is not None
            assert "Проверьте заказ" in summary.content
            assert "Бесплатно" in summary.content
            versions: list[tuple[str, list[str]]] = []  # the summary message's contents and buttons, in order
            async with trio.open_nursery() as watch:
                changes = world.tg.subscribe()

                async def record() -> None:
                    async for change in changes:
                        message = change.get("message") or {}
                        if change.get("type") == "message_edited" and message.get("message_id") == summary.message_id:
                            buttons = [b.get("callback_data", "") for row in message.get("buttons") or [] for b in row]
                            versions.append((message.get("content", ""), buttons))

                watch.start_soon(record)
                progress = await ann.press(summary, "бесплатно")
                assert progress.message_id == summary.message_id  # the summary became the progress message
                photo = await ann.wait_for(predicate=lambda m: m.kind == "photo", after=progress.message_id)
                assert "🔁" in " ".join(ann.labels(photo))
                await ann.wait_for(contains="готово", after=progress.message_id - 1)
                watch.cancel_scope.cancel()
            stages = [next(i for i, (text, _) in enumerate(versions) if marker in text) for marker in ("В очереди", "Генерирую", "Отправляю", "готово")]
            assert stages == sorted(stages), versions
            queued_buttons = versions[stages[0]][1]
            assert any(d.startswith("jcancel:") for d in queued_buttons)  # ✖ Cancel while queued...
            assert not any(d.startswith("jcancel:") for _, buttons in versions[stages[1]:] for d in buttons)  # ...only
            assert "обычно ~30\u00a0с" in versions[stages[1]][0]  # the typical time of this kind
            async with world.app.db.connection() as conn:
                status = await free_tier.free_status(conn, USER, world.app.bot.now(), free_tier.FreeLimits(5, 2))
            assert status.left_today == 4


@pytest.mark.slow
async def test_dry_run_walks_the_whole_flow_without_kie_or_money(database_url: str, bot_user) -> None:
    with trio.fail_after(60):
        async with open_world(database_url, env={"DRY_RUN": "1"}) as world:
            ann = await bot_user.ready(world, USER)
            summary = await ann.walk("google/imagen4-ultra", prompt="a quiet harbour")
            await ann.confirm(summary)
            job = await ann.wait_job("delivered")
            assert job.dry_run
            assert job.quote_kopecks == 936
            result = await ann.wait_for(contains="Пробный режим")
            assert "9,36" in result.content
            assert "🔁 Ещё раз" in ann.labels(result)
            account = await ann.account()
            assert (account.balance, account.held) == (0, 0)
            assert world.kie.create_count == 0
