"""Per-user flood guards for incoming actions (not to be confused with the outgoing limiter).

* A token bucket per user: 20 actions a minute with a burst of 30 (the original bot's numbers,
  reference/kie-and-original-bot.md §7). Admins are exempt.
* A 2-second de-duplication window for callback queries: the same button tapped twice (or
  re-sent by a Telegram client after a reconnect, tdlib/telegram-bot-api#699) runs once.

State is in memory and per instance; it protects the bot from bursts, it is not a ledger, so
losing it on restart is harmless. Both maps are bounded (oldest entries are dropped first).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import trio

Clock = Callable[[], float]


class RateGuard:
    def __init__(
        self,
        *,
        per_minute: float = 20.0,
        burst: float = 30.0,
        dedupe_s: float = 2.0,
        max_users: int = 100_000,
        clock: Clock = trio.current_time,
    ) -> None:
        self._rate = per_minute / 60.0
        self._burst = burst
        self._dedupe_s = dedupe_s
        self._max = max_users
        self._clock = clock
        self._buckets: OrderedDict[int, tuple[float, float]] = OrderedDict()
        self._recent: OrderedDict[tuple[int, str], float] = OrderedDict()
        self._warned: OrderedDict[int, float] = OrderedDict()

    def allow(self, user_id: int) -> bool:
        """Take one token for ``user_id``; False when the bucket is empty."""
        now = self._clock()
        tokens, last = self._buckets.pop(user_id, (self._burst, now))
        tokens = min(self._burst, tokens + (now - last) * self._rate)
        allowed = tokens >= 1.0
        if allowed:
            tokens -= 1.0
        self._buckets[user_id] = (tokens, now)
        self._trim(self._buckets)
        return allowed

    def is_duplicate(self, user_id: int, data: str) -> bool:
        """True when the same callback data came from this user within the window."""
        now = self._clock()
        key = (user_id, data)
        last = self._recent.pop(key, None)
        self._recent[key] = now
        self._trim(self._recent)
        return last is not None and now - last < self._dedupe_s

    def should_warn(self, user_id: int, *, every_s: float = 10.0) -> bool:
        """Say "slow down" at most once per ``every_s`` per user, so the warning is no flood itself."""
        now = self._clock()
        last = self._warned.pop(user_id, None)
        if last is not None and now - last < every_s:
            self._warned[user_id] = last
            return False
        self._warned[user_id] = now
        self._trim(self._warned)
        return True

    def _trim(self, mapping: OrderedDict[Any, Any]) -> None:
        while len(mapping) > self._max:
            mapping.popitem(last=False)
