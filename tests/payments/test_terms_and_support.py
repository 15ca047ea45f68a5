"""/terms (shown before buying, linked from the invoice screens) and /paysupport (a payment question
reaches every admin with the user's id, balance and Stars charges; an admin's answer reaches the
user)."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

import pytest
import trio

from kiebot.testing.harness import ADMIN_ID, World
from kiebot.testing.media import png

USER = 5_400_001
ADMIN_2 = 900_000_002
ENV = {"ADMIN_IDS": f"{ADMIN_ID},{ADMIN_2}", "SUPPORT_TELEGRAM": "@kiebot_help", "STARS_RUB_RATE": "1.25"}

pytestmark = pytest.mark.slow

WorldFactory = Callable[..., AbstractAsyncContextManager[World]]


async def test_terms_command_and_the_link_under_invoices(payments_world: WorldFactory) -> None:
    with trio.fail_after(60):
        async with payments_world(env={**ENV, "PAYMENT_CARD": "2200 0000 0000 0000"}) as world:
            world.tg.add_user(USER, "Ann")
            world.tg.send_text(USER, "/terms")
            terms = await world.tg.wait_for_message(USER, contains="Условия использования")
            # Stars pay; rubles are what lands on the balance, and the terms say so.
            assert "за каждую 1\u00a0⭐ на баланс зачисляется 1,25\u00a0₽" in terms.content
            assert "Рубли зачисляются сразу после оплаты" in terms.content
            assert "Звёзды зачисляются" not in terms.content
            assert "/paysupport" in terms.content
            assert "переводом на карту" in terms.content  # manual top-ups are enabled here
            assert "@kiebot_help" in terms.content
            assert "topup" in terms.callback_data()

            world.tg.tap(USER, terms.message_id, "topup")
            packages = await world.tg.wait_for_message(USER, contains="Выберите пакет")
            world.tg.tap(USER, packages.message_id, "stars:50")
            invoice = await world.tg.wait_for_message(USER, predicate=lambda m: m.kind == "invoice")
            assert invoice.invoice is not None
            assert "/terms" in invoice.invoice["description"]
            world.tg.tap(USER, invoice.message_id, "terms")
            # A new message: the invoice itself stays as it is.
            await world.tg.wait_for_message(USER, contains="Условия использования", after=invoice.message_id)
            assert invoice.kind == "invoice"
            assert invoice.edit_count == 0


async def test_paysupport_relays_the_question_and_the_answer_comes_back(payments_world: WorldFactory) -> None:
    with trio.fail_after(60):
        async with payments_world(env=ENV) as world:
            world.tg.add_user(USER, "Ann", username="ann")
            world.tg.add_user(ADMIN_ID, "Alice")
            world.tg.add_user(ADMIN_2, "Boris", language_code="en")
            world.tg.send_text(ADMIN_2, "/start")  # Boris reads English
            await world.tg.wait_for_message(ADMIN_2, contains="Main menu")
            # One paid Stars top-up, so support sees its charge id.
            world.tg.send_text(USER, "/balance")
            screen = await world.tg.wait_for_message(USER, contains="💰 Баланс")
            world.tg.tap(USER, screen.message_id, "topup")
            packages = await world.tg.wait_for_message(USER, contains="Пополнение звёздами")
            world.tg.tap(USER, packages.message_id, "stars:100")
            invoice = await world.tg.wait_for_message(USER, predicate=lambda m: m.kind == "invoice")
            paid = await world.tg.pay_invoice(USER, invoice.message_id)
            assert paid.telegram_payment_charge_id is not None
            await world.tg.wait_for_message(USER, contains="Оплата получена")

            world.tg.send_text(USER, "/paysupport")
            prompt = await world.tg.wait_for_message(USER, contains="Вопрос об оплате")
            assert "@kiebot_help" in prompt.content
            world.tg.send_text(USER, "Оплатил <b>100</b> звёзд, хочу вернуть")
            await world.tg.wait_for_message(USER, contains="передано в поддержку")

            relayed = await world.tg.wait_for_message(ADMIN_ID, contains="Вопрос об оплате")
            assert "Оплатил <b>100</b> звёзд" in relayed.content  # the user's HTML is escaped, not parsed
            assert str(USER) in relayed.content
            assert "@ann" in relayed.content
            assert "Баланс: 125\u00a0₽" in relayed.content
            assert paid.telegram_payment_charge_id in relayed.content
            assert "100 ⭐ → 125\u00a0₽ · оплачен" in relayed.content
            english = await world.tg.wait_for_message(ADMIN_2, contains="Payment question")
            assert "Recent Stars payments" in english.content

            world.tg.tap(ADMIN_ID, relayed.message_id, f"psr:{USER}")
            await world.tg.wait_for_message(ADMIN_ID, contains="Напишите ответ")
            world.tg.send_text(ADMIN_ID, "Вернули звёзды, проверьте баланс Telegram")
            await world.tg.wait_for_message(ADMIN_ID, contains="Ответ отправлен")
            answer = await world.tg.wait_for_message(USER, contains="Ответ поддержки")
            assert "Вернули звёзды" in answer.content

            # A user cannot use the admins' reply button.
            forged = world.tg.tap(USER, answer.message_id, f"psr:{USER}", force=True)
            refused = await world.tg.wait_for_callback_answer(forged)
            assert refused.text is not None
            assert "устарело" in refused.text


async def test_paysupport_with_a_screenshot_or_inline_text(payments_world: WorldFactory) -> None:
    with trio.fail_after(60):
        async with payments_world(env={"ADMIN_IDS": str(ADMIN_ID)}) as world:
            world.tg.add_user(USER, "Ann")
            world.tg.add_user(ADMIN_ID, "Alice")
            world.tg.send_text(USER, "/paysupport Звёзды списались, баланс не пополнился")
            await world.tg.wait_for_message(USER, contains="передано в поддержку")
            inline = await world.tg.wait_for_message(ADMIN_ID, contains="Звёзды списались")
            assert "Платежей звёздами не было" in inline.content

            world.tg.send_text(USER, "/paysupport")
            await world.tg.wait_for_message(USER, contains="Опишите его одним сообщением")
            world.tg.send_photo(USER, png(20, 20), caption="Вот скриншот")
            shot = await world.tg.wait_for_message(ADMIN_ID, predicate=lambda m: m.kind == "photo")
            assert "Вот скриншот" in shot.content
            follow_up = await world.tg.wait_for_message(ADMIN_ID, contains="Платежей звёздами не было", after=shot.message_id)
            assert f"psr:{USER}" in follow_up.callback_data()
