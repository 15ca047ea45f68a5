"""Admin balance adjustments cannot collide (issue 13 item 4), driven through the real bot.

The clean-up duty deletes conversation rows that have been dead for 30 days; their versions then
start again from 1. An adjustment key made of the version therefore recurred: the next adjustment
that reached the same version was answered "already applied" and applied nothing. Keys now carry a
random nonce kept in the flow's state, and "already applied" needs the same admin, user and amount.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import pytest
import trio

from kiebot.i18n import t
from kiebot.runtime.duties import cleanup_tables
from kiebot.store import money
from kiebot.testing.harness import ADMIN_ID, World

Driver = Any  # tests/admin/conftest.py's Driver (conftest modules are not importable)
DriverFactory = Callable[..., AbstractAsyncContextManager[Driver]]  # conftest.py's admin_driver

ANN = 5_100_001

pytestmark = pytest.mark.slow


async def _adjust(d: Driver, card: int, amount: str, reason: str) -> tuple[int, str]:
    """Card → ➕➖ → amount → reason; returns the confirmation screen and its ✅ callback data."""
    await d.tap(ADMIN_ID, card, f"adm.adj:{ANN}")
    await d.send(ADMIN_ID, amount)
    screen = d.screen(ADMIN_ID, await d.send(ADMIN_ID, reason))
    apply = next(data for data in screen.callback_data() if data.startswith("adm.adjok:"))
    return screen.message_id, apply


async def _balance(world: World) -> int:
    async with world.app.db.connection() as conn:
        return (await money.get_account(conn, ANN)).balance


async def test_an_adjustment_after_the_cleanup_duty_is_applied_not_called_a_repeat(
    admin_driver: DriverFactory
) -> None:
    with trio.fail_after(60):
        async with admin_driver() as d:
            world = d.world
            d.tg.add_user(ADMIN_ID, "Boss")
            await d.start(ANN, "Ann")

            async def card() -> int:
                """/admin → 🔍 → Ann's id → her card."""
                await d.send(ADMIN_ID, "/admin")
                await d.tap(ADMIN_ID, d.last(ADMIN_ID).message_id, "adm.s")
                return d.screen(ADMIN_ID, await d.send(ADMIN_ID, str(ANN))).message_id

            first_screen, first = await _adjust(d, await card(), "+100", "compensation for job #7")
            done = await d.tap(ADMIN_ID, first_screen, first)
            assert "Баланс изменён на +100" in done.texts[-1].replace("\u00a0", " "), done.texts
            assert await _balance(world) == 100_00

            # A month later the admin's conversation row is long dead and the duty deletes it.
            async with world.app.db.connection() as conn:
                await conn.execute(
                    "UPDATE conversation_state SET expires_at = now() - interval '31 days' WHERE user_id = $1",
                    ADMIN_ID,
                )
            removed = await cleanup_tables(world.app.db)
            assert removed["states"] >= 1

            # The same steps again — same admin, same user, same amount — are a new adjustment.
            second_screen, second = await _adjust(d, await card(), "+100", "compensation for job #7")
            applied = await d.tap(ADMIN_ID, second_screen, second)
            assert not applied.texts[-1].startswith(t("ru", "admin.adjust.already")), applied.texts
            assert "Баланс изменён на +100" in applied.texts[-1].replace("\u00a0", " ")
            assert await _balance(world) == 200_00
            assert second != first

            # A repeat of a tap that went through is "already applied"…
            again = await d.tap(ADMIN_ID, second_screen, second)
            assert again.texts[-1].startswith(t("ru", "admin.adjust.already"))
            # …but a button naming the applied nonce with another amount is not: it is outdated.
            route, user, nonce, _ = second.split(":")
            forged = await d.tap(ADMIN_ID, second_screen, f"{route}:{user}:{nonce}:-5000")
            assert forged.outdated
            assert not any(text.startswith(t("ru", "admin.adjust.already")) for text in forged.texts)
            assert await _balance(world) == 200_00

            async with world.app.db.connection() as conn:
                keys = await conn.fetch(
                    "SELECT idempotency_key FROM ledger WHERE user_id = $1 AND kind = 'admin_adjust' ORDER BY id",
                    ANN,
                )
            assert len({r["idempotency_key"] for r in keys}) == 2
