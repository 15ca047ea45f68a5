"""Manual top-ups end to end: nothing is credited until an admin decides, the first decision wins,
an approval credits once, the user is told either way, and every admin's copy shows who decided.

Two admins (``ADMIN_IDS``) receive each request; the ledger invariant is checked when each world
closes (see conftest).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

import pytest
import trio

from kiebot.store import admin as store_admin
from kiebot.store import money, payments
from kiebot.testing.harness import ADMIN_ID, World
from kiebot.testing.media import PDF, png
from kiebot.testing.telegram.model.world import SimMessage

USER = 5_300_001
ADMIN_2 = 900_000_002
ADMINS = (ADMIN_ID, ADMIN_2)
ENV = {
    "ADMIN_IDS": f"{ADMIN_ID},{ADMIN_2}",
    "PAYMENT_BANK": "Т-Банк",
    "PAYMENT_CARD": "2200 1234 5678 9012",
    "PAYMENT_CARD_HOLDER": "Иван И.",
    "PAYMENT_PHONE": "+79990000000",
}

pytestmark = pytest.mark.slow

WorldFactory = Callable[..., AbstractAsyncContextManager[World]]


def add_people(world: World) -> None:
    world.tg.add_user(USER, "Ann", username="ann")
    world.tg.add_user(ADMIN_ID, "Alice")
    world.tg.add_user(ADMIN_2, "Boris")


async def request_topup(world: World, *, kopecks: int = 500_00, receipt: str = "photo") -> dict[int, SimMessage]:
    """The user's whole flow up to a pending request; returns each admin's copy."""
    world.tg.send_text(USER, "/balance")
    screen = await world.tg.wait_for_message(USER, contains="💰 Баланс")
    world.tg.tap_button(USER, screen.message_id, "Перевод на карту")
    amounts = await world.tg.wait_for_message(USER, contains="Пополнение переводом")
    if f"mta:{kopecks}" in amounts.callback_data():
        world.tg.tap(USER, amounts.message_id, f"mta:{kopecks}")
    else:  # not a preset: typed, with kopecks after a comma
        world.tg.send_text(USER, f"{kopecks // 100},{kopecks % 100:02d}")
    details = await world.tg.wait_for_message(USER, contains="Переведите ровно")
    assert "2200 1234 5678 9012" in details.content
    assert "Т-Банк" in details.content
    assert "Иван И." in details.content
    assert "+79990000000" in details.content
    world.tg.tap(USER, details.message_id, f"mtp:{kopecks}")
    await world.tg.wait_for_message(USER, contains="Пришлите фото или PDF чека")
    if receipt == "photo":
        world.tg.send_photo(USER, png(40, 60))
    else:
        world.tg.send_document(USER, PDF, file_name="receipt.pdf", mime_type="application/pdf")
    await world.tg.wait_for_message(USER, contains="отправлена на проверку")
    copies = {}
    for admin in ADMINS:
        copies[admin] = await world.tg.wait_for_message(admin, contains="Заявка на пополнение")
    return copies


async def account(world: World) -> money.Account:
    async with world.app.db.connection() as conn:
        return await money.get_account(conn, USER)


async def manual_credits(world: World) -> list[int]:
    async with world.app.db.connection() as conn:
        entries = await money.recent_ledger(conn, USER)
    return [e.amount for e in entries if e.kind == "topup_manual"]


async def request_status(world: World, request_id: int = 1) -> payments.ManualTopup:
    async with world.app.db.connection() as conn:
        found = await payments.get_request(conn, request_id)
    assert found is not None
    return found


def decided(text: str) -> Callable[[SimMessage], bool]:
    """A copy that now shows the decision and has no buttons left."""
    return lambda m: text in m.content and not m.callback_data()


async def test_approve_credits_once_and_updates_every_copy(payments_world: WorldFactory) -> None:
    with trio.fail_after(60):
        async with payments_world(env=ENV) as world:
            add_people(world)
            copies = await request_topup(world)
            first = copies[ADMIN_ID]
            assert first.kind == "photo"  # the receipt, re-sent by file_id
            assert "500\u00a0₽" in first.content
            assert "@ann" in first.content
            assert str(USER) in first.content
            assert first.callback_data() == ["mtok:1", "mtno:1"]
            # Nothing is credited before a decision.
            assert (await account(world)).balance == 0
            assert await manual_credits(world) == []
            assert (await request_status(world)).status == "pending"

            query = world.tg.tap(ADMIN_ID, first.message_id, "mtok:1")
            answer = await world.tg.wait_for_callback_answer(query)
            assert answer.text is not None
            assert "Зачислено" in answer.text
            told = await world.tg.wait_for_message(USER, contains="Заявка №1: зачислено 500\u00a0₽")
            assert "Баланс: 500\u00a0₽" in told.content
            for admin in ADMINS:
                await world.tg.wait_for_message(admin, predicate=decided("Зачислено — Alice"))

            # Boris's copy lost its buttons; a stale tap on it is "already decided", no second credit.
            stale = world.tg.tap(ADMIN_2, copies[ADMIN_2].message_id, "mtok:1", force=True)
            late = await world.tg.wait_for_callback_answer(stale)
            assert late.text is not None
            assert "Уже решено" in late.text
            assert await manual_credits(world) == [500_00]
            assert (await account(world)).balance == 500_00
            status = await request_status(world)
            assert (status.status, status.decided_by) == ("approved", ADMIN_ID)
            async with world.app.db.connection() as conn:
                audit = await store_admin.recent_admin_actions(conn, target="topup:1")
            assert [(a.admin_id, a.action) for a in audit] == [(ADMIN_ID, "topup_approve")]
            assert len([m for m in world.tg.bot_messages(USER) if "Заявка №1: зачислено" in m.content]) == 1
            metrics = world.app.metrics.registry
            assert metrics.get_sample_value("kiebot_manual_topups_total", {"outcome": "approved"}) == 1
            assert metrics.get_sample_value("kiebot_topup_kopecks_total", {"method": "manual"}) == 500_00


async def test_reject_asks_for_a_reason_and_tells_the_user(payments_world: WorldFactory) -> None:
    with trio.fail_after(60):
        async with payments_world(env=ENV) as world:
            add_people(world)
            copies = await request_topup(world, kopecks=1234_50, receipt="document")
            assert copies[ADMIN_2].kind == "document"
            world.tg.tap(ADMIN_2, copies[ADMIN_2].message_id, "mtno:1")
            prompt = await world.tg.wait_for_message(ADMIN_2, contains="причину отказа по заявке №1")
            assert (await request_status(world)).status == "pending"  # asking is not deciding

            world.tg.send_text(ADMIN_2, "Перевод не поступил")
            await world.tg.wait_for_message(ADMIN_2, contains="Отклонено, пользователь уведомлён", after=prompt.message_id)
            told = await world.tg.wait_for_message(USER, contains="отклонена")
            assert "1\u00a0234,50\u00a0₽" in told.content
            assert "Причина: Перевод не поступил" in told.content
            for admin in ADMINS:
                await world.tg.wait_for_message(admin, predicate=decided("Отклонено — Boris"))
            status = await request_status(world)
            assert (status.status, status.decided_by, status.reason) == ("rejected", ADMIN_2, "Перевод не поступил")
            assert await manual_credits(world) == []
            assert (await account(world)).balance == 0


async def test_two_admins_deciding_at_once_make_one_decision(payments_world: WorldFactory) -> None:
    with trio.fail_after(60):
        async with payments_world(env=ENV) as world:
            add_people(world)
            copies = await request_topup(world)
            # Both press Approve at the same moment (different chats: handled concurrently).
            queries = [world.tg.tap(admin, copies[admin].message_id, "mtok:1") for admin in ADMINS]
            answers = [await world.tg.wait_for_callback_answer(q) for q in queries]
            texts = sorted(a.text or "" for a in answers)
            assert texts[0].startswith("Зачислено")
            assert texts[1].startswith("Уже решено")
            await world.tg.wait_for_message(USER, contains="зачислено 500\u00a0₽")
            winner = (await request_status(world)).decided_by
            assert winner in ADMINS
            name = "Alice" if winner == ADMIN_ID else "Boris"
            for admin in ADMINS:
                await world.tg.wait_for_message(admin, predicate=decided(f"Зачислено — {name}"))
            assert await manual_credits(world) == [500_00]
            assert len([m for m in world.tg.bot_messages(USER) if "Заявка №1: зачислено" in m.content]) == 1


async def test_approval_while_another_admin_types_a_reason(payments_world: WorldFactory) -> None:
    with trio.fail_after(60):
        async with payments_world(env=ENV) as world:
            add_people(world)
            copies = await request_topup(world)
            world.tg.tap(ADMIN_2, copies[ADMIN_2].message_id, "mtno:1")
            await world.tg.wait_for_message(ADMIN_2, contains="причину отказа")
            world.tg.tap(ADMIN_ID, copies[ADMIN_ID].message_id, "mtok:1")
            await world.tg.wait_for_message(USER, contains="зачислено")
            world.tg.send_text(ADMIN_2, "Поздно")
            await world.tg.wait_for_message(ADMIN_2, contains="Уже решено")
            status = await request_status(world)
            assert (status.status, status.reason) == ("approved", None)
            assert await manual_credits(world) == [500_00]
            assert not any("отклонена" in m.content for m in world.tg.bot_messages(USER))


async def test_non_admin_pressing_approve_is_refused(payments_world: WorldFactory) -> None:
    with trio.fail_after(60):
        async with payments_world(env=ENV) as world:
            add_people(world)
            await request_topup(world)
            # A user who crafts the admin's button data gets "outdated", as for any unknown route.
            any_message = world.tg.last_bot_message(USER)
            assert any_message is not None
            query = world.tg.tap(USER, any_message.message_id, "mtok:1", force=True)
            answer = await world.tg.wait_for_callback_answer(query)
            assert answer.text is not None
            assert "устарело" in answer.text
            await world.tg.wait_for_message(USER, contains="Главное меню")
            assert (await request_status(world)).status == "pending"
            assert await manual_credits(world) == []
            assert (await account(world)).balance == 0


async def test_receipt_must_be_a_photo_or_pdf(payments_world: WorldFactory) -> None:
    with trio.fail_after(60):
        async with payments_world(env=ENV) as world:
            add_people(world)
            world.tg.send_text(USER, "/balance")
            screen = await world.tg.wait_for_message(USER, contains="💰 Баланс")
            world.tg.tap(USER, screen.message_id, "mt")
            amounts = await world.tg.wait_for_message(USER, contains="Пополнение переводом")
            world.tg.send_text(USER, "50")  # typed amount below the minimum
            await world.tg.wait_for_message(USER, contains="Минимальная сумма — 100\u00a0₽")
            world.tg.send_text(USER, "1 500,5")
            details = await world.tg.wait_for_message(USER, contains="Переведите ровно 1\u00a0500,50\u00a0₽")
            assert details.message_id > amounts.message_id
            world.tg.tap(USER, details.message_id, "mtp:150050")
            await world.tg.wait_for_message(USER, contains="Пришлите фото")
            world.tg.send_text(USER, "я оплатил")
            await world.tg.wait_for_message(USER, contains="Нужен чек")
            world.tg.send_document(USER, b"PK\x03\x04zip", file_name="receipt.zip", mime_type="application/zip")
            await world.tg.wait_for(
                lambda: len([m for m in world.tg.bot_messages(USER) if "Нужен чек" in m.content]) == 2, what="second refusal"
            )
            async with world.app.db.connection() as conn:
                assert await payments.list_pending(conn) == []


async def test_not_offered_without_card_or_phone(payments_world: WorldFactory) -> None:
    with trio.fail_after(60):
        async with payments_world() as world:
            world.tg.add_user(USER, "Ann")
            world.tg.send_text(USER, "/balance")
            screen = await world.tg.wait_for_message(USER, contains="💰 Баланс")
            assert "mt" not in screen.callback_data()
            assert "topup" in screen.callback_data()
            world.tg.tap(USER, screen.message_id, "mtp:50000", force=True)
            await world.tg.wait_for_message(USER, contains="недоступно")
            world.tg.send_photo(USER, png())
            await world.tg.wait_for_message(USER, contains="Выберите действие")
            async with world.app.db.connection() as conn:
                assert await payments.list_pending(conn) == []


async def test_the_panels_view_sends_a_copy_that_is_settled_too(payments_world: WorldFactory) -> None:
    """The admin panel's pending list opens a request with ``mtv:<id>``: the receipt again, with
    the same buttons; deciding there settles every copy, and a decided request opens read-only."""
    with trio.fail_after(60):
        async with payments_world(env=ENV) as world:
            add_people(world)
            copies = await request_topup(world)
            world.tg.tap(ADMIN_ID, copies[ADMIN_ID].message_id, "mtv:1", force=True)
            view = await world.tg.wait_for_message(ADMIN_ID, contains="Заявка на пополнение", after=copies[ADMIN_ID].message_id)
            assert view.kind == "photo"
            assert view.callback_data() == ["mtok:1", "mtno:1"]
            world.tg.tap(ADMIN_ID, view.message_id, "mtok:1")
            await world.tg.wait_for_message(USER, contains="зачислено")
            settled = decided("Зачислено — Alice")
            for admin, message in ((ADMIN_ID, copies[ADMIN_ID]), (ADMIN_ID, view), (ADMIN_2, copies[ADMIN_2])):

                def shows_decision(admin: int = admin, message_id: int = message.message_id) -> bool:
                    return settled(world.tg.message(admin, message_id))

                await world.tg.wait_for(shows_decision, what=f"copy {message.message_id} of admin {admin} settled")
            world.tg.tap(ADMIN_2, copies[ADMIN_2].message_id, "mtv:1", force=True)
            read_only = await world.tg.wait_for_message(ADMIN_2, contains="Заявка на пополнение", after=copies[ADMIN_2].message_id)
            assert "Зачислено — Alice" in read_only.content
            assert read_only.callback_data() == []
            async with world.app.db.connection() as conn:
                assert await payments.list_pending(conn) == []
            assert await manual_credits(world) == [500_00]


async def test_an_admin_telegram_fails_for_does_not_stop_the_others(payments_world: WorldFactory) -> None:
    with trio.fail_after(60):
        async with payments_world(env=ENV) as world:
            add_people(world)
            world.tg.inject("sendPhoto", status=500, chat_id=ADMIN_ID, times=None)
            world.tg.send_text(USER, "/balance")
            screen = await world.tg.wait_for_message(USER, contains="💰 Баланс")
            world.tg.tap(USER, screen.message_id, "mt")
            amounts = await world.tg.wait_for_message(USER, contains="Пополнение переводом")
            world.tg.tap(USER, amounts.message_id, "mta:10000")
            details = await world.tg.wait_for_message(USER, contains="Переведите ровно")
            world.tg.tap(USER, details.message_id, "mtp:10000")
            await world.tg.wait_for_message(USER, contains="Пришлите фото")
            world.tg.send_photo(USER, png())
            await world.tg.wait_for_message(USER, contains="отправлена на проверку")
            copy = await world.tg.wait_for_message(ADMIN_2, contains="Заявка на пополнение")
            assert world.tg.bot_messages(ADMIN_ID) == []
            world.tg.tap(ADMIN_2, copy.message_id, "mtok:1")
            await world.tg.wait_for_message(USER, contains="зачислено 100\u00a0₽")
            assert await manual_credits(world) == [100_00]
