"""Flood control for outgoing Bot API calls, in pure trio.

The limits (https://core.telegram.org/bots/faq#my-bot-is-hitting-limits-how-do-i-avoid-this,
reference/telegram.md §1.5):

* one message per second in a chat, with short bursts tolerated — a GCRA bucket, ``per_chat_burst``
  messages in quick succession, then one per ``1 / per_chat_rate`` seconds;
* 20 messages per minute in a group — an exact sliding window: never more than 20 in any 60 s, the
  case a leaky bucket gets wrong (python-telegram-bot #3772);
* about 30 messages per second overall — an exact sliding window;
* a lower ``bulk`` rate (25/s) for broadcasts, which also yield to interactive traffic.

Telegram counts a message when the request *arrives*, which is some time after we let it go and
before its answer comes back. Spacing requests by the time they were let go is therefore not
enough: a request delayed on the way (a busy connection, a slow upload) arrives late, the next one
arrives on time, and the pair is too close together (the project's fake server with Telegram-like
flood rules showed exactly this). So a message is accounted at the moment its call *completes*:
while in flight it occupies a slot of every window it belongs to, and the per-chat bucket and the
windows measure from its completion. Messages to one chat go one at a time, first come first served,
which also keeps them in order.

A 429 pauses only what it must. A 429 on a call to a chat pauses that chat until ``retry_after``;
429s for ``flood_chats`` different chats within ``flood_window`` seconds mean Telegram's global flood
and pause every message call; a 429 on a call without a chat (``getUpdates`` while the server
restarts, an ``answerCallbackQuery``) pauses everything. Pauses are deadlines combined with ``max``:
nothing ever "releases" one, so a concurrent request finishing cannot end it early (python-telegram-bot
#5338) and a later, shorter 429 cannot shorten a longer pause.

Answers (answerCallbackQuery, answerPreCheckoutQuery — the latter has a 10 s deadline), reads and
settings (get*, setWebhook...), ``sendChatAction`` and ``deleteMessage`` skip the message buckets;
they wait only for a pause that covers them. Time comes from ``trio.current_time()``, so tests run
on virtual time.
"""

from __future__ import annotations

import logging
import math
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import Final

import trio

from kiebot.telegram.limits import (
    MESSAGES_PER_MINUTE_PER_GROUP,
    MESSAGES_PER_SECOND,
    MESSAGES_PER_SECOND_PER_CHAT,
)

log = logging.getLogger("kiebot.telegram.limiter")

ChatId = int | str

_MESSAGE_METHODS: Final = frozenset(
    {
        "copymessage",
        "copymessages",
        "forwardmessage",
        "forwardmessages",
        "stopmessagelivelocation",
        "stoppoll",
    }
)
_NEVER_COUNTED: Final = frozenset({"sendchataction"})


def is_message_method(method: str) -> bool:
    """True for calls that put or change a message in a chat (send*, edit*, copy, forward), which
    Telegram's per-chat, per-group and global limits count. Method names are case-insensitive in
    the Bot API."""
    name = method.lower()
    if name in _NEVER_COUNTED:
        return False
    return name.startswith(("send", "edit")) or name in _MESSAGE_METHODS


def is_group_chat(chat_id: ChatId) -> bool:
    """Groups, supergroups and channels have negative ids; ``@username`` targets are public
    supergroups or channels. Private chats have positive ids."""
    return isinstance(chat_id, str) or chat_id < 0


class SlidingWindow:
    """At most ``limit`` messages in any half-open interval of ``window`` seconds, counting each
    message from its completion and counting messages in flight as present until they complete
    (exact, unlike a leaky bucket that lets a burst through after a quiet period)."""

    __slots__ = ("_events", "in_flight", "limit", "window")

    def __init__(self, limit: int, window: float) -> None:
        if limit < 1 or window <= 0:
            raise ValueError("limit must be >= 1 and window > 0")
        self.limit = limit
        self.window = window
        self.in_flight = 0
        self._events: deque[float] = deque()  # completion times, in order

    def _prune(self, now: float) -> None:
        while self._events and self._events[0] <= now - self.window:
            self._events.popleft()

    def ready_at(self, now: float) -> float:
        """When one more message may start (``inf`` while in-flight ones fill the window)."""
        self._prune(now)
        free = self.limit - self.in_flight - len(self._events)
        if free > 0:
            return now
        if self.in_flight >= self.limit:
            return math.inf
        # The oldest completions that must expire so that one slot frees up.
        return self._events[-free] + self.window

    def start(self) -> None:
        self.in_flight += 1

    def finish(self, now: float) -> None:
        self.in_flight -= 1
        self._events.append(now)

    def idle(self, now: float) -> bool:
        self._prune(now)
        return self.in_flight == 0 and not self._events


class Gcra:
    """Generic cell rate algorithm: a token bucket of ``burst`` tokens refilled at ``rate`` per second,
    kept as one "theoretical arrival time" so timings are exact."""

    __slots__ = ("_tat", "interval", "tolerance")

    def __init__(self, rate: float, burst: int) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be > 0 and burst >= 1")
        self.interval = 1.0 / rate
        self.tolerance = (burst - 1) * self.interval
        self._tat = -math.inf

    def ready_at(self, now: float) -> float:
        return max(now, self._tat - self.tolerance)

    def record(self, now: float) -> None:
        self._tat = max(self._tat, now) + self.interval

    def idle(self, now: float) -> bool:
        return self._tat <= now


@dataclass(eq=False)
class _ChatState:
    bucket: Gcra
    group: SlidingWindow | None
    lock: trio.Lock = field(default_factory=trio.Lock)
    pause_until: float = -math.inf
    users: int = 0

    def ready_at(self, now: float) -> float:
        ready = max(self.pause_until, self.bucket.ready_at(now))
        if self.group is not None:
            ready = max(ready, self.group.ready_at(now))
        return ready

    def idle(self, now: float) -> bool:
        return (
            self.users == 0
            and self.pause_until <= now
            and self.bucket.idle(now)
            and (self.group is None or self.group.idle(now))
        )


class Permit:
    """The right to make one call, held for the body of :meth:`FloodLimiter.slot`."""

    __slots__ = ("_admit", "_admitted", "_finish")

    def __init__(self, admit: Callable[[], Awaitable[object]], finish: Callable[[], None]) -> None:
        self._admit = admit
        self._finish = finish
        self._admitted = False

    async def enter(self) -> None:
        await self._admit()
        self._admitted = True

    def exit(self) -> None:
        if self._admitted:
            self._admitted = False
            self._finish()

    async def again(self, *, after: float = 0.0) -> None:
        """Account the attempt that just completed, wait ``after`` seconds (a back-off), then wait
        to be admitted once more (pauses and buckets apply again), keeping this chat's place in
        line."""
        self.exit()
        if after > 0:
            await trio.sleep(after)
        await self.enter()


class FloodLimiter:
    """Holds each outgoing call just long enough to stay inside Telegram's flood limits.

    Wrap each call: ``async with limiter.slot(method, chat_id): <send>``, and call
    ``retry_after(method, chat_id, seconds)`` when Telegram answers 429. Messages of one chat go
    one at a time, first-in first-out; interactive messages take global slots first-in first-out;
    ``bulk=True`` callers (broadcasts) only take a global slot when no interactive message is
    waiting for one.
    """

    def __init__(
        self,
        *,
        per_chat_rate: float = MESSAGES_PER_SECOND_PER_CHAT,
        per_chat_burst: int = 3,
        group_per_minute: int = MESSAGES_PER_MINUTE_PER_GROUP,
        global_per_second: int = MESSAGES_PER_SECOND,
        bulk_per_second: int = 25,
        flood_chats: int = 3,
        flood_window: float = 2.0,
        sweep_every: int = 512,
    ) -> None:
        if flood_chats < 1 or flood_window <= 0:
            raise ValueError("flood_chats must be >= 1 and flood_window > 0")
        self._per_chat_rate = per_chat_rate
        self._per_chat_burst = per_chat_burst
        self._group_per_minute = group_per_minute
        self._global = SlidingWindow(global_per_second, 1.0)
        self._bulk = SlidingWindow(bulk_per_second, 1.0)
        self._flood_chats = flood_chats
        self._flood_window = flood_window
        self._sweep_every = sweep_every
        self._chats: dict[ChatId, _ChatState] = {}
        self._global_lock = trio.Lock()
        self._bulk_lock = trio.Lock()
        self._interactive_waiting = 0
        self._interactive_idle = trio.Event()
        self._interactive_idle.set()
        self._completed = trio.Event()  # set (and replaced) whenever a message completes
        self._recent_429: deque[tuple[float, ChatId]] = deque()
        self._all_pause_until = -math.inf  # 429 on a call without a chat: everything waits
        self._messages_pause_until = -math.inf  # 429s across several chats: message calls wait
        self._admitted = 0

    # -- public API --------------------------------------------------------------------------

    @asynccontextmanager
    async def slot(
        self, method: str, chat_id: ChatId | None = None, *, bulk: bool = False
    ) -> AsyncIterator[Permit]:
        """Wait until ``method`` may be sent to ``chat_id``, then hold the slot while the call runs
        (the body of the ``async with``); the message is accounted when the body exits, however it
        exits. To repeat the call (after a 429 or a failure), ``await permit.again()`` inside the
        body: the attempt is accounted and the next one admitted without letting a later message of
        the same chat overtake it."""
        if not is_message_method(method):
            permit = Permit(partial(self._wait_unpaused, chat_id), lambda: None)
            await permit.enter()
            yield permit
            return
        self._admitted += 1
        if self._admitted % self._sweep_every == 0:
            self._sweep(trio.current_time())
        if chat_id is None:
            permit = Permit(
                partial(self._global_stage, None, bulk=bulk), partial(self._finish, None, bulk=bulk)
            )
            await permit.enter()
            try:
                yield permit
            finally:
                permit.exit()
            return
        state = self._chat(chat_id)

        async def admit() -> None:
            while True:
                await self._sleep_until(lambda now: max(state.ready_at(now), self._messages_pause()))
                if await self._global_stage(state, bulk=bulk):
                    return

        permit = Permit(admit, partial(self._finish, state, bulk=bulk))
        state.users += 1
        try:
            async with state.lock:
                await permit.enter()
                try:
                    yield permit
                finally:
                    permit.exit()
        finally:
            state.users -= 1

    async def acquire(self, method: str, chat_id: ChatId | None = None, *, bulk: bool = False) -> None:
        """Wait for a slot and account the message at once (for a caller that does not track when
        its call completes). :meth:`slot` is the accurate form."""
        async with self.slot(method, chat_id, bulk=bulk):
            pass

    def retry_after(self, method: str, chat_id: ChatId | None, seconds: float) -> None:
        """Record Telegram's 429 for ``method`` to ``chat_id``: pause that chat, or every message
        call when several chats are hit at once, or everything when the call had no chat."""
        now = trio.current_time()
        until = now + max(0.0, seconds)
        if chat_id is None:
            if until > self._all_pause_until:
                self._all_pause_until = until
                log.warning(
                    "telegram flood pause", extra={"scope": "all", "method": method, "seconds": seconds}
                )
            return
        state = self._chat(chat_id)
        state.pause_until = max(state.pause_until, until)
        log.info("telegram flood pause", extra={"scope": "chat", "method": method, "seconds": seconds})
        self._recent_429.append((now, chat_id))
        while self._recent_429 and self._recent_429[0][0] <= now - self._flood_window:
            self._recent_429.popleft()
        chats = {key for _, key in self._recent_429}
        if len(chats) >= self._flood_chats and until > self._messages_pause_until:
            self._messages_pause_until = until
            log.warning(
                "telegram flood pause", extra={"scope": "messages", "method": method, "seconds": seconds}
            )

    def paused_until(self, chat_id: ChatId | None = None) -> float:
        """When a message call to ``chat_id`` (or without a chat) may go again as far as pauses
        are concerned (``-inf`` when none); for metrics and tests."""
        until = self._messages_pause()
        state = self._chats.get(chat_id) if chat_id is not None else None
        if state is not None:
            until = max(until, state.pause_until)
        return until

    @property
    def tracked_chats(self) -> int:
        """Chats with state in memory; idle ones are swept every ``sweep_every`` admissions."""
        return len(self._chats)

    @property
    def in_flight(self) -> int:
        """Message calls let go and not completed yet."""
        return self._global.in_flight

    # -- internals ---------------------------------------------------------------------------

    def _messages_pause(self) -> float:
        return max(self._all_pause_until, self._messages_pause_until)

    def _chat(self, chat_id: ChatId) -> _ChatState:
        state = self._chats.get(chat_id)
        if state is None:
            group = SlidingWindow(self._group_per_minute, 60.0) if is_group_chat(chat_id) else None
            state = _ChatState(bucket=Gcra(self._per_chat_rate, self._per_chat_burst), group=group)
            self._chats[chat_id] = state
        return state

    def _sweep(self, now: float) -> None:
        for key in [key for key, state in self._chats.items() if state.idle(now)]:
            del self._chats[key]

    async def _sleep_until(self, ready_at: Callable[[float], float]) -> None:
        """Sleep until ``ready_at(now) <= now``. ``ready_at`` maps the current time to the earliest
        allowed one (``inf``: until some message completes) and is re-evaluated after every wake-up,
        so a pause set or extended meanwhile is honoured."""
        while True:
            now = trio.current_time()
            deadline = ready_at(now)
            if deadline <= now:
                return
            await self._wait(deadline)

    async def _wait(self, deadline: float) -> None:
        """Sleep until ``deadline``, or — when it is ``inf`` (in-flight messages fill a window) —
        until the next completion. A completion never moves a finite deadline earlier (it only turns
        an in-flight slot into a timed one), so finite waits need no wake-up: no thundering herd."""
        if deadline == math.inf:
            await self._completed.wait()
        else:
            await trio.sleep_until(deadline)

    async def _wait_unpaused(self, chat_id: ChatId | None) -> None:
        def ready_at(now: float) -> float:
            state = self._chats.get(chat_id) if chat_id is not None else None
            return max(self._all_pause_until, state.pause_until if state is not None else -math.inf)

        await self._sleep_until(ready_at)

    async def _global_stage(self, state: _ChatState | None, *, bulk: bool) -> bool:
        """Take a global slot. False when the chat became unready meanwhile (a 429 arrived for it);
        the caller then waits in its chat stage again without holding the global queue."""
        if bulk:
            return await self._bulk_stage(state)
        if self._interactive_waiting == 0:
            self._interactive_idle = trio.Event()
        self._interactive_waiting += 1
        try:
            async with self._global_lock:
                while True:
                    now = trio.current_time()
                    if state is not None and state.ready_at(now) > now:
                        return False
                    deadline = max(self._global.ready_at(now), self._messages_pause())
                    if deadline <= now:
                        self._start(state, bulk=False)
                        return True
                    await self._wait(deadline)
        finally:
            self._interactive_waiting -= 1
            if self._interactive_waiting == 0:
                self._interactive_idle.set()

    async def _bulk_stage(self, state: _ChatState | None) -> bool:
        async with self._bulk_lock:
            while True:
                while self._interactive_waiting:
                    await self._interactive_idle.wait()
                now = trio.current_time()
                if state is not None and state.ready_at(now) > now:
                    return False
                deadline = max(self._global.ready_at(now), self._bulk.ready_at(now), self._messages_pause())
                if deadline <= now:
                    self._start(state, bulk=True)
                    return True
                await self._wait(deadline)

    def _start(self, state: _ChatState | None, *, bulk: bool) -> None:
        self._global.start()
        if bulk:
            self._bulk.start()
        if state is not None and state.group is not None:
            state.group.start()

    def _finish(self, state: _ChatState | None, *, bulk: bool) -> None:
        now = trio.current_time()
        self._global.finish(now)
        if bulk:
            self._bulk.finish(now)
        if state is not None:
            state.bucket.record(now)
            if state.group is not None:
                state.group.finish(now)
        self._completed.set()
        self._completed = trio.Event()
