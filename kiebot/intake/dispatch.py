"""Update intake (long polling) and per-chat ordered dispatch from the inbox table.

Webhook intake lives in :mod:`kiebot.runtime.web`; both end in :func:`kiebot.store.inbox.put`, and only
then is the update acknowledged (a 2xx, or the polling offset moving past it). Dispatch is
at-least-once: a worker claims the next update of up to N chats (the store guarantees one chat's
updates are handed out one at a time, in ``update_id`` order, across every worker of every
instance), runs the handler, then marks it done. A crash in between leaves the claim to expire and
the update is handled again — which is why every money effect downstream is idempotent.

Claims are short and renewed while the handler runs (:data:`CLAIM_LEASE_S`): a chat whose update
was in the hands of a process that died is served again within seconds, not after a minute.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from functools import partial

import msgspec
import trio

from kiebot.intake.finisher import Finisher
from kiebot.logs import request_context
from kiebot.metrics import Metrics
from kiebot.store import inbox
from kiebot.store.db import Database, DatabaseUnavailable
from kiebot.store.leased_work import Admission, LeasedWork, LeaseWatch
from kiebot.store.menu import MenuSnapshot
from kiebot.store.users import User
from kiebot.telegram.errors import Conflict, TelegramError
from kiebot.telegram.polling import Poller
from kiebot.telegram.types import Update, decode_update

log = logging.getLogger(__name__)

Handler = Callable[[Update, User | None, MenuSnapshot | None], Awaitable[None]]
"""Runs one update; the second argument is its sender, already upserted by the claim (or None:
the handler upserts the sender itself, as ``kiebot.bot.router`` does)."""

ALLOWED_UPDATES: tuple[str, ...] = ("message", "callback_query", "pre_checkout_query", "my_chat_member")
"""What the bot handles; sent with setWebhook/getUpdates so Telegram filters the rest
(https://core.telegram.org/bots/api#getupdates, ``allowed_updates``). pre_checkout_query must be
listed, or Stars checkouts time out (reference/telegram.md §1.7)."""


PRECHECKOUT_KEY_BASE = -(1 << 60)

#: The ``request_id`` of intake's own statements (the webhook's group commit, the poller's batch):
#: in logs, and how the statement-count test tells them from handling's.
INTAKE_CONTEXT = "intake"

CLAIM_LEASE_S = 15.0
"""How long a claimed update stays exclusive without its worker renewing the claim (every third of
it while the handler runs). Every later update of the chat waits behind an unfinished claim, so
this is what a user waits after a crash: it was 60 s, unrenewed — with a few SIGKILLs a minute,
most chats stalled most of the time (found by the chaos run, tests/chaos; regression test in
tests/chaos/test_findings.py)."""


def chat_key_of(update: Update) -> int:
    """The inbox key that orders this update among others of the same conversation.

    A pre-checkout query gets a key of its own (below every real chat id — group ids are above
    −2^53): it must be answered within 10 s (https://core.telegram.org/bots/api#answerprecheckoutquery),
    so it must never wait behind a slow update of the user's private chat. Unknown kinds share 0.
    """
    if update.pre_checkout_query is not None:
        return PRECHECKOUT_KEY_BASE - update.pre_checkout_query.from_.id
    return update.chat_id or 0


_BIGINT = range(-(2**63), 2**63)


def check_storable(update: Update, raw: bytes) -> None:
    """Refuse an update the inbox cannot store — ids beyond PostgreSQL's ``bigint``, text that is
    not UTF-8 (msgspec does not validate UTF-8 inside strings; ``json`` columns need it) — so it
    is answered 400 (webhook) or skipped (polling) instead of failing for ever and being re-sent
    by Telegram for ever. Found by tests/fuzz/test_webhook_fuzz.py.

    Raises:
        ValueError: the update cannot be stored (UnicodeDecodeError is a ValueError).
    """
    if update.update_id not in _BIGINT or chat_key_of(update) not in _BIGINT:
        raise ValueError("id out of the 64-bit range")
    raw.decode("utf-8")


class Dispatcher:
    """Claims updates from the inbox and runs ``handler`` on each, at most ``concurrency`` at once
    (the claim/run/renew loop is :class:`kiebot.store.leased_work.LeasedWork`).

    Args:
        lease_s: the claim's lease (default :data:`CLAIM_LEASE_S`), renewed every third of it
            while the handler runs; a handler whose claim was lost meanwhile (renewals failing for
            longer than the lease, and another worker took the update) is cancelled, so one update
            never runs twice at once.
        handler_timeout_s: a handler running longer is cancelled and the update retried later.
        poll_s: how often to look for work without a NOTIFY (a notification is only a hint).
        clock: the app's clock, for the senders' menu figures the claim reads (the free tier's
            24 h window); the real one by default.
    """

    def __init__(
        self,
        db: Database,
        handler: Handler,
        metrics: Metrics,
        *,
        worker: str,
        concurrency: int = 16,
        lease_s: float | None = None,
        handler_timeout_s: float = 45.0,
        poll_s: float = 1.0,
        retry_delay_s: float = 2.0,
        admission: Admission | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self._db = db
        self._clock = clock
        self._handler = handler
        self._metrics = metrics
        self._worker = worker
        self._lease_s = CLAIM_LEASE_S if lease_s is None else lease_s
        self._handler_timeout_s = handler_timeout_s
        self._retry_delay_s = retry_delay_s
        #: Told the id of every update whose handling ended (done, failed or undecodable; not when
        #: the claim was lost). The test harness waits on it instead of polling the inbox.
        self.on_handled: Callable[[int], None] | None = None
        #: Finished updates are marked done together (:mod:`kiebot.intake.finisher`).
        self.finisher = Finisher(db)
        self.work: LeasedWork[inbox.ClaimedUpdate] = LeasedWork(
            "dispatch",
            claim=self._claim,
            work=self._handle,
            renew=self._renew,
            label=lambda item: f"u{item.update_id}",
            open_waiter=partial(inbox.open_wakeups, db),
            concurrency=concurrency,
            lease_s=self._lease_s,
            poll_s=poll_s,
            max_batch=concurrency,
            cancel_on_lost_lease=True,
            admission=admission,
        )

    def stop(self) -> None:
        """Stop claiming new updates; handlers already running finish (graceful shutdown)."""
        self.work.stop()

    @property
    def in_flight(self) -> int:
        return self.work.in_flight

    async def run(self, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            await nursery.start(self.finisher.run)
            await self.work.run(task_status=task_status)
            nursery.cancel_scope.cancel()  # the work has ended: no finish is waiting any more

    async def _claim(self, limit: int) -> list[inbox.ClaimedUpdate]:
        async with self._db.fixed_plan_connection() as conn:
            now = self._clock() if self._clock is not None else None
            return await inbox.claim(conn, self._worker, limit=limit, lease_s=self._lease_s, touch_senders=True, now=now)

    async def _renew(self, item: inbox.ClaimedUpdate) -> bool:
        async with self._db.connection() as conn:
            return await inbox.extend_lease(conn, item.update_id, item.token, self._lease_s)

    async def _handle(self, item: inbox.ClaimedUpdate, lease: LeaseWatch) -> bool:
        """Handle one update; True when its chat may have another update to claim now."""
        began = time.perf_counter()
        outcome = "ok"
        error = ""
        try:
            try:
                update = decode_update(item.raw)
            except (msgspec.DecodeError, ValueError):
                outcome = "undecodable"
                log.error("stored update does not decode; dropping it", extra={"update_id": item.update_id})
            else:
                with trio.move_on_after(self._handler_timeout_s) as scope:
                    try:
                        await self._handler(update, item.sender, item.menu)
                    except Exception as exc:
                        outcome = "failed"
                        error = f"{type(exc).__name__}: {exc}"
                        log.exception("handler failed", extra={"update_id": item.update_id, "kind": item.kind})
                if scope.cancelled_caught:
                    outcome = "failed"
                    error = "handler timed out"
                    log.error("handler timed out", extra={"update_id": item.update_id, "kind": item.kind})
            return await self._finish(item, outcome, error)
        finally:
            if lease.lost:
                log.warning("claim lost while handling; another worker has the update", extra={"update_id": item.update_id})
                outcome = "lost"
            self._metrics.updates_processed.labels(kind=item.kind, outcome=outcome).inc()
            self._metrics.handler_seconds.labels(kind=item.kind).observe(time.perf_counter() - began)
            if self.on_handled is not None and not lease.lost:
                self.on_handled(item.update_id)

    async def _finish(self, item: inbox.ClaimedUpdate, outcome: str, error: str) -> bool:
        """Record the outcome. Each write is shielded (a shutdown must not leave a handled update
        looking unhandled); while the database is away it is retried until the claim's lease
        would expire anyway, so a short outage does not block the chat for a whole lease.

        Returns whether the chat has a next update claimable now (known from the same statement
        that marks this one done), so the loop claims again only then: a failed update waits for
        its retry delay, and a finish that was not recorded leaves the loop to its poll."""
        give_up_at = trio.current_time() + self._lease_s * 0.8
        while True:
            with trio.CancelScope(shield=True), trio.move_on_after(10):
                try:
                    if outcome == "failed":
                        async with self._db.connection() as conn:
                            failed = await inbox.fail(conn, item.update_id, item.token, error, retry_delay_s=self._retry_delay_s)
                        return failed == "parked"  # parked for good: the chat moves on now
                    return bool(await self.finisher.done(item.update_id, item.token))
                except DatabaseUnavailable:
                    pass
            if trio.current_time() >= give_up_at:
                log.warning("could not mark update finished; it will be retried", extra={"update_id": item.update_id})
                return False
            await trio.sleep(0.5)


async def store_batch(db: Database, updates: Sequence[Update], raws: Sequence[bytes], source: str, metrics: Metrics) -> int:
    """Store a polled batch in one statement; returns how many were new. An update that cannot be
    stored (:func:`check_storable`) is logged and skipped — left unconfirmed it would come back
    with every poll and stall intake."""
    items = []
    for u, raw in zip(updates, raws, strict=True):
        try:
            check_storable(u, raw)
        except ValueError as exc:
            log.error("polled update cannot be stored; skipping it", extra={"update_id": u.update_id, "error": type(exc).__name__})
            continue
        items.append(inbox.InboxItem(update_id=u.update_id, chat_key=chat_key_of(u), kind=u.kind, raw=raw, source=source))
    with request_context(INTAKE_CONTEXT):
        async with db.connection() as conn:
            new = await inbox.put_many(conn, items)
    for u in updates:
        metrics.updates_received.labels(kind=u.kind, source=source).inc()
    return new


async def poll_updates(
    poller: Poller,
    db: Database,
    metrics: Metrics,
    *,
    source: str = "polling",
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """The leader's long-polling loop: fetch a batch, store it, only then confirm the offset."""
    task_status.started()
    backoff = 1.0
    while True:
        try:
            batch = await poller.next_batch()
        except Conflict:
            log.warning("getUpdates conflict: another poller or a webhook is active; backing off")
            await trio.sleep(5)
            continue
        except TelegramError as exc:
            log.warning("getUpdates failed", extra={"error": type(exc).__name__})
            await trio.sleep(min(backoff, 30))
            backoff *= 2
            continue
        backoff = 1.0
        if not batch:
            continue
        while True:
            try:
                await store_batch(db, batch, [poller.raw(u) for u in batch], source, metrics)
                break
            except DatabaseUnavailable:
                log.warning("cannot store polled updates; not confirming them")
                await trio.sleep(2)
        poller.confirm(batch)
