"""Callback data fuzzing: users with money on their balance tap generated callback data (up to
Telegram's 64 bytes, https://core.telegram.org/bots/api#inlinekeyboardbutton) on the bot's
messages, as a tampering client can.

Every tap is answered (the client's spinner stops). Data that does not parse, names no route, or
names an admin route gets "this menu is outdated" and the main menu in its place. Nothing
generated moves money: balances, holds and the ledger are as before, no job exists, no handler
failed, and the bot still serves the users afterwards.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest
import trio
from hypothesis import strategies as st

from kiebot.bot.guards import RateGuard
from kiebot.bot.router import routes
from kiebot.chat.callback_data import BadCallback, parse
from kiebot.i18n import t
from kiebot.store import money
from kiebot.telegram.limiter import FloodLimiter
from kiebot.testing.harness import ADMIN_ID, World, eventually, open_world

USERS = tuple(range(5_300_001, 5_300_009))
BALANCE = 250_000  # kopecks each user holds before the fuzzing

pytestmark = pytest.mark.slow

ARG = st.one_of(
    st.integers(-(2**70), 2**70).map(str),
    st.sampled_from(["0", "1", "-1", "00", "1e3", "+1", "9" * 30, "", "x", "ok", "new", "m", "p", "nx", "tr", "a", "b"]),
    st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789_.-+=", min_size=1, max_size=8),
)


def fit(data: str) -> str:
    """At most 64 bytes of UTF-8, cut on a character boundary."""
    return data.encode()[:64].decode("utf-8", "ignore")


def callback_datas() -> st.SearchStrategy[str]:
    known = sorted(routes.callbacks)
    structured = st.builds(
        lambda route, args: fit(":".join([route, *args])), st.sampled_from(known), st.lists(ARG, max_size=5)
    )
    near = st.builds(lambda route, junk: fit(route + junk), st.sampled_from(known), st.text(max_size=10))
    anything = st.text(max_size=64).map(fit)
    raw_bytes = st.binary(max_size=64).map(lambda b: b.decode("utf-8", "ignore"))
    return st.one_of(structured, structured, structured, near, anything, raw_bytes)


def expected_outdated(data: str) -> bool:
    """True when the router itself must refuse the data (the handler may refuse more)."""
    try:
        name, _ = parse(data)
    except BadCallback:
        return True
    route = routes.callbacks.get(name)
    return route is None or route.admin


async def money_snapshot(world: World) -> dict[str, Any]:
    async with world.app.db.connection() as conn:
        return {
            "accounts": [tuple(r) for r in await conn.fetch("SELECT user_id, balance, held FROM accounts ORDER BY 1")],
            "ledger": await conn.fetchval("SELECT count(*) FROM ledger"),
            "jobs": await conn.fetchval("SELECT count(*) FROM jobs"),
            "payments": await conn.fetchval("SELECT count(*) FROM stars_payments"),
            "topups": await conn.fetchval("SELECT count(*) FROM manual_topups"),
            "violations": await money.check_invariants(conn),
        }


async def handled(world: World, update_id: int) -> bool:
    async with world.app.db.connection() as conn:
        status = await conn.fetchval("SELECT status FROM updates WHERE update_id = $1", update_id)
    return status in ("done", "failed")


def has_main_menu(buttons: list[str]) -> bool:
    return "bal" in buttons and "cat:image" in buttons


async def test_generated_callback_data_is_answered_and_moves_no_money(
    database_url: str, fuzz: Any, caplog: pytest.LogCaptureFixture
) -> None:
    with trio.fail_after(115):
        async with open_world(database_url) as world:
            # Every tap must reach the router: no per-user rate limit, no double-tap window.
            world.app.bot.guard = RateGuard(per_minute=1e9, burst=1e9, dedupe_s=0.0)
            world.app.bot.tg.limiter = FloodLimiter(per_chat_rate=1000.0, per_chat_burst=1000)
            for user in USERS:
                world.tg.add_user(user, "Fuzz", language_code="en")
                world.tg.send_text(user, "/start")
            for user in USERS:
                await world.tg.wait_for_message(user, contains="Main menu", timeout=20)
            async with world.app.db.transaction() as conn:
                for user in USERS:
                    await money.credit(conn, user, BALANCE, kind="topup_manual", key=f"fuzz-seed:{user}")
            before = await money_snapshot(world)
            outdated_text = t("en", "common.outdated")
            counts = {"outdated": 0, "other": 0}
            turn = 0

            async def tap(data: str) -> None:
                nonlocal turn
                user = USERS[turn % len(USERS)]
                turn += 1
                target = world.tg.last_bot_message(user)
                assert target is not None
                query_id = world.tg.tap(user, target.message_id, data, force=True)
                answer = await world.tg.wait_for_callback_answer(query_id, timeout=15)
                update = world.tg.state.callbacks[query_id].update
                assert update is not None
                with trio.fail_after(15):
                    await eventually(lambda: handled(world, update["update_id"]), interval=0.01)
                if expected_outdated(data):
                    counts["outdated"] += 1
                    assert answer.text == outdated_text, (data, answer.text)
                    shown = world.tg.last_bot_message(user)
                    assert shown is not None
                    assert has_main_menu(shown.callback_data()), (data, shown.content[:200])
                else:
                    counts["other"] += 1

            ran = await fuzz(callback_datas(), tap, max_examples=220)
            assert ran >= 220
            assert counts["outdated"] > 40, counts
            assert counts["other"] > 40, counts

            after = await money_snapshot(world)
            assert after == before
            async with world.app.db.connection() as conn:
                failed = await conn.fetch(
                    "SELECT update_id, last_error FROM updates WHERE last_error IS NOT NULL OR status = 'failed'"
                )
            assert [dict(r) for r in failed] == []
            errors = [f"{r.name}: {r.getMessage()}" for r in caplog.records if r.levelno >= logging.ERROR and r.name.startswith("kiebot")]
            assert errors == []

            # Still serving: a fresh /start shows the menu with the untouched balance.
            last = USERS[0]
            marker = world.tg.last_bot_message(last)
            assert marker is not None
            world.tg.send_text(last, "/menu")
            menu = await world.tg.wait_for_message(last, after=marker.message_id, contains="Balance: 2,500", timeout=20)
            assert has_main_menu(menu.callback_data())


async def test_admin_routes_with_generated_arguments_are_outdated_for_users_and_open_for_the_admin(
    database_url: str, fuzz: Any
) -> None:
    """The same generated admin datas: refused for a user, never an error for the admin."""
    admin_routes = sorted(name for name, route in routes.callbacks.items() if route.admin)
    assert admin_routes, "no admin routes registered"
    datas = st.builds(
        lambda route, args: fit(":".join([route, *args])), st.sampled_from(admin_routes), st.lists(ARG, max_size=4)
    )
    with trio.fail_after(110):
        async with open_world(database_url) as world:
            world.app.bot.guard = RateGuard(per_minute=1e9, burst=1e9, dedupe_s=0.0)
            world.app.bot.tg.limiter = FloodLimiter(per_chat_rate=1000.0, per_chat_burst=1000)
            user = USERS[0]
            for who in (user, ADMIN_ID):
                world.tg.add_user(who, "Fuzz", language_code="en")
                world.tg.send_text(who, "/start")
                await world.tg.wait_for_message(who, contains="Main menu", timeout=20)
            async with world.app.db.transaction() as conn:
                await money.credit(conn, user, BALANCE, kind="topup_manual", key="fuzz-seed-admin")
            error_text = t("en", "common.error")
            outdated_text = t("en", "common.outdated")

            async def both(data: str) -> None:
                before = await money_snapshot(world)
                target = world.tg.last_bot_message(user)
                assert target is not None
                answer = await world.tg.wait_for_callback_answer(world.tg.tap(user, target.message_id, data, force=True))
                assert answer.text == outdated_text
                assert await money_snapshot(world) == before
                target = world.tg.last_bot_message(ADMIN_ID)
                assert target is not None
                query_id = world.tg.tap(ADMIN_ID, target.message_id, data, force=True)
                answer = await world.tg.wait_for_callback_answer(query_id)
                update = world.tg.state.callbacks[query_id].update
                assert update is not None
                with trio.fail_after(15):
                    await eventually(lambda: handled(world, update["update_id"]), interval=0.01)
                assert answer.text != error_text, data
                errors = [m for m in world.tg.bot_messages(ADMIN_ID) if error_text in m.content]
                assert errors == [], data

            await fuzz(datas, both, max_examples=60)
