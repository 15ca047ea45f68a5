"""Group commit for the webhook: updates that arrive together are stored by one INSERT.

Why: Telegram may be answered only once its update is stored (DESIGN.md "Two flows"), so every
webhook request costs a round trip to PostgreSQL and a commit. Under load those round trips are
most of the webhook's cost (a py-spy profile of ``benchmarks/ingest.py`` at 500 updates/s put
about half of the bot's samples in socket sends, to PostgreSQL and back to the client), and
Telegram's 40 connections per bot send in parallel. So requests hand their update to one writer
task: while it writes a batch, the next requests queue, and they go together in the next
statement. An idle bot writes a lone update at once, so nothing waits for a batch to fill.

The writer has a database connection of its own (:meth:`kiebot.store.db.Database.dedicated`),
outside the pool: whatever else queues for pooled connections (a flood of probe requests, a
burst of handlers, a slow scrape) cannot make an update wait to be stored. A connection idle for
``max_idle_s`` (``Limits.intake_conn_max_idle_s``) is replaced before use, and a reused one that
fails as unreachable is replaced and the batch tried once more (it may have died while idle: a
server restart, a proxy's idle timeout); a fresh one that fails answers the batch's requests with the failure (503, Telegram
retries). A retried batch may have been stored by the first attempt: its updates then count as
duplicates, which is harmless.

Limits it keeps: at most :data:`MAX_BATCH` updates per statement (a bounded message and lock
time); a batch the database refuses for a reason other than being unreachable is retried one
update at a time, so one unstorable update cannot fail the others; a request stops waiting at
its own deadline (its update may still be stored: Telegram's retry is then a duplicate, and
duplicates are ignored by ``update_id``).
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass, field

import trio

from kiebot.intake.dispatch import INTAKE_CONTEXT
from kiebot.logs import request_context
from kiebot.store import inbox
from kiebot.store.db import Conn, Database, DatabaseUnavailable, PostgresError
from kiebot.store.inbox import InboxItem

log = logging.getLogger(__name__)

#: Updates per INSERT at most; Telegram's 40 connections per bot rarely queue more at once.
MAX_BATCH = 256


@dataclass(eq=False)
class _Waiter:
    item: InboxItem
    done: trio.Event = field(default_factory=trio.Event)
    new: bool = False
    error: DatabaseUnavailable | PostgresError | None = None


class InboxWriter:
    """``await writer.put(item)`` stores one update (True when new); :meth:`run` is the writer
    task and must run for puts to complete."""

    def __init__(self, db: Database, *, max_batch: int = MAX_BATCH, max_idle_s: float = 300.0) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be >= 1")
        self._db = db
        self._max_batch = max_batch
        self._max_idle_s = max_idle_s
        self._queue: list[_Waiter] = []
        self._work = trio.Event()
        self._conn: Conn | None = None
        self._closer: contextlib.AsyncExitStack | None = None
        self._last_used = 0.0
        self.batches = 0  # statements written, for tests and metrics
        self.connections = 0  # connections opened, for tests

    async def put(self, item: InboxItem) -> bool:
        """Store ``item`` with whatever else is waiting; raises ``DatabaseUnavailable`` (or the
        database's refusal of this update) like :func:`kiebot.store.inbox.put` would."""
        waiter = _Waiter(item)
        self._queue.append(waiter)
        self._work.set()
        await waiter.done.wait()
        if waiter.error is not None:
            raise waiter.error
        return waiter.new

    async def run(self, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        if self._queue:  # restarted by the supervisor with requests still waiting
            self._work.set()
        try:
            while True:
                await self._work.wait()
                self._work = trio.Event()
                while self._queue:
                    batch, self._queue = self._queue[: self._max_batch], self._queue[self._max_batch :]
                    await self._write(batch)
        finally:
            await self._disconnect()

    async def _write(self, batch: list[_Waiter]) -> None:
        try:
            new_ids = await self._store(batch)
        except DatabaseUnavailable as exc:
            self._settle(batch, error=exc)
            return
        except PostgresError as exc:
            if len(batch) == 1:
                self._settle(batch, error=exc)
                return
            log.warning("webhook batch refused; storing its updates one by one", extra={"updates": len(batch)})
            for waiter in batch:
                await self._write([waiter])
            return
        self._settle(batch, new_ids=new_ids)

    async def _store(self, batch: list[_Waiter]) -> set[int]:
        self.batches += 1
        items = [w.item for w in batch]
        with request_context(INTAKE_CONTEXT):
            return await self._put(items)

    async def _put(self, items: list[InboxItem]) -> set[int]:
        conn, fresh = await self._connection()
        try:
            new_ids = await inbox.put_many_new(conn, items)
        except DatabaseUnavailable:
            await self._disconnect()
            if fresh:
                raise
            log.info("webhook writer: its connection was lost; reconnecting", extra={"updates": len(items)})
            conn, _ = await self._connection()
            try:
                new_ids = await inbox.put_many_new(conn, items)
            except DatabaseUnavailable:
                await self._disconnect()
                raise
        self._last_used = trio.current_time()
        return new_ids

    async def _connection(self) -> tuple[Conn, bool]:
        """The writer's own connection, and whether it was opened just now."""
        if self._conn is not None and (self._conn.is_closed() or trio.current_time() - self._last_used > self._max_idle_s):
            await self._disconnect()
        if self._conn is not None:
            return self._conn, False
        closer = contextlib.AsyncExitStack()
        self._conn = await closer.enter_async_context(self._db.dedicated(fixed_plans=True))
        self._closer = closer
        self.connections += 1
        return self._conn, True

    async def _disconnect(self) -> None:
        closer, self._closer, self._conn = self._closer, None, None
        if closer is None:
            return
        # Shielded: closing after a cancellation (shutdown) must still release the server's slot.
        # An error here means the connection is already gone: nothing left to close politely.
        with trio.CancelScope(shield=True), trio.move_on_after(2), contextlib.suppress(DatabaseUnavailable, PostgresError):
            await closer.aclose()

    @staticmethod
    def _settle(
        batch: list[_Waiter], *, new_ids: set[int] | None = None, error: DatabaseUnavailable | PostgresError | None = None
    ) -> None:
        fresh = set(new_ids or ())
        for waiter in batch:
            waiter.error = error
            waiter.new = waiter.item.update_id in fresh
            fresh.discard(waiter.item.update_id)  # an id twice in one batch is new once
            waiter.done.set()
