"""Group commit for finished updates: the updates handled at about the same moment are marked
done by one statement.

Why (issue 18): after the sender upsert moved into the claim and the menu's reads into one
statement, the finish was a third of the statements of a ``/start``, and in a py-spy profile of
``benchmarks/e2e.py`` half of the bot's samples were in the socket writes to PostgreSQL. Like the
webhook's writer (:mod:`kiebot.intake.writer`), finishes queue while one statement is in flight
and go together in the next; a lone finish is written at once. Finishes arriving together also
free their dispatch slots together, so the next claim asks for all of them in one statement.

Each caller learns whether its update's chat has another update waiting (the dispatcher then
claims at once) or that the claim was lost (None). The statement commits asynchronously, as
:func:`kiebot.store.inbox.done` does (a lost "done" means the update is handled again after its
lease: the inbox's at-least-once).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import trio

from kiebot.store import inbox
from kiebot.store.db import Database, DatabaseUnavailable

#: Finishes per statement at most.
MAX_BATCH = 256


@dataclass(eq=False)
class _Waiter:
    update_id: int
    token: str
    done: trio.Event = field(default_factory=trio.Event)
    more: bool | None = None
    error: DatabaseUnavailable | None = None
    alone: bool = False  # the writer task has stopped: the caller writes its finish itself


class Finisher:
    """``await finisher.done(update_id, token)``; :meth:`run` is the writer task."""

    def __init__(self, db: Database, *, max_batch: int = MAX_BATCH) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be >= 1")
        self._db = db
        self._max_batch = max_batch
        self._queue: list[_Waiter] = []
        self._work = trio.Event()
        self._running = False
        self._writing: list[_Waiter] = []
        self.statements = 0  # for tests

    async def done(self, update_id: int, token: str) -> bool | None:
        """Mark the claimed update done: whether its chat has another update waiting, or None when
        the claim was no longer ours. Raises ``DatabaseUnavailable`` (the caller retries).

        When the writer task is not running (a shutdown cancelled it) the finish is written here,
        on its own, so a handled update is still recorded."""
        waiter = _Waiter(update_id, token)
        if self._running:
            self._queue.append(waiter)
            self._work.set()
            await waiter.done.wait()
        else:
            waiter.alone = True
        if waiter.alone:
            async with self._db.fixed_plan_connection() as conn:
                return await inbox.done_and_next(conn, update_id, token)
        if waiter.error is not None:
            raise waiter.error
        return waiter.more

    async def run(self, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        self._running = True
        try:
            task_status.started()
            await self._serve()
        finally:
            self._running = False
            queued, self._queue, self._writing = self._writing + self._queue, [], []
            for waiter in queued:
                waiter.alone = True
                waiter.done.set()

    async def _serve(self) -> None:
        while True:
            if not self._queue:
                await self._work.wait()
                self._work = trio.Event()
            batch, self._queue = self._queue[: self._max_batch], self._queue[self._max_batch :]
            if not batch:
                continue
            error: DatabaseUnavailable | None = None
            finished: dict[int, bool] = {}
            self._writing = batch
            try:
                self.statements += 1
                async with self._db.fixed_plan_connection() as conn:
                    finished = await inbox.done_many(conn, [(w.update_id, w.token) for w in batch])
            except DatabaseUnavailable as exc:
                error = exc
            self._writing = []
            for waiter in batch:
                waiter.error = error
                waiter.more = finished.get(waiter.update_id)
                waiter.done.set()
