"""Routing rules that protect payments: pre-checkout queries never queue behind a chat, and a
banned user can still read the terms and reach payment support."""

from __future__ import annotations

import trio

from kiebot.intake.dispatch import PRECHECKOUT_KEY_BASE, chat_key_of
from kiebot.store import users
from kiebot.telegram.types import decode_update
from kiebot.testing.harness import open_world

USER = 5_500_001


def test_precheckout_gets_a_key_no_chat_can_have() -> None:
    query = decode_update(
        b'{"update_id": 9, "pre_checkout_query": {"id": "q1", "from": {"id": 42, "is_bot": false, "first_name": "A"},'
        b' "currency": "XTR", "total_amount": 50, "invoice_payload": "o:1"}}'
    )
    message = decode_update(
        b'{"update_id": 10, "message": {"message_id": 1, "date": 1, "chat": {"id": 42, "type": "private"},'
        b' "from": {"id": 42, "is_bot": false, "first_name": "A"}, "text": "hi"}}'
    )
    assert chat_key_of(message) == 42
    assert chat_key_of(query) == PRECHECKOUT_KEY_BASE - 42
    assert chat_key_of(query) < -(2**53)  # below every group or channel id


async def test_banned_user_still_gets_terms_and_paysupport(database_url: str) -> None:
    with trio.fail_after(60):
        async with open_world(database_url) as world:
            world.tg.add_user(USER, "Ann", language_code="en")
            world.tg.send_text(USER, "/start")
            await world.tg.wait_for_message(USER, contains="Main menu", timeout=20)
            async with world.app.db.connection() as conn:
                await users.set_banned(conn, USER, True)
            before = len(world.tg.bot_messages(USER))
            world.tg.send_text(USER, "/menu")
            await world.tg.wait_for_message(USER, contains="Access to this bot is closed", timeout=20)
            world.tg.send_text(USER, "/terms")
            terms = await world.tg.wait_for_message(USER, after=before + 1, predicate=lambda m: "closed" not in m.content, timeout=20)
            assert terms.content
            world.tg.send_text(USER, "/paysupport")
            support = await world.tg.wait_for_message(USER, after=terms.message_id, timeout=20)
            assert "closed" not in support.content


def test_unstorable_updates_are_refused_before_the_inbox() -> None:
    import pytest

    from kiebot.intake.dispatch import check_storable

    too_big = decode_update(b'{"update_id": 99999999999999999999}')
    with pytest.raises(ValueError, match="64-bit"):
        check_storable(too_big, b"{}")
    fine = decode_update(b'{"update_id": 5}')
    with pytest.raises(UnicodeDecodeError):
        check_storable(fine, b'{"update_id": 5, "x": "\\xff"}'.replace(b"\\xff", b"\xff"))
    check_storable(fine, b'{"update_id": 5}')
