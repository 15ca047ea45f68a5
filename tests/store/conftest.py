"""Storage fixtures shared by the tests in tests/store/ (S1 infrastructure and S2 domain).

``store_db``: a pool on a fresh database with every packaged migration applied by the real runner
(kiebot.store.migrations), so tests see exactly the schema production gets.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from kiebot.store.db import Database
from kiebot.store.migrations import apply_migrations


@pytest.fixture
async def store_db(database_url: str, aio_loop: None) -> AsyncIterator[Database]:
    async with Database.open(database_url, max_size=20) as db:
        await apply_migrations(db)
        yield db
