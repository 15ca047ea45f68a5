"""Fixtures for the money-in tests: a migrated database for rule tests, and a factory that opens the
whole world (fake Telegram + fake Kie + the real app) and, on the way out, proves the ledger
invariant (``store.money.check_invariants`` finds no violation) — after every end-to-end test.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AbstractAsyncContextManager

import pytest

from kiebot.store import money
from kiebot.store.db import Database
from kiebot.store.migrations import apply_migrations
from kiebot.testing.harness import World, open_world

WorldFactory = Callable[..., AbstractAsyncContextManager[World]]


async def assert_books_balance(db: Database) -> None:
    async with db.connection() as conn:
        violations = await money.check_invariants(conn)
    assert violations == [], violations


@pytest.fixture
def payments_world(database_url: str) -> WorldFactory:
    """``async with payments_world(env={...}) as world:`` — the invariant is checked at exit."""

    @contextlib.asynccontextmanager
    async def factory(env: Mapping[str, str] | None = None) -> AsyncIterator[World]:
        async with open_world(database_url, env=env) as world:
            yield world
            await assert_books_balance(world.app.db)

    return factory


@pytest.fixture
async def store_db(database_url: str, aio_loop: None) -> AsyncIterator[Database]:
    """A pool on a fresh, fully migrated database (for rule tests without the app)."""
    async with Database.open(database_url, max_size=10) as db:
        await apply_migrations(db)
        yield db
        await assert_books_balance(db)
