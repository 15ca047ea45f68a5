"""Leadership: exactly one instance polls Telegram, runs the scheduler and registers the webhook.

Any number of instances serve webhooks, dispatch updates and run generations; leader-only work
would be duplicated (two ``getUpdates`` loops get 409 Conflict from Telegram; two schedulers would
double every periodic job), so it runs only on the instance holding the leader advisory lock
(:mod:`kiebot.store.leadership`).

How :class:`Leadership` keeps that true:

* the lock lives on a **dedicated connection** that never returns to the pool;
* while leading it **heartbeats** every ``heartbeat_s`` (20 s): an update of the ``leadership``
  row under ``fail_after(timeout_s)``, which is also the connection probe;
* a **lost connection means stepping down at once**: asyncpg reports the closed socket without a
  query in flight (``Conn.lost_event``), a failed or hung heartbeat does the same, and the
  connection is then aborted so the server frees the lock for the others;
* a follower retries ``pg_try_advisory_lock`` every ``retry_s`` (15 s). When the leader dies its
  session ends (process gone: at once; host gone: TCP keepalives, ~25 s; process frozen:
  ``idle_session_timeout`` of two heartbeat intervals plus ``timeout_s``, 45 s, PostgreSQL ≥ 14),
  so another instance takes over within 60 s (that, plus at most one ``retry_s``).

Split-brain cannot be excluded by any lock service alone (a frozen leader wakes up still
believing it leads until its next heartbeat fails), so leader-only jobs must stay idempotent in
the database — which they are (ledger keys, ``ON CONFLICT``).

Use::

    leadership = Leadership(db, instance=settings.instance_name or socket.gethostname())
    await nursery.start(leadership.run)          # returns after the first acquisition attempt
    nursery.start_soon(run_while_leader, leadership, poller.run)
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Literal, NoReturn

import msgspec
import trio

from kiebot.store import leadership as store
from kiebot.store.db import Conn, Database, DatabaseUnavailable, PostgresError

log = logging.getLogger(__name__)

Mode = Literal["active", "passive"]


class LeadershipStatus(msgspec.Struct, frozen=True):
    """For ``/readyz`` and the admin dashboard: this instance's ``mode`` and who leads."""

    instance: str
    mode: Mode
    since: datetime | None
    terms: int
    leader: store.LeaderInfo | None


class Leadership:
    """This instance's leadership state, kept current by :meth:`run` (start it with ``nursery.start``).

    Args:
        db: the pool (for reading the ``leadership`` row) and the source of the dedicated connection.
        instance: this instance's name, shown in the ``leadership`` row.
        name: the leadership to contend for (one per deployment; tests use others).
        heartbeat_s: interval between heartbeats while leading.
        retry_s: interval between acquisition attempts while following, and the pause after a
            lost connection before reconnecting.
        timeout_s: limit for each acquisition, heartbeat and set-up statement.
    """

    def __init__(
        self,
        db: Database,
        *,
        instance: str,
        name: str = store.DEFAULT_NAME,
        heartbeat_s: float = 20.0,
        retry_s: float = 15.0,
        timeout_s: float = 5.0,
    ) -> None:
        if min(heartbeat_s, retry_s, timeout_s) <= 0:
            raise ValueError("leadership intervals must be positive")
        self.instance = instance
        self.name = name
        self._db = db
        self._key = store.lock_key(name)
        self._heartbeat_s = heartbeat_s
        self._retry_s = retry_s
        self._timeout_s = timeout_s
        self._is_leader = False
        self._since: datetime | None = None
        self._terms = 0
        self._changed = trio.Event()
        self._task_status: trio.TaskStatus[Leadership] | None = None

    # ---- state for the app -------------------------------------------------------------------

    @property
    def is_leader(self) -> bool:
        return self._is_leader

    @property
    def mode(self) -> Mode:
        return "active" if self._is_leader else "passive"

    @property
    def since(self) -> datetime | None:
        """Database time at which the current term began (None while following)."""
        return self._since

    @property
    def terms(self) -> int:
        """How many times this instance became leader since it started."""
        return self._terms

    async def wait_until_leader(self) -> None:
        """Return as soon as this instance leads (at once if it already does)."""
        while not self._is_leader:
            await self._changed.wait()

    async def wait_until_follower(self) -> None:
        """Return as soon as this instance does not lead (at once if it does not)."""
        while self._is_leader:
            await self._changed.wait()

    async def current_leader(self) -> store.LeaderInfo | None:
        """The ``leadership`` row (whoever leads, maybe another instance), read through the pool."""
        async with self._db.connection() as conn:
            return await store.get_leader(conn, self.name)

    async def status(self) -> LeadershipStatus:
        """This instance's mode plus the leader row (None for the row if the database is down)."""
        try:
            with trio.move_on_after(self._timeout_s):
                leader = await self.current_leader()
                return LeadershipStatus(self.instance, self.mode, self._since, self._terms, leader)
        except DatabaseUnavailable:
            pass
        return LeadershipStatus(self.instance, self.mode, self._since, self._terms, None)

    # ---- transitions --------------------------------------------------------------------------

    def _notify(self) -> None:
        changed, self._changed = self._changed, trio.Event()
        changed.set()

    def _become_leader(self, since: datetime) -> None:
        self._is_leader = True
        self._since = since
        self._terms += 1
        log.info("became leader", extra={"instance": self.instance, "leadership": self.name, "term": self._terms})
        self._notify()

    def _step_down(self, reason: str) -> None:
        if not self._is_leader:
            return
        self._is_leader = False
        self._since = None
        level = logging.INFO if reason == "shutdown" else logging.WARNING
        log.log(level, "stepped down as leader", extra={"instance": self.instance, "leadership": self.name, "reason": reason})
        self._notify()

    def _report_started(self) -> None:
        if self._task_status is not None:
            status, self._task_status = self._task_status, None
            status.started(self)

    # ---- the service --------------------------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[Leadership] = trio.TASK_STATUS_IGNORED) -> NoReturn:
        """Contend for leadership forever; reports started after the first attempt (won or lost,
        or failed because the database is unreachable), so the app knows its initial mode."""
        self._task_status = task_status
        try:
            while True:
                try:
                    await self._session()
                except (DatabaseUnavailable, PostgresError, trio.TooSlowError) as err:
                    self._step_down(f"{type(err).__name__}: {err}")
                    log.warning(
                        "leadership connection failed; retrying",
                        extra={"instance": self.instance, "error": f"{type(err).__name__}: {err}", "retry_s": self._retry_s},
                    )
                self._report_started()
                await trio.sleep(self._retry_s)
        finally:
            self._step_down("shutdown")

    async def _session(self) -> None:
        """One dedicated connection's life: campaign on it until it fails."""
        async with self._db.dedicated() as conn:
            lost = conn.lost_event()
            try:
                with trio.fail_after(self._timeout_s):
                    idle = 2 * max(self._heartbeat_s, self._retry_s) + self._timeout_s
                    await store.prepare_session(conn, idle_timeout_s=idle)
                await self._campaign(conn, lost)
            except (DatabaseUnavailable, PostgresError, trio.TooSlowError):
                # Abort the socket: never wait on a hung connection, and let the server free the lock now.
                conn.terminate()
                raise

    async def _campaign(self, conn: Conn, lost: trio.Event) -> NoReturn:
        while True:
            with trio.fail_after(self._timeout_s):
                acquired = await store.try_acquire(conn, self._key)
            if acquired:
                with trio.fail_after(self._timeout_s):
                    since = await store.record_leader(conn, self.name, self.instance)
                await self._lead(conn, lost, since)
            self._report_started()
            with trio.move_on_after(self._retry_s):
                await lost.wait()
                raise DatabaseUnavailable("leadership connection lost")

    async def _lead(self, conn: Conn, lost: trio.Event, since: datetime) -> NoReturn:
        self._become_leader(since)
        self._report_started()
        reason = "shutdown"
        try:
            while True:
                with trio.move_on_after(self._heartbeat_s):
                    await lost.wait()
                    reason = "connection lost"
                    raise DatabaseUnavailable("leader connection lost")
                try:
                    with trio.fail_after(self._timeout_s):
                        await store.heartbeat(conn, self.name, self.instance, since)
                except (DatabaseUnavailable, PostgresError, trio.TooSlowError) as err:
                    reason = f"heartbeat failed ({type(err).__name__})"
                    raise
        finally:
            self._step_down(reason)
            if reason == "shutdown" and not lost.is_set() and not conn.is_closed():
                # Cancelled (the app is stopping): clear the row so /readyz elsewhere shows no
                # stale leader, and unlock so a follower takes over at its next attempt.
                with trio.CancelScope(shield=True), trio.move_on_after(min(2.0, self._timeout_s)):
                    try:
                        await store.clear_leader(conn, self.name, self.instance, since)
                        await store.release(conn, self._key)
                    except (DatabaseUnavailable, PostgresError) as err:
                        log.warning("could not clear the leadership row", extra={"error": type(err).__name__})


async def run_while_leader(leadership: Leadership, service: Callable[[], Awaitable[object]]) -> NoReturn:
    """Run ``service()`` whenever this instance leads; cancel it the moment it steps down.

    If ``service`` returns on its own it is started again only in the next term. Its exceptions
    propagate (wrapped in an ExceptionGroup by the inner nursery) to the caller's supervisor.
    """
    while True:
        await leadership.wait_until_leader()
        async with trio.open_nursery() as nursery:

            async def watch() -> None:
                await leadership.wait_until_follower()
                nursery.cancel_scope.cancel()

            nursery.start_soon(watch)
            await service()
            await leadership.wait_until_follower()
            nursery.cancel_scope.cancel()
