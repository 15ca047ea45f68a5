"""The ledger invariant, checked after the tests that move money."""

from __future__ import annotations

from kiebot.store import money
from kiebot.store.db import Database


async def assert_books_balance(db: Database) -> None:
    """For every user, ``balance + held = sum(ledger)`` and both are ≥ 0 (DESIGN "Invariants")."""
    async with db.connection() as conn:
        violations = await money.check_invariants(conn)
    assert violations == [], violations
