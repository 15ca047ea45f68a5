"""Admin actions by someone who is not (or no longer) an admin change nothing.

Two ways in that the router's ``admin=True`` check alone would not stop:

* an admin who is removed from ``ADMIN_IDS`` (a restart with a new configuration) while a typed
  step of the panel is pending — a balance adjustment waiting for its amount, reason or
  confirmation, a broadcast waiting for its text: the conversation state survives the restart,
  so the state handlers must check again;
* an ordinary user who replays the exact callback data of the admin's live screens (the
  adjustment's confirm button with the admin's current version included) and types admin
  commands.

Each refused attempt leaves the books as they were (ledger, accounts, audit log, bans, model
switches, broadcasts, top-ups, payments). The same buttons still work for the real admin
afterwards, so the refusals are not a broken panel.
"""

from __future__ import annotations

from typing import Any

import pytest
import trio

from kiebot.i18n import t
from kiebot.testing.harness import ADMIN_ID, World, open_world

ANN = 5_500_001
MALLORY = 5_500_002
OTHER_ADMIN = 5_500_999

pytestmark = pytest.mark.slow


def admin_datas(world: World, chat_id: int) -> list[str]:
    """Every admin callback data on the chat's screens, newest first."""
    datas: list[str] = []
    for message in reversed(world.tg.bot_messages(chat_id)):
        for data in message.callback_data():
            if data.startswith(("adm", "mt", "psr")) and data not in datas:
                datas.append(data)
    return datas


async def say(world: World, sec: Any, user: int, text: str) -> None:
    world.tg.send_text(user, text)
    await sec.settle(world)


async def tap(world: World, sec: Any, user: int, data: str) -> str | None:
    """Tap ``data`` (forged if need be) on the user's newest bot message; the answer's text."""
    message = world.tg.last_bot_message(user)
    assert message is not None
    query_id = world.tg.tap(user, message.message_id, data, force=True)
    answer = await world.tg.wait_for_callback_answer(query_id, timeout=15)
    await sec.settle(world)
    return answer.text


async def restart_as(world: World, sec: Any, admins: str) -> None:
    await world.restart_app(ADMIN_IDS=admins)
    sec.relax(world)


async def test_a_demoted_admin_and_a_user_replaying_admin_buttons_change_nothing(database_url: str, sec: Any) -> None:
    outdated = t("en", "common.outdated")
    with trio.fail_after(110):
        async with open_world(database_url) as world:
            sec.relax(world)
            for user, name in ((ADMIN_ID, "Boss"), (ANN, "Ann"), (MALLORY, "Mallory")):
                world.tg.add_user(user, name, language_code="en")
                await say(world, sec, user, "/start")

            # The admin prepares a +500 ₽ adjustment for Ann up to its confirmation.
            await say(world, sec, ADMIN_ID, "/admin")
            assert await tap(world, sec, ADMIN_ID, f"adm.adj:{ANN}") != outdated
            await say(world, sec, ADMIN_ID, "+500")
            await say(world, sec, ADMIN_ID, "goodwill gesture")
            confirm = [d for d in admin_datas(world, ADMIN_ID) if d.startswith("adm.adjok:")]
            assert len(confirm) == 1, admin_datas(world, ADMIN_ID)
            live_buttons = admin_datas(world, ADMIN_ID)
            assert len(live_buttons) >= 2
            before = await sec.books(world)

            # Mallory replays every live admin button and tries the admin commands.
            for data in live_buttons:
                assert await tap(world, sec, MALLORY, data) == outdated, data
            for text in ("/admin", "/admin users", "+500", "goodwill gesture"):
                await say(world, sec, MALLORY, text)
            assert await sec.books(world) == before
            mallory_saw = " ".join(m.content for m in world.tg.bot_messages(MALLORY))
            assert "Ann" not in mallory_saw
            assert str(ANN) not in mallory_saw

            # The admin is removed from ADMIN_IDS while the confirmation is pending.
            await restart_as(world, sec, str(OTHER_ADMIN))
            assert await tap(world, sec, ADMIN_ID, confirm[0]) == outdated
            for text in ("+500", "goodwill gesture", "/admin"):
                await say(world, sec, ADMIN_ID, text)
            assert t("en", "common.unknown_command") in world.tg.bot_messages(ADMIN_ID)[-1].content
            for data in live_buttons:
                assert await tap(world, sec, ADMIN_ID, data) == outdated, data
            assert await sec.books(world) == before

            # Back in ADMIN_IDS, the same steps apply the adjustment once (the refusals above were
            # the rules at work, not a broken panel; the stale confirmation was dropped on the way).
            await restart_as(world, sec, str(ADMIN_ID))
            await tap(world, sec, ADMIN_ID, confirm[0])
            assert await sec.books(world) == before
            await say(world, sec, ADMIN_ID, "/admin")
            assert await tap(world, sec, ADMIN_ID, f"adm.adj:{ANN}") != outdated
            await say(world, sec, ADMIN_ID, "+500")
            await say(world, sec, ADMIN_ID, "goodwill gesture")
            fresh = [d for d in admin_datas(world, ADMIN_ID) if d.startswith("adm.adjok:")]
            assert await tap(world, sec, ADMIN_ID, fresh[0]) != outdated
            after = await sec.books(world)
            assert after != before
            assert [r for r in after["ledger"] if r not in before["ledger"]] == [
                (after["ledger"][-1][0], ANN, "admin_adjust", 50_000, 0)
            ]
            assert after["violations"] == []


async def test_a_demoted_admin_cannot_finish_a_broadcast_or_a_search(database_url: str, sec: Any) -> None:
    with trio.fail_after(90):
        async with open_world(database_url) as world:
            sec.relax(world)
            for user, name in ((ADMIN_ID, "Boss"), (ANN, "Ann")):
                world.tg.add_user(user, name, language_code="en", username=name.lower() + "_u")
                await say(world, sec, user, "/start")
            await say(world, sec, ADMIN_ID, "/admin")
            await tap(world, sec, ADMIN_ID, "adm.bn")  # "write the broadcast text"
            before = await sec.books(world)
            sent_before = len(world.tg.calls("sendMessage"))

            await restart_as(world, sec, str(OTHER_ADMIN))
            await say(world, sec, ADMIN_ID, "Free money for everyone! <b>now</b>")
            assert await sec.books(world) == before
            assert before["broadcasts"] == await _broadcasts(world)
            # Only the ex-admin's own chat heard back; nobody else got anything.
            others = [c for c in world.tg.calls("sendMessage")[sent_before:] if c.params.get("chat_id") != ADMIN_ID]
            assert others == []

            await restart_as(world, sec, str(ADMIN_ID))
            await say(world, sec, ADMIN_ID, "/admin")
            await tap(world, sec, ADMIN_ID, "adm.s")  # "who are you looking for?"
            await restart_as(world, sec, str(OTHER_ADMIN))
            await say(world, sec, ADMIN_ID, "@ann_u")
            assert "Ann" not in world.tg.bot_messages(ADMIN_ID)[-1].content
            assert str(ANN) not in world.tg.bot_messages(ADMIN_ID)[-1].content
            assert await sec.books(world) == before

            # The same steps by an admin do find Ann and do make a draft (so the checks can fail).
            await restart_as(world, sec, str(ADMIN_ID))
            await say(world, sec, ADMIN_ID, "/admin")
            await tap(world, sec, ADMIN_ID, "adm.s")
            await say(world, sec, ADMIN_ID, "@ann_u")
            assert str(ANN) in world.tg.bot_messages(ADMIN_ID)[-1].content
            await say(world, sec, ADMIN_ID, "/admin")
            await tap(world, sec, ADMIN_ID, "adm.bn")
            await say(world, sec, ADMIN_ID, "Hello everyone")
            assert len(await _broadcasts(world)) == len(before["broadcasts"]) + 1


async def _broadcasts(world: World) -> list[tuple[Any, ...]]:
    async with world.app.db.connection() as conn:
        return [tuple(r) for r in await conn.fetch("SELECT id, status FROM broadcasts ORDER BY id")]
