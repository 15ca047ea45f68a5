"""Experiment (not a fix): the app with a trio-side pool of triopg connections instead of asyncpg's
pool, to measure what ``kiebot/store/db.py`` would gain.

Why: every ``Database.connection()`` goes through asyncpg's ``Pool.acquire``/``release`` across
the trio-asyncio bridge, and each release runs asyncpg's reset query (``SELECT
pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL``) — an extra round trip. On the
benchmark machine a ``SELECT 1`` through ``Database.connection()`` costs ~540 µs of CPU, the same
statement through an idle triopg connection taken from a plain trio list ~150 µs. A /start
update uses about eight connections.

This module swaps ``kiebot.store.db``'s pool factory in this process only: connections are opened
lazily up to ``DB_POOL_SIZE`` with the same json codecs; one that comes back inside a transaction
or closed is dropped instead of reused (what asyncpg's reset would roll back). Unlike asyncpg's
reset it does not release session advisory locks or LISTENs — the app takes those on dedicated
connections, except the migration lock, which ``apply_migrations`` unlocks itself.

Run as the app launcher of a benchmark::

    KIEBOT_BENCH_APP_MODULE=benchmarks._exp_trio_pool KIEBOT_BENCH_E2E_BOTS=lifted python -m benchmarks.e2e
    KIEBOT_BENCH_APP_MODULE=benchmarks._exp_trio_pool KIEBOT_BENCH_APP_ENV=KIEBOT_BENCH_EXP_LIFT=0 python -m benchmarks.ingest

``KIEBOT_BENCH_EXP_LIFT=0`` keeps Telegram's and Kie's limits (the e2e "lifted" row needs them
lifted, the default).
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

import trio
import triopg

from kiebot.store import db as store_db


class TrioPool:
    """The part of triopg's pool that :class:`kiebot.store.db.Database` uses: ``acquire()``."""

    def __init__(self, url: str, *, max_size: int = 10, command_timeout: float = 60, **_: Any) -> None:
        self._url = url
        self._timeout = command_timeout
        self._idle: list[Any] = []
        self._slots = trio.Semaphore(max_size)
        self._stack = contextlib.AsyncExitStack()

    async def __aenter__(self) -> TrioPool:
        return self

    async def __aexit__(self, *exc: object) -> None:
        with trio.CancelScope(shield=True):
            await self._stack.aclose()

    async def _open(self) -> Any:
        raw = await self._stack.enter_async_context(triopg.connect(self._url, command_timeout=self._timeout))
        for typ in ("jsonb", "json"):
            await raw.set_type_codec(typ, encoder=json.dumps, decoder=json.loads, schema="pg_catalog")
        return raw

    @contextlib.asynccontextmanager
    async def acquire(self) -> AsyncIterator[Any]:
        async with self._slots:
            raw = self._idle.pop() if self._idle else await self._open()
            clean = False
            try:
                yield raw
                clean = True
            finally:
                if clean and not raw.is_closed() and not raw.is_in_transaction():
                    self._idle.append(raw)
                elif not raw.is_closed():
                    raw.terminate()  # never reuse a connection left mid-transaction


def install() -> None:
    vars(store_db)["triopg"] = SimpleNamespace(
        create_pool=TrioPool, connect=triopg.connect, NOTIFY_OVERFLOW=triopg.NOTIFY_OVERFLOW
    )


def main() -> int:
    install()
    if os.environ.get("KIEBOT_BENCH_EXP_LIFT", "1") == "1":
        from benchmarks._kiebot_lifted import lift

        lift()
    from kiebot.app import main as app_main

    return app_main()


if __name__ == "__main__":
    sys.exit(main())
