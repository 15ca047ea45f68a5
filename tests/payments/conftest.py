"""Fixtures for the money-in tests: a migrated database for rule tests, and a factory that opens the
whole world (fake Telegram + fake Kie + the real app) and, on the way out, proves the ledger
invariant (``store.money.check_invariants`` finds no violation) — after every end-to-end test.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AbstractAsyncContextManager

import pytest

from kiebot.store.db import Database
from kiebot.testing.harness import World, open_world
from tests.support.books import assert_books_balance

WorldFactory = Callable[..., AbstractAsyncContextManager[World]]


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
async def books_db(store_db: Database) -> AsyncIterator[Database]:
    """The shared ``store_db``, with the ledger invariant checked once the test is done."""
    yield store_db
    await assert_books_balance(store_db)
