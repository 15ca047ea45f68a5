"""Long polling with an explicit confirm step (https://core.telegram.org/bots/api#getupdates).

An update is confirmed to Telegram by the *next* getUpdates call with ``offset`` above its
``update_id``. :class:`Poller` advances its offset only in :meth:`Poller.confirm`, which the caller
invokes after it has stored the batch — so a crash between fetching and storing re-delivers the batch
instead of losing it (DESIGN.md: "a confirmed offset is given only after the update is stored").

Errors: :class:`~kiebot.telegram.errors.Conflict` (another poller, or a webhook is set) and
:class:`~kiebot.telegram.errors.Unauthorized` are raised at once — the caller decides; 429 is
honoured through the client's limiter; network errors and 5xx are retried with capped exponential
back-off without limit, since a poller has nothing better to do.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Final

import trio

from kiebot.telegram.client import TelegramClient
from kiebot.telegram.errors import NetworkError, RetryAfter, ServerError
from kiebot.telegram.limits import MAX_POLL_TIMEOUT, MAX_UPDATES_LIMIT
from kiebot.telegram.types import Update
from kiebot.telegram.webhook import set_webhook, validate_secret_token

__all__ = ["Poller", "set_webhook", "validate_secret_token"]  # the webhook helpers live in webhook.py

log = logging.getLogger("kiebot.telegram.polling")

_TRANSIENT: Final = (NetworkError, ServerError, RetryAfter)


class Poller:
    """Fetch batches with :meth:`next_batch`, store them, then :meth:`confirm` them."""

    def __init__(
        self,
        client: TelegramClient,
        *,
        timeout: int = MAX_POLL_TIMEOUT,
        limit: int = MAX_UPDATES_LIMIT,
        allowed_updates: Sequence[str] | None,
        offset: int | None = None,
        backoff_base: float = 1.0,
        backoff_cap: float = 30.0,
    ) -> None:
        self._client = client
        self.timeout = max(0, min(timeout, MAX_POLL_TIMEOUT))
        self.limit = max(1, min(limit, MAX_UPDATES_LIMIT))
        self.allowed_updates = None if allowed_updates is None else list(allowed_updates)
        self._offset = offset
        self._backoff_base = backoff_base
        self._backoff_cap = backoff_cap
        self._raw: dict[int, bytes] = {}

    @property
    def offset(self) -> int | None:
        """The next getUpdates offset: last confirmed ``update_id + 1`` (None before any)."""
        return self._offset

    async def next_batch(self) -> list[Update]:
        """The next batch (possibly empty after a quiet long poll), in ``update_id`` order.

        Until :meth:`confirm` is called the same updates come again. Transient failures are retried
        here with back-off; Conflict, Unauthorized and other client errors propagate.
        """
        failures = 0
        while True:
            try:
                batch = await self._client.get_updates_with_raw(
                    offset=self._offset,
                    limit=self.limit,
                    timeout=self.timeout,
                    allowed_updates=self.allowed_updates,
                )
            except _TRANSIENT as exc:
                failures += 1
                delay = min(self._backoff_cap, self._backoff_base * 2 ** (failures - 1))
                log.warning(
                    "getUpdates failed; backing off",
                    extra={"error": type(exc).__name__, "seconds": delay, "failures": failures},
                )
                await trio.sleep(delay)
                continue
            batch.sort(key=lambda pair: pair[0].update_id)
            self._raw = {update.update_id: raw for update, raw in batch}
            return [update for update, _ in batch]

    def raw(self, update: Update) -> bytes:
        """The exact JSON Telegram sent for an update of the current batch (store this, not a
        re-encoding, so fields unknown to this client survive)."""
        return self._raw[update.update_id]

    def confirm(self, batch: Sequence[Update]) -> None:
        """Mark ``batch`` as stored: the next getUpdates asks for ``max(update_id) + 1``. Never moves
        the offset backwards."""
        if not batch:
            return
        next_offset = max(update.update_id for update in batch) + 1
        if self._offset is None or next_offset > self._offset:
            self._offset = next_offset

    async def flush(self) -> None:
        """Tell Telegram about the last confirmation now (one short getUpdates with the current offset
        and ``limit=1``), so a stop does not re-deliver the last stored batch on the next start
        (python-telegram-bot #3804). Anything it returns stays unconfirmed and comes again."""
        if self._offset is None:
            return
        await self._client.get_updates_with_raw(offset=self._offset, limit=1, timeout=0)
