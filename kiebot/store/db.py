"""The only door to PostgreSQL: a typed wrapper over triopg (asyncpg under trio-asyncio).

Nothing from triopg or asyncpg leaks out of ``store/``: callers get :class:`Database`,
:class:`Conn` and plain ``Record`` mappings, and driver failures that mean "the database is not
reachable" become :class:`DatabaseUnavailable` (the webhook turns that into 503 + Retry-After, so
Telegram retries and no update is lost).

Everything here must run inside ``trio_asyncio.open_loop()`` (triopg issue #16). The pool is for
normal work; :meth:`Database.dedicated` opens a connection that never returns to the pool, for the
leadership advisory lock and for LISTEN — asyncpg's pool reset runs ``pg_advisory_unlock_all()``
and ``UNLISTEN *`` when a connection is released (asyncpg ``connection.get_reset_query``).
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import Any, Final, cast

import asyncpg
import trio
import triopg

from kiebot.store.pool import TrioPool

log = logging.getLogger(__name__)

Record = Mapping[str, Any]

# Errors that mean "the server is not there", as opposed to a bad query.
_UNAVAILABLE: tuple[type[BaseException], ...] = (
    OSError,
    ConnectionError,
    asyncpg.exceptions.ConnectionDoesNotExistError,
    asyncpg.exceptions.ConnectionFailureError,
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.AdminShutdownError,
    asyncpg.exceptions.CrashShutdownError,
    asyncpg.exceptions.TooManyConnectionsError,
    asyncpg.exceptions.InterfaceError,
    asyncpg.exceptions.InternalClientError,  # a connection killed mid-transaction ("cannot switch to state")
    TimeoutError,
)

UniqueViolation = asyncpg.exceptions.UniqueViolationError
SerializationFailure = asyncpg.exceptions.SerializationError
DeadlockDetected = asyncpg.exceptions.DeadlockDetectedError
CheckViolation = asyncpg.exceptions.CheckViolationError
PostgresError = asyncpg.exceptions.PostgresError


class DatabaseUnavailable(RuntimeError):
    """PostgreSQL cannot be reached right now; the caller should retry later (never lose data)."""


@contextlib.contextmanager
def _translate() -> Any:
    try:
        yield
    except asyncpg.exceptions.DataError:
        raise  # a bad query argument is a bug to see, not an outage to retry for ever
    except _UNAVAILABLE as err:
        raise DatabaseUnavailable(type(err).__name__) from err


async def _init_connection(conn: Any) -> None:
    """asyncio-side connection set-up: jsonb/json as Python objects."""
    for typ in ("jsonb", "json"):
        await conn.set_type_codec(typ, encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


StatementHook = Callable[[str], None]
"""Told the text of every statement a :class:`Conn` sends (``BEGIN``/``COMMIT``/``ROLLBACK``
included): how tests count the round trips an update costs (tests/app/test_statement_counts.py)."""


class Conn:
    """One connection (pooled or dedicated) with typed query helpers."""

    def __init__(self, raw: Any, owner: Database | None = None) -> None:
        self._raw = raw
        self._owner = owner

    def _seen(self, sql: str) -> None:
        hook = None if self._owner is None else self._owner.on_statement
        if hook is not None:
            hook(sql)

    async def execute(self, sql: str, *args: Any) -> str:
        self._seen(sql)
        with _translate():
            return cast(str, await self._raw.execute(sql, *args))

    async def executemany(self, sql: str, args: Sequence[Sequence[Any]]) -> None:
        self._seen(sql)
        with _translate():
            await self._raw.executemany(sql, args)

    async def fetch(self, sql: str, *args: Any) -> list[Record]:
        self._seen(sql)
        with _translate():
            return cast(list[Record], await self._raw.fetch(sql, *args))

    async def fetchrow(self, sql: str, *args: Any) -> Record | None:
        self._seen(sql)
        with _translate():
            return cast("Record | None", await self._raw.fetchrow(sql, *args))

    async def fetchval(self, sql: str, *args: Any) -> Any:
        self._seen(sql)
        with _translate():
            return await self._raw.fetchval(sql, *args)

    @contextlib.asynccontextmanager
    async def transaction(self, *, isolation: str = "read_committed") -> AsyncIterator[Conn]:
        """A transaction on this connection; commit on exit, rollback on error (exit is shielded)."""
        nested = bool(self._raw.is_in_transaction())
        self._seen("SAVEPOINT" if nested else "BEGIN")
        committed = False
        try:
            with _translate():
                async with self._raw.transaction(isolation=isolation):
                    yield self
                    committed = True
        finally:
            if committed:
                self._seen("RELEASE SAVEPOINT" if nested else "COMMIT")
            else:
                self._seen("ROLLBACK TO SAVEPOINT" if nested else "ROLLBACK")

    @contextlib.asynccontextmanager
    async def listen(self, channel: str, max_buffer_size: int = 64) -> AsyncIterator[trio.MemoryReceiveChannel[Any]]:
        """LISTEN on ``channel``; payloads (or ``NOTIFY_OVERFLOW``) arrive on the returned channel.

        Only meaningful on a dedicated connection (the pool's reset runs ``UNLISTEN *``). When the
        connection is lost the channel ends (``trio.EndOfChannel``), so a listener learns at once
        that it must reconnect instead of waiting forever for notifications that cannot come.
        When more than ``max_buffer_size`` payloads wait unread, newer ones are dropped and one
        ``NOTIFY_OVERFLOW`` marks the gap (as triopg's own ``listen`` does).
        """
        if max_buffer_size < 1:
            raise ValueError("max_buffer_size must be at least 1")
        send, receive = trio.open_memory_channel[Any](max_buffer_size + 1)

        def on_notify(_conn: Any, _pid: int, _channel: str, payload: str) -> None:
            try:
                stats = send.statistics()
                if stats.current_buffer_used == stats.max_buffer_size - 1:
                    send.send_nowait(NOTIFY_OVERFLOW)
                send.send_nowait(payload)
            except (trio.WouldBlock, trio.ClosedResourceError):
                pass  # buffer full (overflow already marked) or listener gone

        def on_lost(_conn: Any) -> None:
            send.close()

        async with receive:
            with _translate():
                await self._raw.add_listener(channel, on_notify)
            self._raw.add_termination_listener(on_lost)
            try:
                yield receive
            finally:
                self._raw.remove_termination_listener(on_lost)
                send.close()
                if not self._raw.is_closed():
                    with trio.CancelScope(shield=True), trio.move_on_after(5), contextlib.suppress(*_UNAVAILABLE):
                        await self._raw.remove_listener(channel, on_notify)

    def lost_event(self) -> trio.Event:
        """An event set as soon as the server or the network drops this connection.

        asyncpg notices a terminated backend (``pg_terminate_backend``, a server restart, a reset
        socket) without a query in flight and calls its termination listeners; the leadership
        service uses this to step down at once instead of at its next heartbeat. Meant for
        dedicated connections: a pooled one outlives its ``Conn``.
        """
        event = trio.Event()
        if self._raw.is_closed():
            event.set()
        else:
            self._raw.add_termination_listener(lambda _conn: event.set())
        return event

    def backend_pid(self) -> int:
        """The PostgreSQL backend process id serving this connection (``pg_backend_pid()``)."""
        return int(self._raw.get_server_pid())

    def in_transaction(self) -> bool:
        """True inside an explicit transaction (``Conn.transaction()``) on this connection."""
        return bool(self._raw.is_in_transaction())

    def is_closed(self) -> bool:
        return bool(self._raw.is_closed())

    def terminate(self) -> None:
        """Drop the socket at once (tests use it to simulate a lost connection)."""
        self._raw.terminate()


NOTIFY_OVERFLOW = triopg.NOTIFY_OVERFLOW


#: Session settings of the connections for statements whose plan is fixed by their text.
GENERIC_PLANS: Final = {"plan_cache_mode": "force_generic_plan"}
#: Connections for those statements at most: the dispatcher's claim and the finisher each send
#: one statement at a time (the intake writer has a dedicated connection).
FIXED_PLAN_POOL_SIZE: Final = 4


class Database:
    """A connection pool plus a way to open dedicated connections.

    Use :meth:`open` (an async context manager) inside ``trio_asyncio.open_loop()``.
    """

    def __init__(self, url: str, pool: Any, fixed_plan_pool: Any = None) -> None:
        self.url = url
        self._pool = pool
        self._fixed_plan_pool = fixed_plan_pool if fixed_plan_pool is not None else pool
        #: Set to observe every statement sent on this database's connections (tests count them).
        self.on_statement: StatementHook | None = None

    @classmethod
    @contextlib.asynccontextmanager
    async def open(cls, url: str, *, min_size: int = 1, max_size: int = 10) -> AsyncIterator[Database]:
        """Open the pool (:class:`kiebot.store.pool.TrioPool`) and check the server answers.

        ``min_size`` connections are opened at once, so an unreachable server fails here, at
        start-up, with :class:`DatabaseUnavailable` rather than at the first request.
        """
        pool = TrioPool(url, max_size=max_size, init=_init_connection, command_timeout=60)
        # Opened on demand: a process that never dispatches updates never opens one.
        fixed = TrioPool(
            url, max_size=FIXED_PLAN_POOL_SIZE, init=_init_connection, command_timeout=60, server_settings=dict(GENERIC_PLANS)
        )
        try:
            with _translate():
                async with contextlib.AsyncExitStack() as warm:
                    for _ in range(max(0, min(min_size, max_size))):
                        raw = await warm.enter_async_context(pool.acquire())
                        await raw.fetchval("SELECT 1")
            yield cls(url, pool, fixed)
        finally:
            await fixed.close()
            await pool.close()

    @contextlib.asynccontextmanager
    async def connection(self) -> AsyncIterator[Conn]:
        with _translate():
            async with self._pool.acquire() as raw:
                yield Conn(raw, self)

    @contextlib.asynccontextmanager
    async def fixed_plan_connection(self) -> AsyncIterator[Conn]:
        """A pooled connection whose session plans prepared statements once, generically
        (``plan_cache_mode = force_generic_plan``), for the inbox's hot statements only: the
        claim, the finish, the intake INSERT.

        Why (issue 18): PostgreSQL re-plans a prepared statement on every call while its "custom"
        plan looks cheaper than the generic one, and for the claim (its ``LIMIT $1``) it always
        does: in a perf profile of ``benchmarks/e2e.py`` planning was over 40% of PostgreSQL's CPU.
        Not for every statement: a generic plan cannot use a partial index whose predicate depends
        on a parameter, so a statement written for custom plans (``state = ANY($1)``) could turn
        into a scan. The inbox's statements are written so that their one shape is the right one
        (tests/store/test_inbox_claim_cost.py checks the claim's generic plan)."""
        with _translate():
            async with self._fixed_plan_pool.acquire() as raw:
                yield Conn(raw, self)

    @contextlib.asynccontextmanager
    async def transaction(self, *, isolation: str = "read_committed") -> AsyncIterator[Conn]:
        """Acquire a pooled connection and run one transaction on it."""
        async with self.connection() as conn, conn.transaction(isolation=isolation):
            yield conn

    @contextlib.asynccontextmanager
    async def dedicated(self, *, fixed_plans: bool = False) -> AsyncIterator[Conn]:
        """A connection outside the pool (advisory locks, LISTEN); closed on exit. ``fixed_plans``:
        its session plans generically, as :meth:`fixed_plan_connection`'s."""
        extra: dict[str, Any] = {"server_settings": dict(GENERIC_PLANS)} if fixed_plans else {}
        with _translate():
            async with triopg.connect(self.url, command_timeout=60, **extra) as raw:
                for typ in ("jsonb", "json"):
                    await raw.set_type_codec(typ, encoder=json.dumps, decoder=json.loads, schema="pg_catalog")
                yield Conn(raw, self)

    async def execute(self, sql: str, *args: Any) -> str:
        async with self.connection() as conn:
            return await conn.execute(sql, *args)

    async def fetch(self, sql: str, *args: Any) -> list[Record]:
        async with self.connection() as conn:
            return await conn.fetch(sql, *args)

    async def fetchrow(self, sql: str, *args: Any) -> Record | None:
        async with self.connection() as conn:
            return await conn.fetchrow(sql, *args)

    async def fetchval(self, sql: str, *args: Any) -> Any:
        async with self.connection() as conn:
            return await conn.fetchval(sql, *args)

    async def ping(self) -> bool:
        """True when a pooled connection answers ``SELECT 1`` within 2 s."""
        with trio.move_on_after(2):
            try:
                return bool(await self.fetchval("SELECT 1") == 1)
            except DatabaseUnavailable:
                return False
        return False
