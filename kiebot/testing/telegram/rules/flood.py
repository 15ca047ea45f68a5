"""Opt-in flood control for the fake: organic 429s when a bot sends faster than Telegram allows.

Telegram's FAQ (https://core.telegram.org/bots/faq#my-bot-is-hitting-limits-how-do-i-avoid-this):
about one message per second per chat ("short bursts" tolerated), 20 messages per minute per
group, about 30 messages per second overall. The exact server algorithm is unpublished; this is a
token bucket per chat, per group and overall with those rates, answering ``429 Too Many Requests:
retry after N`` with N rounded up. Sends and edits count (edits are limited too in practice);
chat actions, answers and reads do not. A bot whose limiter is right never sees one of these.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

COUNTED_METHODS = frozenset(
    {
        "sendMessage",
        "sendPhoto",
        "sendVideo",
        "sendAudio",
        "sendVoice",
        "sendDocument",
        "sendMediaGroup",
        "sendInvoice",
        "editMessageText",
        "editMessageCaption",
        "editMessageReplyMarkup",
    }
)


@dataclass(frozen=True)
class FloodRules:
    per_chat_per_second: float = 1.0
    per_chat_burst: int = 3
    per_group_per_minute: float = 20.0
    global_per_second: float = 30.0
    global_burst: int = 30


@dataclass
class _Bucket:
    capacity: float
    rate: float
    tokens: float
    stamp: float

    def refill(self, now: float) -> None:
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now

    def wait(self) -> float:
        """Seconds until one token is available (0 when one is)."""
        return 0.0 if self.tokens >= 1 else (1 - self.tokens) / self.rate


@dataclass
class FloodControl:
    rules: FloodRules
    _chats: dict[int, _Bucket] = field(default_factory=dict)
    _global: _Bucket | None = None

    def _bucket(self, chat_id: int, is_group: bool, now: float) -> _Bucket:
        bucket = self._chats.get(chat_id)
        if bucket is None:
            if is_group:
                per_minute = self.rules.per_group_per_minute
                bucket = _Bucket(per_minute, per_minute / 60.0, per_minute, now)
            else:
                burst = float(self.rules.per_chat_burst)
                bucket = _Bucket(burst, self.rules.per_chat_per_second, burst, now)
            self._chats[chat_id] = bucket
        return bucket

    def take(self, chat_id: int, is_group: bool, now: float) -> int | None:
        """Spend one message for ``chat_id``; None if allowed, else the ``retry_after`` seconds."""
        if self._global is None:
            burst = float(self.rules.global_burst)
            self._global = _Bucket(burst, self.rules.global_per_second, burst, now)
        chat = self._bucket(chat_id, is_group, now)
        chat.refill(now)
        self._global.refill(now)
        wait = max(chat.wait(), self._global.wait())
        if wait > 0:
            return max(1, math.ceil(wait))
        chat.tokens -= 1
        self._global.tokens -= 1
        return None
