"""Webhook delivery as the Bot API server does it (tdlib/telegram-bot-api ``WebhookActor``).

After ``setWebhook`` every pending update is POSTed as JSON to the URL with the
``X-Telegram-Bot-Api-Secret-Token`` header (https://core.telegram.org/bots/api#setwebhook):

* updates of one chat (one user's queries) go strictly in order — the next waits until the
  previous got a 2xx — while different chats are delivered concurrently, at most
  ``max_connections`` requests at once;
* any non-2xx answer, a timeout or a connection error is a failure; the first is retried at once,
  the next after 2, 4, 8 ... seconds, capped at 60 s (Telegram picks 60–120 s at random); a
  ``Retry-After`` header in the bot's answer is honoured instead (0–3600 s). Every wait is
  multiplied by ``webhook_backoff_scale`` so tests stay fast;
* failures show in getWebhookInfo as ``last_error_date``/``last_error_message`` and in
  ``pending_update_count``; an update past its expiry (150 s for queries, 24 h for messages) is
  dropped.

Not reproduced: answering the webhook with a method call in the response body (the bot does not
use it) and deleting the webhook after ~23 h of 410 answers.
"""

from __future__ import annotations

import math
from http import HTTPStatus

import httpx
import msgspec
import trio

from kiebot.testing.telegram.model.state import State, WebhookConfig
from kiebot.testing.telegram.model.world import now
from kiebot.testing.telegram.updates import PendingUpdate

MAX_BACKOFF = 60.0
_encode = msgspec.json.encode


def backoff(attempt: int, retry_after: float | None) -> float:
    """Seconds before retry number ``attempt`` (1 = first failure), before scaling."""
    if retry_after is not None:
        return min(max(retry_after, 0.0), 3600.0)
    if attempt <= 1:
        return 0.0
    return min(2.0 ** (attempt - 1), MAX_BACKOFF)


def _status_line(code: int) -> str:
    try:
        return f"{code} {HTTPStatus(code).phrase}"
    except ValueError:
        return str(code)


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    return seconds if math.isfinite(seconds) else None


class WebhookRunner:
    """Runs one delivery loop for the current webhook setting, restarted on every change."""

    def __init__(self, state: State, client: httpx.AsyncClient, nursery: trio.Nursery) -> None:
        self._state = state
        self._client = client
        self._nursery = nursery
        self._scope: trio.CancelScope | None = None

    def apply(self) -> None:
        """Stop delivering to the old URL (an in-flight request is abandoned; its update stays
        pending) and start on the new one, if any."""
        if self._scope is not None:
            self._scope.cancel()
            self._scope = None
        config = self._state.webhook
        if config is not None:
            scope = trio.CancelScope()
            self._scope = scope
            self._nursery.start_soon(self._run, config, scope)

    async def _run(self, config: WebhookConfig, scope: trio.CancelScope) -> None:
        with scope:
            limiter = trio.CapacityLimiter(config.max_connections)
            busy: set[str] = set()
            updates = self._state.updates
            async with trio.open_nursery() as nursery:
                while True:
                    updates.expire()
                    for pending in updates.pending:
                        if pending.key not in busy:
                            busy.add(pending.key)
                            nursery.start_soon(self._drain, config, pending.key, limiter, busy)
                    await updates.wait_changed()

    async def _drain(
        self, config: WebhookConfig, key: str, limiter: trio.CapacityLimiter, busy: set[str]
    ) -> None:
        """Deliver one chat's updates, one after the other."""
        try:
            while (pending := self._state.updates.next_for(key)) is not None:
                await self._deliver(config, pending, limiter)
        finally:
            busy.discard(key)

    async def _deliver(
        self, config: WebhookConfig, pending: PendingUpdate, limiter: trio.CapacityLimiter
    ) -> None:
        updates = self._state.updates
        scale = self._state.config.webhook_backoff_scale
        attempt = 0
        while pending in updates.pending:
            if pending.expires_at <= trio.current_time():
                updates.remove(pending)
                return
            attempt += 1
            async with limiter:
                error, retry_after = await self._post(config, pending)
            self._state.webhook_status.attempts.append(
                {
                    "update_id": pending.update_id,
                    "key": pending.key,
                    "error": error,
                    "at": trio.current_time(),
                }
            )
            if error is None:
                updates.delivered.append(pending.payload)
                updates.remove(pending)
                self._state.publish("update_delivered", update_id=pending.update_id)
                return
            self._state.webhook_status.last_error_date = now()
            self._state.webhook_status.last_error_message = error
            self._state.publish("webhook_error", update_id=pending.update_id, error=error, attempt=attempt)
            await trio.sleep(backoff(attempt, retry_after) * scale)

    async def _post(self, config: WebhookConfig, pending: PendingUpdate) -> tuple[str | None, float | None]:
        headers = {"Content-Type": "application/json"}
        if config.secret_token:
            headers["X-Telegram-Bot-Api-Secret-Token"] = config.secret_token
        try:
            response = await self._client.post(
                config.url,
                content=_encode(pending.payload),
                headers=headers,
                timeout=self._state.config.webhook_timeout,
            )
        except httpx.TimeoutException:
            return "Read timeout expired", None
        except httpx.ConnectError:
            return "Connection refused", None
        except httpx.HTTPError as exc:
            return f"Connection error: {type(exc).__name__}", None
        if 200 <= response.status_code < 300:
            return None, None
        return (
            f"Wrong response from the webhook: {_status_line(response.status_code)}",
            _retry_after(response),
        )
