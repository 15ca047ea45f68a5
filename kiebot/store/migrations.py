"""Schema migrations: ordered SQL files applied once each, at start-up, by whichever instance gets there first.

Files live in ``kiebot/store/migrations/NNNN_name.sql`` (versions 1, 2, 3… without gaps). The
``schema_migrations`` table records each applied file with its SHA-256, in the spirit of synapse's
schema deltas (docs/development/database_schema.md):

* every file runs in its own transaction together with its bookkeeping row, so a failing file
  leaves nothing half-applied and is retried on the next start;
* the whole run holds ``pg_advisory_lock`` on a fixed key, so two instances starting at once apply
  each file exactly once — the second waits, then finds nothing left to do;
* a database that records a version this code does not have (a rollback to an older release) is
  refused with :class:`SchemaTooNew` before anything is touched: old code on a newer schema could
  write rows the new code misreads, and money is at stake;
* an applied file whose text has since changed raises :class:`MigrationChecksumMismatch`:
  released migrations are immutable, a fix goes into a new file.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import re
from collections.abc import Sequence
from datetime import datetime
from importlib import resources
from importlib.abc import Traversable
from pathlib import Path

import msgspec
import trio

from kiebot.store.db import Conn, Database, DatabaseUnavailable

log = logging.getLogger(__name__)

# pg_advisory_lock key for the migration run: "kiebot:migrations" as a fixed 63-bit number,
# different from the leadership key (kiebot/store/leadership.py).
MIGRATION_LOCK_KEY = 0x6B69_6562_6F74_6D67

_FILE_RE = re.compile(r"^(\d{4})_([a-z0-9][a-z0-9_]*)\.sql$")

_CREATE_BOOKKEEPING = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    integer     PRIMARY KEY,
    name       text        NOT NULL,
    checksum   text        NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)
"""


class Migration(msgspec.Struct, frozen=True):
    """One migration file: ``version`` 1 is ``0001_core.sql`` whose ``name`` is ``0001_core``."""

    version: int
    name: str
    sql: str
    checksum: str


class AppliedMigration(msgspec.Struct, frozen=True):
    version: int
    name: str
    checksum: str
    applied_at: datetime


class MigrationReport(msgspec.Struct, frozen=True):
    """The schema after a run: its ``version`` and ``name`` (``0`` and ``""`` for an empty list of
    migrations) and the names applied by this run (empty when the database was up to date)."""

    version: int
    name: str
    applied: tuple[str, ...]

    def describe(self) -> str:
        """``schema version 2 (0002_money_jobs)``, as ``python -m kiebot migrate`` prints it."""
        return f"schema version {self.version} ({self.name})" if self.version else "schema version 0 (empty)"


class MigrationError(RuntimeError):
    """The database schema and the code disagree; start-up must stop (the message says how)."""


class SchemaTooNew(MigrationError):
    """The database has migrations this code does not know: it was migrated by a newer release."""

    def __init__(self, database: AppliedMigration, code_version: int, code_name: str) -> None:
        self.database_version = database.version
        self.code_version = code_version
        super().__init__(
            f"database schema is at version {database.version} ({database.name}) but this kiebot only knows "
            f"up to version {code_version} ({code_name or 'none'}); it was migrated by a newer release. "
            "Run that release (or newer), or restore a backup taken before the upgrade; kiebot will not "
            "run on a schema newer than its code."
        )


class MigrationChecksumMismatch(MigrationError):
    """An already-applied migration file was edited afterwards."""

    def __init__(self, name: str, recorded: str, current: str) -> None:
        self.name = name
        super().__init__(
            f"migration {name} was applied with checksum {recorded[:12]}… but the file now has {current[:12]}…; "
            "applied migrations must never change — restore the original file and put the change in a new "
            "numbered migration"
        )


class MigrationFailed(MigrationError):
    """A migration's SQL raised; its transaction was rolled back and nothing of it remains."""


def checksum(sql: str) -> str:
    """SHA-256 of the file text with line endings normalised (a CRLF checkout is not an edit)."""
    return hashlib.sha256(sql.replace("\r\n", "\n").encode()).hexdigest()


def _default_directory() -> Traversable:
    return resources.files("kiebot.store").joinpath("migrations")


def load_migrations(directory: Traversable | Path | None = None) -> tuple[Migration, ...]:
    """Read ``NNNN_name.sql`` files from ``directory`` (default: the packaged ones), in order.

    Raises:
        MigrationError: a file name does not follow ``NNNN_name.sql``, two files share a version,
            or versions do not run 1, 2, 3… without a gap.
    """
    folder = directory if directory is not None else _default_directory()
    found: list[Migration] = []
    for entry in folder.iterdir():
        if not entry.name.endswith(".sql"):
            continue
        match = _FILE_RE.match(entry.name)
        if not match:
            raise MigrationError(f"migration file {entry.name!r} is not named NNNN_name.sql (lower case)")
        sql = entry.read_text(encoding="utf-8")
        found.append(Migration(int(match.group(1)), entry.name[: -len(".sql")], sql, checksum(sql)))
    found.sort(key=lambda m: m.version)
    for expected, migration in enumerate(found, start=1):
        if migration.version != expected:
            raise MigrationError(
                f"migration versions must run 1, 2, 3… without gaps or duplicates; "
                f"expected version {expected}, found {migration.name}"
            )
    return tuple(found)


async def applied_migrations(conn: Conn) -> list[AppliedMigration]:
    """What ``schema_migrations`` records, oldest first (empty on a fresh database)."""
    exists = await conn.fetchval("SELECT to_regclass('schema_migrations') IS NOT NULL")
    if not exists:
        return []
    rows = await conn.fetch("SELECT version, name, checksum, applied_at FROM schema_migrations ORDER BY version")
    return [AppliedMigration(r["version"], r["name"], r["checksum"], r["applied_at"]) for r in rows]


async def schema_version(conn: Conn) -> AppliedMigration | None:
    """The newest applied migration, or None on a fresh database (for /readyz and the CLI)."""
    applied = await applied_migrations(conn)
    return applied[-1] if applied else None


def check_compatible(applied: Sequence[AppliedMigration], migrations: Sequence[Migration]) -> None:
    """Raise when the recorded migrations cannot be continued by ``migrations``.

    Raises:
        SchemaTooNew: the database has a version beyond the newest file.
        MigrationChecksumMismatch: an applied file changed since.
        MigrationError: an applied version has a different name than the file of that version.
    """
    known = {m.version: m for m in migrations}
    newest = migrations[-1] if migrations else None
    for row in applied:
        migration = known.get(row.version)
        if migration is None:
            raise SchemaTooNew(applied[-1], newest.version if newest else 0, newest.name if newest else "")
        if migration.name != row.name:
            raise MigrationError(
                f"database recorded version {row.version} as {row.name} but this kiebot has {migration.name}; "
                "the migration files do not belong to this database"
            )
        if migration.checksum != row.checksum:
            raise MigrationChecksumMismatch(row.name, row.checksum, migration.checksum)


async def _apply_one(conn: Conn, migration: Migration) -> None:
    try:
        async with conn.transaction():
            await conn.execute(migration.sql)
            await conn.execute(
                "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
                migration.version,
                migration.name,
                migration.checksum,
            )
    except DatabaseUnavailable:
        raise
    except Exception as err:
        raise MigrationFailed(f"migration {migration.name} failed and was rolled back: {err}") from err


async def apply_migrations(db: Database, migrations: Sequence[Migration] | None = None) -> MigrationReport:
    """Bring the schema up to date; safe to call from every instance at every start.

    Holds ``pg_advisory_lock(MIGRATION_LOCK_KEY)`` for the whole run on one pooled connection (the
    pool's reset query would release it anyway if this task were cancelled midway). Cancelling the
    caller cancels the wait for the lock.

    Raises:
        SchemaTooNew, MigrationChecksumMismatch, MigrationFailed, MigrationError: see the classes.
        DatabaseUnavailable: PostgreSQL cannot be reached.
    """
    plan = tuple(migrations) if migrations is not None else load_migrations()
    async with db.connection() as conn:
        await conn.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK_KEY)
        try:
            await conn.execute(_CREATE_BOOKKEEPING)
            applied = await applied_migrations(conn)
            check_compatible(applied, plan)
            done = {row.version for row in applied}
            names: list[str] = []
            for migration in plan:
                if migration.version in done:
                    continue
                log.info("applying migration", extra={"migration": migration.name})
                await _apply_one(conn, migration)
                names.append(migration.name)
        finally:
            if not conn.is_closed():
                with (
                    trio.CancelScope(shield=True),
                    trio.move_on_after(5),
                    contextlib.suppress(DatabaseUnavailable),
                ):
                    await conn.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK_KEY)
    newest = plan[-1] if plan else None
    report = MigrationReport(newest.version if newest else 0, newest.name if newest else "", tuple(names))
    log.info("schema up to date", extra={"schema_version": report.version, "applied": list(report.applied)})
    return report
