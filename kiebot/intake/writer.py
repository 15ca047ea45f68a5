"""Group commit for the webhook: updates that arrive together are stored by one INSERT.

Why: Telegram may be answered only once its update is stored (DESIGN.md "Two flows"), so every
webhook request costs a round trip to PostgreSQL and a commit. Under load those round trips are
most of the webhook's cost (a py-spy profile of ``benchmarks/ingest.py`` at 500 updates/s put
about half of the bot's samples in socket sends, to PostgreSQL and back to the client), and
Telegram's 40 connections per bot send in parallel. So requests hand their update to one writer
task: while it writes a batch, the next requests queue, and they go together in the next
statement. An idle bot writes a lone update at once, so nothing waits for a batch to fill.

Limits it keeps: at most :data:`MAX_BATCH` updates per statement (a bounded message and lock
time); a batch the database refuses for a reason other than being unreachable is retried one
update at a time, so one unstorable update cannot fail the others; a request stops waiting at
its own deadline (its update may still be stored: Telegram's retry is then a duplicate, and
duplicates are ignored by ``update_id``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import trio

from kiebot.intake.dispatch import INTAKE_CONTEXT
from kiebot.logs import request_context
from kiebot.store import inbox
from kiebot.store.db import Database, DatabaseUnavailable, PostgresError
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

    def __init__(self, db: Database, *, max_batch: int = MAX_BATCH) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be >= 1")
        self._db = db
        self._max_batch = max_batch
        self._queue: list[_Waiter] = []
        self._work = trio.Event()
        self.batches = 0  # statements written, for tests and metrics

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
        while True:
            await self._work.wait()
            self._work = trio.Event()
            while self._queue:
                batch, self._queue = self._queue[: self._max_batch], self._queue[self._max_batch :]
                await self._write(batch)

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
        with request_context(INTAKE_CONTEXT):
            async with self._db.connection() as conn:
                return await inbox.put_many_new(conn, [w.item for w in batch])

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
