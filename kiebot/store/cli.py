"""``python -m kiebot migrate``: apply pending migrations and print the schema version.

Uses ``DATABASE_URL`` when set, else the embedded PostgreSQL in ``KIEBOT_DATA_DIR`` (started for
the duration of the command). Prints one line per applied migration, then e.g.::

    schema version 2 (0002_money_jobs)

Exit codes: 0 done (also when nothing was pending), 1 the schema cannot be used by this code
(newer than the code, an edited migration, a failing migration) or the database is unreachable,
2 a configuration error (handled by ``kiebot.__main__``).
"""

from __future__ import annotations

import sys

import trio
import trio_asyncio

from kiebot.config import Settings, load_settings
from kiebot.logs import setup_logging
from kiebot.store.connect import open_store
from kiebot.store.db import DatabaseUnavailable
from kiebot.store.embedded import EmbeddedPostgresError
from kiebot.store.migrations import MigrationError, MigrationReport, apply_migrations


async def _migrate(settings: Settings) -> MigrationReport | str:
    """The report, or the one-line reason it failed (caught inside the loop: trio-asyncio wraps
    whatever escapes ``open_loop()`` in exception groups)."""
    async with trio_asyncio.open_loop():
        try:
            async with open_store(settings, migrate=False) as db:
                return await apply_migrations(db)
        except (MigrationError, EmbeddedPostgresError) as err:
            return str(err)
        except DatabaseUnavailable as err:
            return f"database unavailable ({err}); check DATABASE_URL"


def migrate_main() -> int:
    settings = load_settings()
    # Log lines (e.g. where the embedded server keeps its data) go to stderr; results to stdout.
    setup_logging(settings.log_level, settings.log_format, settings.secrets())
    outcome = trio.run(_migrate, settings)
    if isinstance(outcome, str):
        print(f"kiebot migrate: {outcome}", file=sys.stderr)
        return 1
    for name in outcome.applied:
        print(f"applied {name}")
    suffix = "" if outcome.applied else ", up to date"
    print(outcome.describe() + suffix)
    return 0
