"""The webhook's plain ASGI path (kiebot/runtime/webhook_asgi.py) and its sans-IO verdict
(kiebot/intake/verdict.py): the webhook never reaches Quart, every other path and the lifespan do;
the answers are the same; a body is stored before its 200; the intake gate sees each request."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import msgspec
import pytest
import trio

from kiebot.intake import verdict
from kiebot.intake.gate import IntakeGate
from kiebot.intake.writer import InboxWriter
from kiebot.metrics import Metrics
from kiebot.runtime.webhook_asgi import WebhookFastPath, WebhookIntake
from kiebot.store.db import Database

SECRET = "s3cret-token"
PATH = "/webhook"


def _update(update_id: int, user: int = 42) -> bytes:
    return json.dumps(
        {"update_id": update_id, "message": {"message_id": 1, "date": 1, "chat": {"id": user, "type": "private"},
                                             "from": {"id": user, "is_bot": False, "first_name": "A"}, "text": "/start"}}
    ).encode()


class Inner:
    """Stands for Quart: records what reached it."""

    def __init__(self) -> None:
        self.scopes: list[dict[str, Any]] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        self.scopes.append(scope)
        if scope["type"] == "http":
            await send({"type": "http.response.start", "status": 204, "headers": []})
            await send({"type": "http.response.body", "body": b""})


async def _call(app: WebhookFastPath, chunks: list[bytes], *, path: str = PATH, method: str = "POST",
                headers: dict[str, str] | None = None, disconnect: bool = False) -> tuple[int | None, dict[str, str], bytes]:
    scope = {"type": "http", "path": path, "method": method,
             "headers": [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]}
    pending = list(chunks)
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        if not pending:
            return {"type": "http.disconnect"}
        chunk = pending.pop(0)
        more = bool(pending) or disconnect
        return {"type": "http.request", "body": chunk, "more_body": more}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    if not sent:
        return None, {}, b""
    start = sent[0]
    return start["status"], {k.decode(): v.decode() for k, v in start["headers"]}, b"".join(m.get("body", b"") for m in sent[1:])


@pytest.fixture
async def fast(store_db: Database) -> AsyncIterator[tuple[WebhookFastPath, Inner, IntakeGate, Database]]:
    writer = InboxWriter(store_db)
    gate = IntakeGate(busy_concurrency=1, quiet_s=0.0)
    inner = Inner()
    intake = WebhookIntake(secret=SECRET, max_body=2048, writer=writer, metrics=Metrics(), accepting=lambda: True,
                           source="webhook", gate=gate)
    async with trio.open_nursery() as nursery:
        await nursery.start(writer.run)
        yield WebhookFastPath(inner, PATH, intake), inner, gate, store_db
        nursery.cancel_scope.cancel()


async def test_an_update_is_stored_before_its_200_without_reaching_quart(fast: Any) -> None:
    app, inner, gate, db = fast
    with trio.fail_after(10):
        body = _update(501)
        status, headers, answer = await _call(app, [body[:10], body[10:]], headers={"X-Telegram-Bot-Api-Secret-Token": SECRET})
        assert (status, answer) == (200, b'{"ok":true}')
        assert headers["content-type"] == "application/json"
        assert await db.fetchval("SELECT count(*) FROM updates WHERE update_id = 501") == 1
        assert inner.scopes == []
        assert not gate.busy()  # the request was marked while it ran, and has ended


async def test_refusals_match_the_verdicts(fast: Any) -> None:
    app, inner, _, db = fast
    with trio.fail_after(10):
        ok = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
        cases = [
            (_call(app, [_update(1)]), verdict.UNAUTHORIZED),
            (_call(app, [_update(2)], headers={"X-Telegram-Bot-Api-Secret-Token": "nope"}), verdict.UNAUTHORIZED),
            (_call(app, [b"{not json"], headers=ok), verdict.MALFORMED),
            (_call(app, [b"x" * 100], headers={**ok, "Content-Length": "4096"}), verdict.TOO_LARGE),
            (_call(app, [b"{" + b" " * 1500, b" " * 1500 + b"}"], headers=ok), verdict.TOO_LARGE),  # no length, streamed
        ]
        for call, expected in cases:
            status, headers, answer = await call
            assert (status, answer) == (expected.status, expected.body)
            for k, v in expected.headers:
                assert headers[k.lower()] == v
        assert await db.fetchval("SELECT count(*) FROM updates") == 0
        assert inner.scopes == []


async def test_a_client_gone_mid_body_gets_nothing_and_nothing_is_stored(fast: Any) -> None:
    app, _, _, db = fast
    with trio.fail_after(10):
        status, _, _ = await _call(app, [_update(9)[:20]], headers={"X-Telegram-Bot-Api-Secret-Token": SECRET}, disconnect=True)
        assert status is None
        assert await db.fetchval("SELECT count(*) FROM updates") == 0


async def test_everything_else_goes_to_quart(fast: Any) -> None:
    app, inner, _, _ = fast
    with trio.fail_after(10):
        assert (await _call(app, [b""], path="/healthz", method="GET"))[0] == 204
        assert (await _call(app, [b""], method="GET"))[0] == 204  # GET on the webhook path: Quart's 405
        assert (await _call(app, [b""], path="/webhook/x"))[0] == 204
        await app({"type": "lifespan"}, None, None)
        assert [s["type"] for s in inner.scopes] == ["http", "http", "http", "lifespan"]


def test_verdict_order_secret_then_shutdown_then_decode() -> None:
    good = _update(7)
    assert verdict.judge(good, secret=SECRET, given_secret=None, accepting=False, source="webhook") is verdict.UNAUTHORIZED
    assert verdict.judge(b"{", secret=SECRET, given_secret=SECRET, accepting=False, source="webhook") is verdict.SHUTTING_DOWN
    assert verdict.judge(b"{", secret=SECRET, given_secret=SECRET, accepting=True, source="webhook") is verdict.MALFORMED
    huge_id = good.replace(b'"update_id": 7', b'"update_id": 99999999999999999999')
    assert verdict.judge(huge_id, secret=SECRET, given_secret=SECRET, accepting=True, source="webhook") is verdict.MALFORMED
    accepted = verdict.judge(good, secret=SECRET, given_secret=SECRET, accepting=True, source="webhook")
    assert isinstance(accepted, verdict.Accepted)
    assert (accepted.item.update_id, accepted.item.chat_key, accepted.kind) == (7, 42, "message")
    assert verdict.judge_length(2049, 2048) is verdict.TOO_LARGE
    assert verdict.judge_length(None, 2048) is None
    assert msgspec.json.decode(verdict.DATABASE.body) == {"ok": False, "error": "try again"}
