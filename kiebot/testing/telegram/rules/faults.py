"""Fault injection for the fake Bot API: flood control, server errors, slow and hanging answers.

Real Telegram answers 429 ``Too Many Requests: retry after N`` (with ``parameters.retry_after``)
from any method, including getUpdates and getMe, and 5xx while it restarts
(https://core.telegram.org/bots/faq#my-bot-is-hitting-limits-how-do-i-avoid-this). A client must
survive all of them; these faults let a test make them happen on purpose.

``after=True`` applies the fault once the call has already taken effect — the message is sent but
the answer is slow, lost (``hang``) or an error — which is what makes at-least-once delivery and
idempotent retries testable.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kiebot.testing.telegram.rules.errors import BotApiError, api_error, too_many_requests


@dataclass(eq=False)
class Fault:
    method: str | None
    status: int | None = 429
    retry_after: int = 1
    description: str | None = None
    times: int | None = 1
    delay: float = 0.0
    chat_id: int | None = None
    hang: bool = False
    after: bool = False
    hits: int = 0

    def matches(self, method: str, chat_id: Any) -> bool:
        if self.method is not None and self.method != method.lower():
            return False
        if self.chat_id is not None:
            try:
                return int(chat_id) == self.chat_id
            except (TypeError, ValueError):
                return False
        return True

    def error(self) -> BotApiError | None:
        if self.status is None or 200 <= self.status < 300:
            return None
        if self.description is not None:
            return BotApiError(
                self.status,
                self.description,
                {"retry_after": self.retry_after} if self.status == 429 else None,
            )
        if self.status == 429:
            return too_many_requests(self.retry_after)
        return api_error(self.status)

    def to_json(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "status": self.status,
            "retry_after": self.retry_after,
            "description": self.description,
            "times": self.times,
            "delay": self.delay,
            "chat_id": self.chat_id,
            "hang": self.hang,
            "after": self.after,
            "hits": self.hits,
        }


class FaultBook:
    def __init__(self) -> None:
        self.faults: list[Fault] = []

    def add(self, fault: Fault) -> Fault:
        if fault.method is not None:
            fault.method = fault.method.lower()
        self.faults.append(fault)
        return fault

    def clear(self) -> None:
        self.faults.clear()

    def take(self, method: str, chat_id: Any) -> Fault | None:
        """The first matching fault, used up by one (removed when it has no uses left)."""
        for fault in self.faults:
            if fault.matches(method, chat_id):
                fault.hits += 1
                if fault.times is not None:
                    fault.times -= 1
                    if fault.times <= 0:
                        self.faults.remove(fault)
                return fault
        return None
