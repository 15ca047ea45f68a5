"""The queue of updates waiting for the bot, with ``getUpdates`` semantics.

What it reproduces (https://core.telegram.org/bots/api#getupdates and tdlib/telegram-bot-api
``Client::process_get_updates_query``):

* ``offset`` confirms every update with a lower ``update_id``; a negative offset keeps only the
  last ``-offset`` updates; updates stay until confirmed (or expire: messages after 24 h,
  ``callback_query`` and ``pre_checkout_query`` after 150 s).
* ``limit`` outside 1–100 means 100; ``timeout`` is clamped to 0–50 s (``LONG_POLL_MAX_TIMEOUT``);
  a long poll returns as soon as an update arrives.
* ``allowed_updates`` is remembered between calls (omitted = keep; ``[]`` = every type except
  ``chat_member``, ``message_reaction``, ``message_reaction_count``) and applies to updates created
  after it was set — others are never queued, which is how a bot that filters out
  ``pre_checkout_query`` ends up with a timed-out payment.
* A second ``getUpdates`` while one is waiting ends the first with 409 ``Conflict: terminated by
  other getUpdates request; ...``; ``setWebhook`` ends it with ``Conflict: terminated by setWebhook
  request``.

Not reproduced: the server's anti-busy-loop rules (a repeated short poll forced to 3 s), which
would only slow tests down.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import trio

from kiebot.testing.telegram.rules.errors import TERMINATED_BY_POLL, api_error

ALL_UPDATE_TYPES = (
    "message",
    "edited_message",
    "channel_post",
    "edited_channel_post",
    "business_connection",
    "business_message",
    "edited_business_message",
    "deleted_business_messages",
    "message_reaction",
    "message_reaction_count",
    "inline_query",
    "chosen_inline_result",
    "callback_query",
    "shipping_query",
    "pre_checkout_query",
    "purchased_paid_media",
    "poll",
    "poll_answer",
    "my_chat_member",
    "chat_member",
    "chat_join_request",
    "chat_boost",
    "removed_chat_boost",
)
#: What ``allowed_updates=[]`` (and the initial state) means.
DEFAULT_ALLOWED = frozenset(ALL_UPDATE_TYPES) - {"chat_member", "message_reaction", "message_reaction_count"}

LONG_POLL_MAX_TIMEOUT = 50.0
MESSAGE_TTL = 86400.0
QUERY_TTL = 150.0


def update_kind(update: dict[str, Any]) -> str:
    return next(k for k in update if k != "update_id")


def ordering_key(kind: str, body: dict[str, Any]) -> str:
    """The server's delivery queue of an update: messages and member changes per chat, queries per
    user (tdlib/telegram-bot-api ``Client::add_update``)."""
    chat = body.get("chat")
    if isinstance(chat, dict) and "id" in chat:
        return f"chat:{chat['id']}"
    sender = body.get("from")
    if isinstance(sender, dict) and "id" in sender:
        return f"user:{sender['id']}"
    return kind


@dataclass(eq=False)
class PendingUpdate:
    """One queued update. ``key`` orders webhook delivery: one chat's (or one user's queries')
    updates go strictly in order, different keys concurrently."""

    update_id: int
    kind: str
    key: str
    payload: dict[str, Any]
    expires_at: float


@dataclass
class _Poll:
    wake: trio.Event = field(default_factory=trio.Event)
    terminated_by: str | None = None


class UpdateQueue:
    def __init__(self, first_update_id: int = 1) -> None:
        self._next_id = first_update_id
        self.pending: list[PendingUpdate] = []
        self.allowed: frozenset[str] = DEFAULT_ALLOWED
        #: Every update ever created, in order (including ones filtered out by allowed_updates).
        self.created: list[dict[str, Any]] = []
        #: Every hand-over to the bot, in order: getUpdates results and webhook 2xx deliveries.
        self.delivered: list[dict[str, Any]] = []
        self._changed = trio.Event()
        self._poll: _Poll | None = None

    # ---- producing -------------------------------------------------------------------------

    def push(self, kind: str, body: dict[str, Any]) -> dict[str, Any] | None:
        """Create an update ``{"update_id": n, kind: body}``; None when ``allowed_updates`` drops it."""
        update = {"update_id": self._next_id, kind: body}
        self._next_id += 1
        self.created.append(update)
        if kind not in self.allowed:
            return None
        self._enqueue(update, kind)
        return update

    def find(self, update_id: int) -> dict[str, Any] | None:
        return next((u for u in self.created if u["update_id"] == update_id), None)

    def requeue(self, update: dict[str, Any], *, same_id: bool) -> dict[str, Any]:
        """Put an already created update back in the queue (a duplicate delivery), under its own
        ``update_id`` or under a fresh one."""
        kind = update_kind(update)
        copy = dict(update)
        if not same_id:
            copy["update_id"] = self._next_id
            self._next_id += 1
            self.created.append(copy)
        self._enqueue(copy, kind)
        return copy

    def _enqueue(self, update: dict[str, Any], kind: str) -> None:
        ttl = QUERY_TTL if kind in ("callback_query", "pre_checkout_query") else MESSAGE_TTL
        key = ordering_key(kind, update[kind])
        self.pending.append(PendingUpdate(update["update_id"], kind, key, update, trio.current_time() + ttl))
        self.notify()

    def notify(self) -> None:
        self._changed.set()
        self._changed = trio.Event()
        if self._poll is not None:
            self._poll.wake.set()

    # ---- consuming -------------------------------------------------------------------------

    def set_allowed(self, allowed: Iterable[str] | None) -> None:
        if allowed is None:
            return
        names = frozenset(allowed)
        self.allowed = names or DEFAULT_ALLOWED

    def drop_pending(self) -> None:
        self.pending.clear()
        self.notify()

    def remove(self, entry: PendingUpdate) -> None:
        self.pending = [p for p in self.pending if p is not entry]
        self.notify()

    def expire(self) -> None:
        now = trio.current_time()
        if any(p.expires_at <= now for p in self.pending):
            self.pending = [p for p in self.pending if p.expires_at > now]

    def next_for(self, key: str) -> PendingUpdate | None:
        self.expire()
        return next((p for p in self.pending if p.key == key), None)

    async def wait_changed(self) -> None:
        await self._changed.wait()

    def abort_poll(self, reason: str) -> None:
        """End a waiting ``getUpdates`` with ``409 Conflict: <reason>``."""
        if self._poll is not None:
            self._poll.terminated_by = reason
            self._poll.wake.set()

    async def get_updates(
        self, offset: int | None, limit: int | None, wait: float | None
    ) -> list[dict[str, Any]]:
        poll = _Poll()
        self.abort_poll(TERMINATED_BY_POLL)
        self._poll = poll
        try:
            if offset:
                self._confirm(offset)
            if limit is None or not 1 <= limit <= 100:
                limit = 100
            deadline = trio.current_time() + min(max(wait or 0.0, 0.0), LONG_POLL_MAX_TIMEOUT)
            while True:
                poll.wake = trio.Event()
                if poll.terminated_by is not None:
                    raise api_error(409, poll.terminated_by)
                self.expire()
                if self.pending or trio.current_time() >= deadline:
                    break
                with trio.move_on_at(deadline):
                    await poll.wake.wait()
            batch = [p.payload for p in self.pending[:limit]]
            self.delivered.extend(batch)
            return batch
        finally:
            if self._poll is poll:
                self._poll = None

    def _confirm(self, offset: int) -> None:
        if offset < 0:
            keep = -offset
            self.pending = self.pending[-keep:] if keep < len(self.pending) else self.pending
        else:
            self.pending = [p for p in self.pending if p.update_id >= offset]
