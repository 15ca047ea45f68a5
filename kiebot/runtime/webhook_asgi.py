"""The webhook's hot path: a plain ASGI handler in front of the Quart application.

Why (issue 18): a py-spy profile of ``benchmarks/ingest.py`` put over half of the bot's samples
in the web framework's per-request work (Quart's request and response objects, its context
locals, routing, the ``after_request`` machinery) around a handler that only checks a header,
decodes a body and waits for the group commit. Here the webhook's path goes straight from
hypercorn to :class:`WebhookIntake` (same checks, same answers: :mod:`kiebot.intake.verdict`);
every other path, and the lifespan events, go to Quart unchanged.

Durability is unchanged: the 200 is sent only after the group-commit writer
(:mod:`kiebot.intake.writer`) has stored the update; a database that cannot take it gets 503 +
``Retry-After``. Each request is marked on the :class:`kiebot.intake.gate.IntakeGate`, which keeps
handling from crowding out acknowledgements.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, MutableMapping
from functools import lru_cache
from typing import Any

import trio

from kiebot.intake.gate import IntakeGate
from kiebot.intake.verdict import DATABASE, STORED, TOO_LARGE, Accepted, Verdict, judge, judge_length
from kiebot.intake.writer import InboxWriter
from kiebot.metrics import Metrics
from kiebot.store.db import DatabaseUnavailable

log = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
#: Any ASGI 3 application (Quart's own signature is narrower than this module's dicts).
ASGIApp = Callable[[Any, Any, Any], Awaitable[None]]

#: Telegram gives up on a webhook request after about 10 s and sends it again.
ACK_DEADLINE_S = 8.0

_SECRET_HEADER = b"x-telegram-bot-api-secret-token"


class WebhookIntake:
    """Judge a webhook body, store it through the group-commit writer, count it; returns the
    :class:`Verdict` to send. Shared by the ASGI fast path and the Quart route."""

    def __init__(
        self,
        *,
        secret: str,
        max_body: int,
        writer: InboxWriter,
        metrics: Metrics,
        accepting: Callable[[], bool],
        source: str,
        gate: IntakeGate | None = None,
    ) -> None:
        self.secret = secret
        self.max_body = max_body
        self._writer = writer
        self._metrics = metrics
        self._accepting = accepting
        self._source = source
        self.gate = gate
        self._received: dict[str, Any] = {}
        self._rejected: dict[str, Any] = {}
        self._duplicate = metrics.updates_duplicate.labels(source=source)
        self._responses: dict[int, Any] = {}

    def request(self) -> contextlib.AbstractContextManager[None]:
        """Around one request: marks intake busy on the gate (when there is one)."""
        return self.gate.request() if self.gate is not None else contextlib.nullcontext()

    def answered(self, status: int) -> None:
        """Count an answer of the fast path by status (``kiebot_webhook_responses``); the Quart
        route counts its own."""
        counter = self._responses.get(status)
        if counter is None:
            counter = self._responses[status] = self._metrics.webhook_responses.labels(code=str(status))
        counter.inc()

    def refuse(self, verdict: Verdict) -> Verdict:
        if verdict.reason:
            counter = self._rejected.get(verdict.reason)
            if counter is None:
                counter = self._rejected[verdict.reason] = self._metrics.webhook_rejected.labels(reason=verdict.reason)
            counter.inc()
        return verdict

    async def take(self, body: bytes, given_secret: str | None, began: float) -> Verdict:
        outcome = judge(body, secret=self.secret, given_secret=given_secret, accepting=self._accepting(), source=self._source)
        if not isinstance(outcome, Accepted):
            return self.refuse(outcome)
        try:
            with trio.fail_after(ACK_DEADLINE_S):
                new = await self._writer.put(outcome.item)
        except (DatabaseUnavailable, trio.TooSlowError):
            log.warning("webhook: database unavailable, asking Telegram to retry", extra={"update_id": outcome.item.update_id})
            return self.refuse(DATABASE)
        if new:
            counter = self._received.get(outcome.kind)
            if counter is None:
                counter = self._received[outcome.kind] = self._metrics.updates_received.labels(kind=outcome.kind, source=self._source)
            counter.inc()
        else:
            self._duplicate.inc()
        self._metrics.webhook_seconds.observe(time.perf_counter() - began)
        return STORED


@lru_cache(maxsize=64)
def _start_message(verdict: Verdict) -> dict[str, Any]:
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(verdict.body)).encode())]
    headers += [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in verdict.headers]
    return {"type": "http.response.start", "status": verdict.status, "headers": headers}


async def _answer(send: Send, verdict: Verdict) -> None:
    await send(dict(_start_message(verdict)))
    await send({"type": "http.response.body", "body": verdict.body, "more_body": False})


class WebhookFastPath:
    """ASGI: ``POST <path>`` is taken by ``intake``; everything else goes to ``app`` (Quart)."""

    def __init__(self, app: ASGIApp, path: str, intake: WebhookIntake) -> None:
        self._app = app
        self._path = path
        self._intake = intake

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == self._path and scope["method"] == "POST":
            with self._intake.request():
                try:
                    await self._webhook(scope, receive, send)
                except Exception:
                    # Counted as the server's 500 (the webhook 5xx alert watches this count).
                    self._intake.answered(500)
                    raise
            return
        await self._app(scope, receive, send)

    async def _webhook(self, scope: Scope, receive: Receive, send: Send) -> None:
        began = time.perf_counter()
        intake = self._intake
        length: int | None = None
        given: str | None = None
        for name, value in scope["headers"]:
            if name == b"content-length":
                try:
                    length = int(value)
                except ValueError:
                    length = None
            elif name == _SECRET_HEADER:
                given = value.decode("latin-1")
        early = judge_length(length, intake.max_body)
        if early is not None:
            await self._answer(send, intake.refuse(early))
            return
        # Read the (bounded) body before answering anything: an answer with the body left unread
        # can stall the next request on the same keep-alive connection.
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away; nothing was stored, Telegram sends it again
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > intake.max_body:
                await self._answer(send, intake.refuse(TOO_LARGE))
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        await self._answer(send, await intake.take(body, given, began))

    async def _answer(self, send: Send, verdict: Verdict) -> None:
        self._intake.answered(verdict.status)
        await _answer(send, verdict)
