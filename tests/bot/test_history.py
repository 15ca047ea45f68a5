"""📜 History (/history): the last 20 generations with state, model, price and date; a job's card;
the result sent again by its Telegram file_id; and the buttons under a result (🔁 Again,
✏️ New description, ⚙️ Parameters)."""

from __future__ import annotations

import trio

from kiebot.store import jobs as jobs_store
from kiebot.store.jobs import Job
from kiebot.testing.harness import World
from kiebot.testing.telegram.server import SimMessage

ZIMAGE = "z-image"
ULTRA = "google/imagen4-ultra"


async def _run(shared_world, scenario) -> None:
    with trio.fail_after(60):
        await shared_world.run(scenario)


async def _free_picture(ann, prompt: str = "a red fox in the snow") -> tuple[Job, SimMessage]:
    """A delivered z-image job with the 16:9 aspect; returns the job and the result photo."""
    params = await ann.press(await ann.open_model(ZIMAGE), "▶️")
    params = await ann.press(await ann.press(params, "Формат кадра"), "16:9")
    await ann.press(params, "Далее")
    progress = await ann.confirm(ann._expect(await ann.say(prompt)))
    photo = await ann.wait_for(predicate=lambda m: m.kind == "photo", after=progress.message_id)
    return await ann.wait_job("delivered"), photo


async def test_history_lists_generations_and_sends_a_result_again_by_file_id(shared_world, bot_user) -> None:
    async def scenario(world: World) -> None:
        ann = bot_user(world, 9_000_001)
        await ann.start()
        await ann.credit(3000)
        free_job, _ = await _free_picture(ann)
        world.kie.script(ULTRA, outcome="fail", message="upstream error")
        await ann.confirm(await ann.walk(ULTRA))
        failed = await ann.wait_job("failed")

        listing = ann._expect(await ann.say("/history"))
        lines = listing.content.splitlines()
        assert "показано: 2" in lines[0]
        assert lines[1].startswith("1. ❌ Imagen 4 Ultra")
        assert "9,36\u00a0₽ — вернули" in lines[1]
        assert lines[2].startswith("2. ✅ Z-Image")
        assert lines[2].endswith("бесплатно")
        assert f"hj:{failed.id}" in listing.callback_data()

        card = await ann.press(listing, f"hj:{free_job.id}")
        assert "Статус: готово" in card.content
        assert "Формат кадра: 16:9" in card.content
        assert "a red fox in the snow" in card.content
        assert "(время по Москве)" in card.content
        stored = free_job.result["telegram"][0]["file_id"] if free_job.result else ""
        assert stored
        sends_before = len(world.tg.calls("sendPhoto"))
        again = await ann.press(card, "Получить ещё раз")
        assert again.kind == "photo"
        resent = world.tg.calls("sendPhoto")[sends_before:]
        assert [call.params.get("photo") for call in resent] == [stored]
        assert not resent[0].files  # by file_id: nothing uploaded again
        assert "🔁 Ещё раз" in ann.labels(again)

        failed_card = await ann.press(ann._expect(await ann.say("/history")), f"hj:{failed.id}")
        # Kie's words are the admin's; the user reads the reason in their language.
        assert "upstream error" not in failed_card.content
        assert "Причина: сбой на стороне модели" in failed_card.content
        assert "Получить ещё раз" not in " ".join(ann.labels(failed_card))
        repeat = await ann.press(failed_card, "Повторить")
        assert "Проверьте заказ" in repeat.content

    await _run(shared_world, scenario)


async def test_history_shows_the_last_twenty_on_two_pages(shared_world, bot_user) -> None:
    async def scenario(world: World) -> None:
        ann = bot_user(world, 9_000_002)
        empty = await ann.press(await ann.start(), "hist:0")
        assert "Генераций пока нет" in empty.content
        # 23 earlier jobs, cancelled in the transaction that created them (no worker ever sees them).
        async with world.app.db.transaction() as conn:
            for n in range(23):
                created = await jobs_store.create_job(
                    conn, user_id=ann.user_id, chat_id=ann.user_id, model_id=ZIMAGE, kind="text_to_image",
                    params={"prompt": f"#{n}", "lang": "ru"}, quote_kopecks=0, idempotency_key=f"hist-{ann.user_id}-{n}",
                    timeout_s=600, dry_run=True,
                )
                await jobs_store.transition(conn, created.job.id, "cancelled")
        first = ann._expect(await ann.say("/history"))
        assert "показано: 20" in first.content
        assert first.content.count("\n") == 10  # the title and ten rows
        assert first.content.splitlines()[1].startswith("1. ✖ Z-Image")
        second = await ann.press(first, "▶️")
        assert second.content.splitlines()[1].startswith("11. ")
        assert "▶️" not in ann.labels(second)
        assert "◀️" in ann.labels(second)

    await _run(shared_world, scenario)


async def test_again_new_prompt_and_parameters_reuse_the_earlier_choices(shared_world, bot_user) -> None:
    async def scenario(world: World) -> None:
        ann = bot_user(world, 9_000_003)
        await ann.start()
        first, photo = await _free_picture(ann, "a red fox in the snow")

        again = await ann.press(photo, "Ещё раз")
        assert "Проверьте заказ" in again.content
        assert "a red fox in the snow" in again.content
        assert "Формат кадра: 16:9" in again.content
        ann.forget_taps()
        new_prompt = await ann.press(photo, "Новое описание")
        assert "Опишите" in new_prompt.content
        summary = ann._expect(await ann.say("a blue whale"))
        assert "a blue whale" in summary.content
        assert "Формат кадра: 16:9" in summary.content
        await ann.confirm(summary)
        second = await ann.wait_job("delivered")
        assert second.id != first.id
        assert second.params["params"] == {"aspect_ratio": "16:9"}
        assert second.params["prompt"] == "a blue whale"

        ann.forget_taps()
        params = await ann.press(photo, "Параметры")
        assert "Настройте параметры" in params.content
        assert "16:9" in params.content
        summary = await ann.press(params, "Далее")  # everything else is still there
        assert "Проверьте заказ" in summary.content
        assert "a red fox in the snow" in summary.content

    await _run(shared_world, scenario)
