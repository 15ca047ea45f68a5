"""``python -m kiebot migrate`` run from outside, as an operator (or Render's pre-deploy step) would."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import trio

from kiebot.store.db import Database
from kiebot.store.migrations import load_migrations

REPO = Path(__file__).resolve().parents[2]


async def _migrate(env_overrides: dict[str, str], *, unset: tuple[str, ...] = ()) -> subprocess.CompletedProcess[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KIEBOT_", "DATABASE_URL")) and k not in unset}
    env.update(env_overrides)
    return await trio.run_process(
        [sys.executable, "-m", "kiebot", "migrate"], env=env, cwd=REPO, capture_stdout=True, capture_stderr=True, check=False
    )


@pytest.mark.slow
async def test_migrate_command_against_database_url(database_url: str, aio_loop: None) -> None:
    expected = load_migrations()
    newest = expected[-1]
    with trio.fail_after(60):
        first = await _migrate({"DATABASE_URL": database_url})
        assert first.returncode == 0, first.stderr.decode()
        lines = first.stdout.decode().splitlines()
        assert lines == [f"applied {m.name}" for m in expected] + [f"schema version {newest.version} ({newest.name})"]

        second = await _migrate({"DATABASE_URL": database_url})
        assert second.returncode == 0, second.stderr.decode()
        assert second.stdout.decode().splitlines() == [f"schema version {newest.version} ({newest.name}), up to date"]

        # A newer release migrated this database: this code must refuse it and change nothing.
        future = f"{newest.version + 1:04d}_future"
        async with Database.open(database_url, max_size=1) as db:
            await db.execute(
                "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, 'x')", newest.version + 1, future
            )
            third = await _migrate({"DATABASE_URL": database_url})
            assert third.returncode == 1
            assert third.stdout == b""
            message = third.stderr.decode()
            assert f"database schema is at version {newest.version + 1} ({future})" in message
            assert "newer release" in message
            assert await db.fetchval("SELECT count(*) FROM schema_migrations") == len(expected) + 1


@pytest.mark.slow
async def test_migrate_command_with_embedded_server(tmp_path: Path) -> None:
    newest = load_migrations()[-1]
    env = {"KIEBOT_DATA_DIR": str(tmp_path / "data")}
    with trio.fail_after(60):
        first = await _migrate(env)
        assert first.returncode == 0, first.stderr.decode()
        assert first.stdout.decode().splitlines()[-1] == f"schema version {newest.version} ({newest.name})"
        second = await _migrate(env)
        assert second.returncode == 0, second.stderr.decode()
        assert second.stdout.decode().splitlines() == [f"schema version {newest.version} ({newest.name}), up to date"]
    assert (tmp_path / "data" / "pgdata" / "PG_VERSION").exists()
    assert not (tmp_path / "data" / "pgdata" / "postmaster.pid").exists(), "the command stops the server it started"


async def test_migrate_command_reports_an_unreachable_database() -> None:
    with trio.fail_after(30):
        result = await _migrate({"DATABASE_URL": "postgresql://kiebot:s3cr3t-pass@127.0.0.1:1/kiebot"})
    assert result.returncode == 1
    message = result.stderr.decode()
    assert "database unavailable" in message
    assert "s3cr3t-pass" not in message
