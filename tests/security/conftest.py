"""Helpers for the security tests: wait until the app has handled what the fake Telegram sent,
snapshot everything money- or admin-related, and let a test's users act without rate limits."""

from __future__ import annotations

from typing import Any

import pytest

from kiebot.bot.guards import RateGuard
from kiebot.store import money
from kiebot.telegram.limiter import FloodLimiter
from kiebot.testing.harness import World


async def settle(world: World) -> None:
    """Wait until every update the fake Telegram created so far is handled (its row is done)."""
    await world.settle()


def relax(world: World) -> None:
    """No per-user action limit and no outgoing per-chat spacing (tests of rules, not of floods)."""
    world.app.bot.guard = RateGuard(per_minute=1e9, burst=1e9, dedupe_s=0.0)
    world.app.bot.tg.limiter = FloodLimiter(per_chat_rate=1000.0, per_chat_burst=1000)


async def books(world: World) -> dict[str, Any]:
    """Everything a payment, an admin action or a generation could change."""
    async with world.app.db.connection() as conn:

        async def rows(sql: str) -> list[tuple[Any, ...]]:
            return [tuple(r) for r in await conn.fetch(sql)]

        return {
            "accounts": await rows("SELECT user_id, balance, held FROM accounts ORDER BY 1"),
            "ledger": await rows("SELECT id, user_id, kind, amount, held_delta FROM ledger ORDER BY id"),
            "jobs": await rows("SELECT id, state FROM jobs ORDER BY id"),
            "users": await rows("SELECT user_id, banned FROM users ORDER BY 1"),
            "audit": await rows("SELECT count(*) FROM audit_log"),
            "overrides": await rows("SELECT model_id, enabled FROM model_overrides ORDER BY 1"),
            "broadcasts": await rows("SELECT id, status FROM broadcasts ORDER BY id"),
            "topups": await rows("SELECT id, status FROM manual_topups ORDER BY id"),
            "payments": await rows("SELECT telegram_payment_charge_id, status FROM stars_payments ORDER BY 1"),
            "violations": await money.check_invariants(conn),
        }


class Helpers:
    settle = staticmethod(settle)
    relax = staticmethod(relax)
    books = staticmethod(books)


@pytest.fixture
def sec() -> type[Helpers]:
    """``sec.settle(world)``, ``sec.relax(world)``, ``sec.books(world)`` (test modules cannot
    import each other under ``--import-mode=importlib``)."""
    return Helpers
