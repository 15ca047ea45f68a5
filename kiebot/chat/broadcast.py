"""The broadcast sender: an admin's message to every reachable user, in the background, within
Telegram's flood limits, resumable after a restart, and never twice to anyone.

* **Pace.** Every message goes through the Telegram client with ``bulk=True``: the flood limiter
  gives broadcasts their own lane of 25 messages per second under the ~30/s overall limit, and
  lets interactive replies go first, so users talking to the bot during a broadcast are not slowed
  down (https://core.telegram.org/bots/faq#my-bot-is-hitting-limits-how-do-i-avoid-this).
  :data:`CONCURRENCY` sends are in flight at once so the lane is filled despite network latency;
  the limiter, not this module, decides when each one may go.
* **At most once.** Each worker claims ONE recipient (``pending`` → ``sending``, committed), sends,
  and records the outcome (``sent``, ``failed``, ``blocked``). After a crash or a restart a
  recipient left in ``sending`` may or may not have got the message, so it is never claimed again
  (``store.broadcasts``): nobody gets a broadcast twice; at most :data:`CONCURRENCY` recipients of
  an interrupted broadcast may miss it.
* **Resumable.** The sender runs as one of the leader's scheduled jobs (:meth:`periodic`): it
  picks up every broadcast in ``sending`` — the one an admin just confirmed (:meth:`wake` starts it
  at once on the leader; on another instance it starts within :data:`POLL_EVERY_S`) or one a
  previous leader left half-done. Leadership lost means the sender is cancelled; the next leader
  resumes.
* **Blocked users.** A 403 (blocked, deactivated, never started) counts as ``blocked`` and marks
  the user (``users.blocked_bot``), so later broadcasts skip them.
* **Progress.** The admin's progress message (stored in ``kv`` when the broadcast was confirmed) is
  edited every :data:`PROGRESS_EVERY_S` seconds with sent/failed/blocked of total, and a last time
  when the broadcast ends.

The preview the admin sees before confirming is sent by :func:`send_broadcast_message` too, so it
is exactly what users get.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import msgspec
import trio

from kiebot.chat.callback_data import cb
from kiebot.chat.format import render
from kiebot.logs import mask_user_id, request_context
from kiebot.store import broadcasts, kv
from kiebot.store.broadcasts import Broadcast, RecipientOutcome
from kiebot.store.db import Database
from kiebot.telegram.client import TelegramClient
from kiebot.telegram.errors import Forbidden, TelegramError
from kiebot.telegram.types import InlineKeyboardButton, InlineKeyboardMarkup, Message

log = logging.getLogger(__name__)

#: Sends in flight at once (each holds one claimed recipient).
CONCURRENCY = 5
#: How often the admin's progress message is edited (edits count against the chat's limit too).
PROGRESS_EVERY_S = 3.0
#: How long recording one outcome may take once the send happened (shielded from cancellation).
MARK_TIMEOUT_S = 5.0
#: How often the leader looks for broadcasts to start or resume when nobody woke it.
POLL_EVERY_S = 2.0


class ProgressTarget(msgspec.Struct, frozen=True):
    """Where the admin watches a broadcast: their chat, the message to edit, their language."""

    chat_id: int
    message_id: int
    lang: str = "ru"


def progress_key(broadcast_id: int) -> str:
    return f"broadcast_progress:{broadcast_id}"


async def send_broadcast_message(tg: TelegramClient, chat_id: int, text: str, *, bulk: bool) -> Message:
    """The one way a broadcast text is sent — to users (``bulk=True``) and as the admin's preview."""
    return await tg.send_message(chat_id, text, parse_mode="HTML", bulk=bulk)


def progress_text(broadcast: Broadcast, lang: str) -> str:
    """sent/failed/blocked of total; once it ended, the rest is named: recipients whose send a
    restart cut short (possibly delivered, never retried) or, when stopped, never sent."""
    done = broadcast.sent + broadcast.failed + broadcast.blocked
    key = {
        "sending": "admin_broadcast.progress.sending",
        "done": "admin_broadcast.progress.done",
        "cancelled": "admin_broadcast.progress.cancelled",
    }.get(broadcast.status, "admin_broadcast.progress.draft")
    return render(
        lang,
        key,
        id=broadcast.id,
        sent=broadcast.sent,
        failed=broadcast.failed,
        blocked=broadcast.blocked,
        done=done,
        total=broadcast.total,
        unknown=broadcast.total - done,
    )


def progress_markup(broadcast: Broadcast, lang: str) -> InlineKeyboardMarkup:
    """Stop while it runs; back to the panel afterwards (routes of ``bot/screens/admin``)."""
    if broadcast.status == "sending":
        button = InlineKeyboardButton.callback(
            render(lang, "admin_broadcast.stop"), cb("adm.bx", broadcast.id)
        )
    else:
        button = InlineKeyboardButton.callback(render(lang, "admin.nav.panel"), cb("adm"))
    return InlineKeyboardMarkup(inline_keyboard=[[button]])


class BroadcastSender:
    """Sends ``sending`` broadcasts to their recipients; one per process, run by the leader."""

    def __init__(
        self,
        db: Database,
        tg: TelegramClient,
        *,
        concurrency: int = CONCURRENCY,
        progress_every_s: float = PROGRESS_EVERY_S,
        poll_every_s: float = POLL_EVERY_S,
        on_outcome: Callable[[str], None] | None = None,
    ) -> None:
        """``on_outcome(outcome)`` is called once per recipient (metrics: sent, failed, blocked)."""
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self._db = db
        self._tg = tg
        self._concurrency = concurrency
        self._progress_every_s = progress_every_s
        self._poll_every_s = poll_every_s
        self._on_outcome = on_outcome
        self._wake = trio.Event()
        self._lock = trio.Lock()

    def wake(self) -> None:
        """Start (or resume) pending broadcasts now instead of at the next poll."""
        self._wake.set()

    async def serve(self) -> None:
        """Run every ``sending`` broadcast to its end, then wait for a wake-up or the next poll."""
        while True:
            await self.run_pending()
            with trio.move_on_after(self._poll_every_s):
                await self._wake.wait()
            self._wake = trio.Event()

    async def run_pending(self) -> list[Broadcast]:
        """Send every broadcast now in ``sending``, oldest first; returns them as they ended."""
        async with self._lock:
            async with self._db.connection() as conn:
                active = await broadcasts.active_broadcasts(conn)
            return [await self.send(b) for b in active]

    async def send(self, broadcast: Broadcast) -> Broadcast:
        """Deliver ``broadcast`` to every recipient still pending; returns it as it ended."""
        with request_context(f"b{broadcast.id}"):
            target = await self._target(broadcast.id)
            log.info("broadcast sending", extra={"broadcast_id": broadcast.id, "total": broadcast.total})
            finished = trio.Event()
            async with trio.open_nursery() as nursery:
                if target is not None:
                    nursery.start_soon(self._report_while, broadcast.id, target, finished)
                async with trio.open_nursery() as workers:
                    for _ in range(self._concurrency):
                        workers.start_soon(self._worker, broadcast)
                finished.set()
            async with self._db.connection() as conn:
                ended = await broadcasts.finish_if_complete(conn, broadcast.id)
            if target is not None:
                await self._report(ended, target)
            log.info(
                "broadcast ended",
                extra={
                    "broadcast_id": ended.id,
                    "status": ended.status,
                    "sent": ended.sent,
                    "failed": ended.failed,
                    "blocked": ended.blocked,
                    "total": ended.total,
                },
            )
            return ended

    async def _worker(self, broadcast: Broadcast) -> None:
        while True:
            async with self._db.connection() as conn:
                claimed = await broadcasts.claim_recipients(conn, broadcast.id, 1)
            if not claimed:
                return
            user_id = claimed[0]
            outcome = await self._deliver(user_id, broadcast.text)
            if self._on_outcome is not None:
                self._on_outcome(outcome)
            # The message is out: record it even if shutdown cancels us right now, so the count is
            # right (left in ``sending`` it would still never be sent twice, only miscounted).
            with trio.CancelScope(shield=True), trio.move_on_after(MARK_TIMEOUT_S):
                async with self._db.connection() as conn:
                    await broadcasts.mark_recipient(conn, broadcast.id, user_id, outcome)

    async def _deliver(self, user_id: int, text: str) -> RecipientOutcome:
        try:
            await send_broadcast_message(self._tg, user_id, text, bulk=True)
        except Forbidden as exc:
            log.info(
                "broadcast recipient unreachable",
                extra={"user": mask_user_id(user_id), "error": type(exc).__name__},
            )
            return "blocked"
        except TelegramError as exc:
            # Not retried by hand: a failed send may still have been delivered (a lost answer),
            # and a broadcast is at most once. The client already retried what was safe.
            log.warning(
                "broadcast send failed", extra={"user": mask_user_id(user_id), "error": type(exc).__name__}
            )
            return "failed"
        return "sent"

    async def _target(self, broadcast_id: int) -> ProgressTarget | None:
        async with self._db.connection() as conn:
            try:
                return await kv.get_as(conn, progress_key(broadcast_id), ProgressTarget)
            except msgspec.ValidationError:
                return None

    async def _report_while(self, broadcast_id: int, target: ProgressTarget, finished: trio.Event) -> None:
        last: tuple[Any, ...] | None = None
        while not finished.is_set():
            with trio.move_on_after(self._progress_every_s):
                await finished.wait()
            if finished.is_set():
                return
            async with self._db.connection() as conn:
                current = await broadcasts.get_broadcast(conn, broadcast_id)
            if current is None:
                return
            state = (current.status, current.sent, current.failed, current.blocked)
            if state != last:
                last = state
                await self._report(current, target)

    async def _report(self, broadcast: Broadcast, target: ProgressTarget) -> None:
        """Edit the admin's progress message; a refusal (deleted message, blocked bot) is no error."""
        try:
            await self._tg.edit_message_text(
                target.chat_id,
                target.message_id,
                progress_text(broadcast, target.lang),
                parse_mode="HTML",
                reply_markup=progress_markup(broadcast, target.lang),
            )
        except TelegramError as exc:  # deleted message, blocked bot, flood: the next edit tries again
            log.info("broadcast progress not shown", extra={"error": type(exc).__name__})


async def remember_progress(db: Database, broadcast_id: int, target: ProgressTarget) -> None:
    """Store where the admin watches ``broadcast_id`` (a resumed sender edits the same message)."""
    async with db.connection() as conn:
        await kv.put(conn, progress_key(broadcast_id), target)
