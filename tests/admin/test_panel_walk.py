"""Every admin screen is reachable and every admin button has a handler.

With sample data in place (users, money, a Stars payment, a failed and a delivered job, a pending
manual top-up with a receipt, an open circuit breaker, a switched-off model, a variant paused
for billing above its price, audit rows and a draft broadcast), the admin opens /admin and the test taps every button it finds, breadth first,
until no new callback data appears. Every tap must get a screen (a message sent or edited, or a
non-"outdated" answer), and every admin route registered on the router must have been reached.

Then ordinary users tap every one of those callback datas (forged onto their own messages): each
gets "this menu is outdated", and nothing in the database changes. A non-admin's /admin is an
unknown command.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime
from typing import Any

import pytest
import trio

from kiebot.bot.router import routes
from kiebot.chat.callback_data import parse
from kiebot.i18n import t
from kiebot.store import admin, breakers, broadcasts, money, payments, variant_pauses
from kiebot.testing.harness import ADMIN_ID, World
from kiebot.testing.media import png

Driver = Any  # tests/admin/conftest.py's Driver (conftest modules are not importable)
DriverFactory = Callable[..., AbstractAsyncContextManager[Driver]]  # conftest.py's admin_driver

ANN = 5_000_001
BOB = 5_000_002
#: Admins walking the panel side by side: each chat gets about one message a second (Telegram's
#: per-chat limit, which the bot's limiter keeps), so one admin alone would need minutes.
ADMINS = tuple(range(ADMIN_ID, ADMIN_ID + 16))
STRANGERS = tuple(range(5_000_101, 5_000_141))
#: Routes whose button carries one admin's conversation nonce: only that admin may press it.
STATE_BOUND = frozenset(("adm.adjok",))
#: Admin routes of the payments screens the panel links to (their own tests cover them in depth).
PAYMENT_ADMIN_ROUTES = frozenset(("mtv", "mtok", "mtno", "mtkeep"))
#: A safety net against a walk that never ends, far above the panel's size.
MAX_BUTTONS = 800

pytestmark = pytest.mark.slow


async def seed(world: World, d: Driver, finished_job: Callable[..., Awaitable[int]]) -> None:
    d.tg.add_user(ADMIN_ID, "Boss", username="boss")
    d.tg.add_user(ANN, "Ann", username="ann_k")
    d.tg.add_user(BOB, "Bob")
    for user in (ANN, BOB):
        await d.send(user, "/start")
    photo, _ = await d.send_photo(ANN, png(4, 4))
    receipt = photo["photo"][-1]["file_id"]
    model = world.app.bot.registry.models[0].id
    async with world.app.db.connection() as conn:
        await money.credit(conn, ANN, 200_000, kind="welcome", key="seed-ann")
        await payments.record_stars_payment(
            conn,
            user_id=ANN,
            charge_id="seed-charge-without-telegram",
            payload="p",
            stars=100,
            kopecks=10_000,
        )
        await finished_job(conn, ANN, key="seed-failed", outcome="failed")
        await finished_job(conn, ANN, key="seed-delivered", outcome="delivered")
        await payments.create_request(conn, ANN, 50_000, f"photo:{receipt}")
        for _ in range(5):
            await breakers.record_failure(conn, model, datetime.now(UTC), open_for_s=3600)
        await admin.set_model_enabled(conn, world.app.bot.registry.models[1].id, False, ADMIN_ID)
        await admin.set_user_banned(conn, ADMIN_ID, BOB, True, reason="spam")
        await broadcasts.create_broadcast(conn, ADMIN_ID, "<b>Новости</b>: скидки!")
        await variant_pauses.pause(conn, model, "default", job_id=None, quoted_credits=4, billed_credits=40)
    world.app.bot.availability.invalidate()


def _route(data: str) -> str:
    return parse(data)[0]


def _in_scope(data: str) -> bool:
    route = _route(data)
    return route.startswith("adm") or route in PAYMENT_ADMIN_ROUTES


#: The rows an admin action could change, table by table (``audit`` is counted on its own).
SNAPSHOT_QUERIES = {
    "ledger": "SELECT id, amount, held_delta FROM ledger ORDER BY id",
    "users": "SELECT user_id, banned FROM users ORDER BY user_id",
    "overrides": "SELECT model_id, enabled FROM model_overrides ORDER BY 1",
    "breakers": "SELECT model_id, state FROM circuit_breakers ORDER BY 1",
    "broadcasts": "SELECT id, status, total FROM broadcasts ORDER BY id",
    "variant_pauses": "SELECT model_id, sku_key FROM variant_pauses ORDER BY 1, 2",
    "topups": "SELECT id, status FROM manual_topups ORDER BY id",
    "payments": "SELECT telegram_payment_charge_id, status FROM stars_payments",
    "states": "SELECT user_id, state FROM conversation_state WHERE state IS NOT NULL",
}


async def snapshot(world: World) -> dict[str, Any]:
    """Everything an admin action could change."""
    async with world.app.db.connection() as conn:
        snap: dict[str, Any] = {"audit": await conn.fetchval("SELECT count(*) FROM audit_log")}
        for name, query in SNAPSHOT_QUERIES.items():
            snap[name] = [tuple(r) for r in await conn.fetch(query)]
        return snap


async def prelude(d: Driver, admin_id: int) -> None:
    """The typed steps no button can stand in for, so their screens' buttons get walked too: a
    search, a broadcast text, a balance adjustment up to its confirmation."""
    dash = d.last(admin_id)
    await d.tap(admin_id, dash.message_id, "adm.s")
    await d.send(admin_id, "@ann_k")
    await d.tap(admin_id, dash.message_id, "adm.bn")
    await d.send(admin_id, "Привет! <скидки> & подарки")
    await d.tap(admin_id, dash.message_id, f"adm.adj:{ANN}")
    await d.send(admin_id, "+100")
    await d.send(admin_id, "goodwill")


@pytest.mark.timeout(240)  # ~40 s on a busy 2-core machine: 160 buttons, then 160 forged taps
async def test_every_admin_button_leads_somewhere_and_is_dead_for_others(
    admin_driver: DriverFactory,
    make_finished_job: Callable[..., Awaitable[int]],
) -> None:
    with trio.fail_after(200):
        async with admin_driver(env={"ADMIN_IDS": ",".join(map(str, ADMINS))}) as d:
            world = d.world
            await seed(world, d, make_finished_job)
            for admin_id in ADMINS:
                d.tg.add_user(admin_id, f"Admin{admin_id}")
                dashboard = await d.send(admin_id, "/admin")
                assert "Панель администратора" in dashboard.texts[0]
            typist, walkers = ADMINS[0], ADMINS[1:]
            await prelude(d, typist)

            seen: dict[str, int] = {}  # callback data → the admin whose chat showed it
            queue: list[str] = []

            def discover() -> None:
                for admin_id in ADMINS:
                    for message in d.tg.bot_messages(admin_id):
                        for data in message.callback_data():
                            if data not in seen and _in_scope(data):
                                seen[data] = admin_id
                                queue.append(data)

            blank: list[str] = []
            outdated: list[str] = []

            async def walk(admin_id: int, datas: list[str]) -> None:
                anchor = d.last(admin_id).message_id
                for data in datas:
                    reaction = await d.tap(admin_id, anchor, data)
                    if reaction.outdated:
                        outdated.append(data)
                    elif not reaction.screens and not (reaction.answer and reaction.answer.text):
                        blank.append(data)
                    # Each tap edits the same message: collect its buttons now, before the
                    # admin's next tap replaces them (a screen shown mid-wave was otherwise lost).
                    discover()

            discover()
            waves = 0
            while queue:
                waves += 1
                assert len(seen) <= MAX_BUTTONS, "the walk does not end"
                wave, queue[:] = list(queue), []
                shares: dict[int, list[str]] = {admin_id: [] for admin_id in ADMINS}
                for index, data in enumerate(wave):
                    # A confirmation tied to one admin's typed input belongs to that admin.
                    owner = seen[data] if _route(data) in STATE_BOUND else walkers[index % len(walkers)]
                    shares[owner].append(data)
                async with trio.open_nursery() as nursery:
                    for admin_id, datas in shares.items():
                        nursery.start_soon(walk, admin_id, datas)
                discover()
            assert outdated == [], f"buttons answered 'this menu is outdated': {outdated}"
            assert blank == [], f"buttons that showed nothing: {blank}"

            reached = {_route(data) for data in seen}
            admin_routes = {
                name for name, route in routes.callbacks.items() if route.admin and name.startswith("adm")
            }
            assert admin_routes <= reached, (
                f"admin routes no button leads to: {sorted(admin_routes - reached)}"
            )
            assert len(seen) > 100  # every model card, both switch directions, pages, cards, ...

            # Ordinary users: every one of those datas is dead for them, and changes nothing.
            for stranger in STRANGERS:
                await d.start(stranger, f"U{stranger}")
            before = await snapshot(world)
            datas = list(seen)
            per_user = -(-len(datas) // len(STRANGERS))
            assert per_user <= 20  # under the per-user rate limit: each tap reaches the router's checks
            refused: list[tuple[str, bool, list[str]]] = []

            async def forge(stranger: int, mine: list[str]) -> None:
                target = d.last(stranger).message_id
                for data in mine:
                    reaction = await d.tap(stranger, target, data)
                    refused.append((data, reaction.outdated, reaction.texts))

            async with trio.open_nursery() as nursery:
                for number, stranger in enumerate(STRANGERS):
                    nursery.start_soon(forge, stranger, datas[number * per_user : (number + 1) * per_user])
            assert len(refused) == len(datas)
            assert [data for data, was_outdated, _ in refused if not was_outdated] == []
            leaked = [data for data, _, texts in refused if any("Панель" in x or "adm." in x for x in texts)]
            assert leaked == []
            assert await snapshot(world) == before

            unknown = await d.send(STRANGERS[0], "/admin")
            assert unknown.texts == [t("ru", "common.unknown_command")]
