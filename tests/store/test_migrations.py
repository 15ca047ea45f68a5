"""The migration runner: order, once-only under concurrency, refusal of newer or edited schemas."""

from __future__ import annotations

from pathlib import Path

import pytest
import trio

from kiebot.store.db import Database
from kiebot.store.migrations import (
    MigrationChecksumMismatch,
    MigrationError,
    MigrationFailed,
    SchemaTooNew,
    applied_migrations,
    apply_migrations,
    load_migrations,
    schema_version,
)


def _write(folder: Path, files: dict[str, str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, sql in files.items():
        (folder / name).write_text(sql)
    return folder


async def _tables(db: Database) -> set[str]:
    rows = await db.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    return {r["tablename"] for r in rows}


def test_packaged_migrations_are_numbered_from_one_and_start_with_core() -> None:
    migrations = load_migrations()
    assert [m.version for m in migrations] == list(range(1, len(migrations) + 1))
    assert migrations[0].name == "0001_core"
    assert all(len(m.checksum) == 64 for m in migrations)


def test_badly_named_or_gapped_files_are_rejected(tmp_path: Path) -> None:
    with pytest.raises(MigrationError, match="NNNN_name"):
        load_migrations(_write(tmp_path / "a", {"1_core.sql": "SELECT 1"}))
    with pytest.raises(MigrationError, match="expected version 2"):
        load_migrations(_write(tmp_path / "b", {"0001_a.sql": "SELECT 1", "0003_c.sql": "SELECT 1"}))
    with pytest.raises(MigrationError, match="expected version 2"):
        load_migrations(_write(tmp_path / "c", {"0001_a.sql": "SELECT 1", "0001_b.sql": "SELECT 1"}))


async def test_packaged_migrations_apply_once(database_url: str, aio_loop: None) -> None:
    with trio.fail_after(20):
        async with Database.open(database_url) as db:
            first = await apply_migrations(db)
            expected = load_migrations()
            assert first.applied == tuple(m.name for m in expected)
            assert (first.version, first.name) == (expected[-1].version, expected[-1].name)
            assert {"updates", "conversation_state", "events", "kv", "leadership", "schema_migrations"} <= await _tables(db)

            second = await apply_migrations(db)
            assert second.applied == ()
            assert second.version == first.version
            async with db.connection() as conn:
                rows = await applied_migrations(conn)
                current = await schema_version(conn)
            assert [r.name for r in rows] == [m.name for m in expected]
            assert current is not None
            assert current.name == expected[-1].name


async def test_two_concurrent_appliers_apply_each_migration_once(
    database_url: str, aio_loop: None, tmp_path: Path
) -> None:
    # The first file sleeps while holding its transaction, so the two runs overlap for certain;
    # without the advisory lock the second CREATE TABLE would fail (or the INSERT run twice).
    folder = _write(
        tmp_path,
        {
            "0001_slow.sql": "CREATE TABLE a (id int PRIMARY KEY); SELECT pg_sleep(0.4); INSERT INTO a VALUES (1);",
            "0002_more.sql": "CREATE TABLE b (id int PRIMARY KEY); INSERT INTO a VALUES (2);",
        },
    )
    plan = load_migrations(folder)
    reports = []
    with trio.fail_after(20):
        async with Database.open(database_url) as db_one, Database.open(database_url) as db_two:

            async def run(db: Database) -> None:
                reports.append(await apply_migrations(db, plan))

            async with trio.open_nursery() as nursery:
                nursery.start_soon(run, db_one)
                nursery.start_soon(run, db_two)

            assert sorted(len(r.applied) for r in reports) == [0, 2]
            assert all(r.version == 2 and r.name == "0002_more" for r in reports)
            assert await db_one.fetchval("SELECT array_agg(id ORDER BY id) FROM a") == [1, 2]
            assert await db_one.fetchval("SELECT count(*) FROM schema_migrations") == 2


async def test_database_newer_than_code_is_refused_before_anything_runs(
    database_url: str, aio_loop: None, tmp_path: Path
) -> None:
    full = load_migrations(_write(tmp_path / "full", {"0001_a.sql": "CREATE TABLE a (id int)", "0002_b.sql": "CREATE TABLE b (id int)"}))
    old = load_migrations(_write(tmp_path / "old", {"0001_a.sql": "CREATE TABLE a (id int)"}))
    with trio.fail_after(20):
        async with Database.open(database_url) as db:
            await apply_migrations(db, full)
            with pytest.raises(SchemaTooNew) as info:
                await apply_migrations(db, old)
            message = str(info.value)
            assert "version 2 (0002_b)" in message
            assert "only knows up to version 1 (0001_a)" in message
            assert info.value.database_version == 2


async def test_edited_applied_migration_is_detected(database_url: str, aio_loop: None, tmp_path: Path) -> None:
    folder = _write(tmp_path, {"0001_a.sql": "CREATE TABLE a (id int);\n"})
    with trio.fail_after(20):
        async with Database.open(database_url) as db:
            await apply_migrations(db, load_migrations(folder))
            # A CRLF checkout of the same text is not an edit.
            (folder / "0001_a.sql").write_bytes(b"CREATE TABLE a (id int);\r\n")
            assert (await apply_migrations(db, load_migrations(folder))).applied == ()
            (folder / "0001_a.sql").write_text("CREATE TABLE a (id bigint);\n")
            with pytest.raises(MigrationChecksumMismatch, match="0001_a was applied with checksum"):
                await apply_migrations(db, load_migrations(folder))


async def test_failing_migration_rolls_back_and_is_retried_later(
    database_url: str, aio_loop: None, tmp_path: Path
) -> None:
    folder = _write(
        tmp_path,
        {"0001_a.sql": "CREATE TABLE a (id int);", "0002_b.sql": "CREATE TABLE b (id int); SELECT 1/0;"},
    )
    with trio.fail_after(20):
        async with Database.open(database_url) as db:
            with pytest.raises(MigrationFailed, match="0002_b failed"):
                await apply_migrations(db, load_migrations(folder))
            assert await _tables(db) == {"a", "schema_migrations"}
            assert await db.fetchval("SELECT max(version) FROM schema_migrations") == 1

            (folder / "0002_b.sql").write_text("CREATE TABLE b (id int);")
            report = await apply_migrations(db, load_migrations(folder))
            assert report.applied == ("0002_b",)
            assert "b" in await _tables(db)
