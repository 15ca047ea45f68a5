"""How many statements an update costs, counted on the real app (issue 18 item 3).

Every statement the app sends goes through ``kiebot.store.db.Conn``, which tells
``Database.on_statement`` (BEGIN/COMMIT included). The dispatcher tags its claims
``dispatch:claim``, handling runs under the update's own ``request_id`` (``u<update_id>``) and
intake's INSERT under ``intake``; everything else (leadership, duties) is left out. The dispatcher's
idle poll is set far beyond the test's deadline, so every claim counted was caused by the update.

Budgets: a ``/start`` at most 3 statements all told (intake's INSERT, the claim that also upserts
the sender and reads its menu figures, the finish; the issue asked for 4); a button tap at most 3 to handle
(claim, the screen's one read, finish; intake's INSERT, shared by all the updates of a group
commit, comes on top). And no claim that comes back empty after an update is finished.
"""

from __future__ import annotations

import json
from collections import Counter

import trio

from kiebot.logs import request_id_var
from kiebot.testing.harness import World, open_world

USER = 5_100_001
WARMUP_USER = 5_100_002
START_BUDGET = 3
TAP_BUDGET = 3  # claim to finish
IDLE_POLL_S = 600.0


class StatementLog:
    """(request_id, first line of the statement) for every statement sent."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []

    def __call__(self, sql: str) -> None:
        self.seen.append((request_id_var.get(), " ".join(sql.split())[:90]))

    def of(self, update_id: int) -> list[tuple[str, str]]:
        tags = {f"u{update_id}", "dispatch:claim", "intake"}
        return [(tag, sql) for tag, sql in self.seen if tag in tags]


async def _measure(world: World, log: StatementLog, act: object) -> tuple[int, list[tuple[str, str]]]:
    log.seen.clear()
    assert callable(act)
    act()
    update_id = int(world.tg.updates[-1]["update_id"])
    await world.settle(upto=update_id)
    await trio.sleep(0.2)  # a claim that would follow the finish has time to show up
    return update_id, log.of(update_id)


async def test_start_and_a_tap_stay_within_their_statement_budgets(database_url: str) -> None:
    with trio.fail_after(60):
        env = {"KIEBOT_LIMITS": json.dumps({"dispatch_poll_s": IDLE_POLL_S})}
        async with open_world(database_url, env=env) as world:
            log = StatementLog()
            world.app.db.on_statement = log
            # Warm up: the first claims after start-up and the first user are not what is measured.
            world.tg.add_user(WARMUP_USER, "Bob", language_code="ru")
            world.tg.send_text(WARMUP_USER, "/start")
            await world.tg.wait_for_message(WARMUP_USER, contains="Главное меню", timeout=20)
            await world.settle()

            world.tg.add_user(USER, "Ann", language_code="ru")
            _, start = await _measure(world, log, lambda: world.tg.send_text(USER, "/start"))
            menu = await world.tg.wait_for_message(USER, contains="Главное меню", timeout=20)
            kinds = Counter(tag.split(":")[0] if not tag.startswith("u") else "handling" for tag, _ in start)
            assert len(start) <= START_BUDGET, f"/start cost {len(start)} statements: {start}"
            assert kinds["dispatch"] == 1, f"one claim per update, none empty: {start}"
            assert kinds["intake"] == 1, start

            # The help screen, then its Menu button (measured): clear the state, show the menu.
            world.tg.tap_button(USER, menu.message_id, "Помощь")
            await world.settle()
            _, tap = await _measure(world, log, lambda: world.tg.tap_button(USER, menu.message_id, "🏠 Меню"))
            handling = [(tag, sql) for tag, sql in tap if tag != "intake"]
            assert len(handling) <= TAP_BUDGET, f"a tap cost {len(handling)} statements to handle: {handling}"
            assert sum(1 for tag, _ in tap if tag == "dispatch:claim") == 1, tap
            assert "Главное меню" in world.tg.message(USER, menu.message_id).content
