"""State-change events of the fake, for tests that wait and for the sandbox page that watches.

Every change of the fake's world is published once as a JSON-able dict (``{"type":
"message_sent", ...}``). Two consumers:

* :meth:`EventBus.wait_until` re-checks a condition after every change, so a test waits exactly as
  long as needed (no sleeping loops) and fails with a readable message at its deadline;
* :meth:`EventBus.subscribe` hands out bounded memory channels (the sandbox's live transcript).
  A subscriber that falls ``buffer`` events behind is closed rather than allowed to make the fake
  buffer without limit or block the Bot API; the page reconnects and reloads the transcript.

Event types (each also has ``at``, a Unix time): ``user_added`` (user), ``group_added``,
``message_received`` / ``message_sent`` / ``message_edited`` (chat_id, message — as
``State.serialize_message``), ``message_deleted`` (chat_id, message_id), ``callback_query`` and
``callback_answered`` (answer: text, show_alert...), ``chat_action`` (action), ``pre_checkout_query``,
``pre_checkout_answered``, ``payment`` (result: paid / declined / timeout), ``payment_refunded``,
``invoice_link_created``, ``bot_blocked`` / ``bot_unblocked``, ``update`` (a new update for the bot),
``update_delivered`` and ``webhook_error`` (webhook mode), ``webhook_set`` / ``webhook_deleted``,
``commands_set``, ``reset``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import trio

T = TypeVar("T")


class EventBus:
    def __init__(self) -> None:
        self._subscribers: list[trio.MemorySendChannel[dict[str, Any]]] = []
        self._changed = trio.Event()
        self.count = 0

    def subscribe(self, buffer: int = 1000) -> trio.MemoryReceiveChannel[dict[str, Any]]:
        send, receive = trio.open_memory_channel[dict[str, Any]](buffer)
        self._subscribers.append(send)
        return receive

    def publish(self, event: dict[str, Any]) -> None:
        self.count += 1
        alive = []
        for channel in self._subscribers:
            try:
                channel.send_nowait(event)
            except trio.WouldBlock:
                channel.close()
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                pass
            else:
                alive.append(channel)
        self._subscribers = alive
        self.touch()

    def touch(self) -> None:
        """Wake the waiters without an event for subscribers (e.g. a Bot API call was recorded)."""
        self._changed.set()
        self._changed = trio.Event()

    def close_all(self) -> None:
        for channel in self._subscribers:
            channel.close()
        self._subscribers = []

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)

    async def wait_until(
        self, check: Callable[[], T | None], within: float, describe: Callable[[], str]
    ) -> T:
        """Return ``check()`` as soon as it is not None; after ``within`` seconds raise
        ``AssertionError(describe())``. ``within=math.inf`` waits for ever."""
        with trio.move_on_after(within):
            while True:
                result = check()
                if result is not None:
                    return result
                await self._changed.wait()
        raise AssertionError(describe())
