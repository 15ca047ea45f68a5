"""From ``Settings`` to a ready :class:`~kiebot.store.db.Database`: server, pool, schema.

``DATABASE_URL`` set → that server (any PostgreSQL ≥ 13, Render's included). Unset → the embedded
PostgreSQL in ``KIEBOT_DATA_DIR/pgdata``, started here and stopped when the store closes.
Then the pool is opened and migrations are applied (under the migration advisory lock, so every
instance may do it at every start).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator

from kiebot.config import Settings, data_dir, masked_database_url
from kiebot.store.db import Database
from kiebot.store.embedded import embedded_postgres
from kiebot.store.migrations import apply_migrations

log = logging.getLogger(__name__)


@contextlib.asynccontextmanager
async def resolve_database_url(settings: Settings) -> AsyncIterator[str]:
    """Yield the URL to connect to, running the embedded server meanwhile when ``DATABASE_URL`` is unset."""
    if settings.database_url:
        log.info("using DATABASE_URL", extra={"database": masked_database_url(settings.database_url)})
        yield settings.database_url
        return
    async with embedded_postgres(data_dir(settings) / "pgdata") as server:
        yield server.url


@contextlib.asynccontextmanager
async def open_store(settings: Settings, *, migrate: bool = True) -> AsyncIterator[Database]:
    """The application's database: pool of ``DB_POOL_SIZE`` connections, schema up to date.

    Must run inside ``trio_asyncio.open_loop()``. Dedicated connections (leadership, LISTEN) come
    from :meth:`Database.dedicated` and do not count against the pool.

    Raises:
        kiebot.store.migrations.MigrationError: the schema cannot be used by this code (e.g.
            ``SchemaTooNew``); start-up must stop.
        kiebot.store.db.DatabaseUnavailable: the server cannot be reached.
        kiebot.store.embedded.EmbeddedPostgresError: the embedded server cannot start.
    """
    async with (
        resolve_database_url(settings) as url,
        Database.open(url, min_size=1, max_size=settings.db_pool_size) as db,
    ):
        if migrate:
            await apply_migrations(db)
        yield db
