"""Retry policy on virtual time: 429 waits through the shared limiter, 5xx and transport failures are
retried only when safe, everything is bounded. httpx.MockTransport (no sockets), so autojump_clock
gives exact timings."""

from __future__ import annotations

import itertools
import json
import logging
import random
from typing import Any

import httpx
import pytest
import trio
from trio.testing import MockClock

from kiebot.telegram import errors
from kiebot.telegram.limiter import FloodLimiter


class UpperBoundRandom(random.Random):
    """Makes jittered back-off deterministic: always the longest allowed wait."""

    def uniform(self, a: float, b: float) -> float:
        return b


def raise_(exc_type: type[Exception], message: str = "boom") -> Any:
    def handler(request: httpx.Request) -> httpx.Response:
        raise exc_type(message, request=request)

    return handler


async def test_429_waits_retry_after_then_succeeds(mock_api: Any, autojump_clock: MockClock) -> None:
    waited: list[tuple[str, float]] = []
    client = mock_api.client(on_retry_after=lambda method, seconds: waited.append((method, seconds)))
    mock_api.reply(
        "sendMessage",
        mock_api.fail(429, "Too Many Requests: retry after 3", retry_after=3),
        mock_api.ok(mock_api.message()),
    )
    with trio.fail_after(30):
        message = await client.send_message(42, "hi")
    assert message.message_id == 1
    assert mock_api.times("sendMessage") == [0, 3]
    assert waited == [("sendMessage", 3.0)]


async def test_429_pause_is_shared_with_other_senders_to_that_chat(
    mock_api: Any, autojump_clock: MockClock
) -> None:
    client = mock_api.client()
    mock_api.reply(
        "sendMessage",
        mock_api.fail(429, "Too Many Requests: retry after 5", retry_after=5),
        *[mock_api.ok(mock_api.message())] * 3,
    )
    seen: dict[str, float] = {}

    async def send(name: str, chat_id: int, delay: float) -> None:
        await trio.sleep(delay)
        await client.send_message(chat_id, name)
        seen[name] = trio.current_time()

    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(send, "first", 42, 0)
            nursery.start_soon(send, "same chat later", 42, 1)
            nursery.start_soon(send, "other chat", 43, 1)
    assert seen == {"first": 5, "same chat later": 5, "other chat": 1}


async def test_retry_after_longer_than_the_cap_is_raised(mock_api: Any, autojump_clock: MockClock) -> None:
    client = mock_api.client(max_retry_after=60)
    mock_api.reply("sendMessage", mock_api.fail(429, "Too Many Requests: retry after 3600", retry_after=3600))
    with trio.fail_after(30), pytest.raises(errors.RetryAfter) as caught:
        await client.send_message(42, "hi")
    assert caught.value.retry_after == 3600
    assert mock_api.times("sendMessage") == [0]
    assert client.limiter.paused_until(42) == 3600  # others still wait


async def test_retries_are_bounded(mock_api: Any, autojump_clock: MockClock) -> None:
    client = mock_api.client(max_retries=2)
    for _ in range(5):
        mock_api.reply("getMe", mock_api.fail(429, "Too Many Requests: retry after 1", retry_after=1))
    with trio.fail_after(30), pytest.raises(errors.RetryAfter):
        await client.get_me()
    assert mock_api.times("getMe") == [0, 1, 2]


async def test_server_errors_are_retried_for_safe_calls_only(
    mock_api: Any, autojump_clock: MockClock
) -> None:
    client = mock_api.client(rng=UpperBoundRandom(), backoff_base=0.5)
    mock_api.reply(
        "getMe",
        mock_api.fail(500, "Internal Server Error"),
        (502, b"<html>bad gateway</html>"),
        mock_api.ok({"id": 1, "is_bot": True, "first_name": "B"}),
    )
    mock_api.reply(
        "sendMessage", mock_api.fail(500, "Internal Server Error"), mock_api.ok(mock_api.message())
    )
    with trio.fail_after(30):
        me = await client.get_me()
        assert me.id == 1
        assert mock_api.times("getMe") == [0, 1.0, 3.0]  # back-off 0.5*2, then 0.5*4
        with pytest.raises(errors.ServerError):
            await client.send_message(42, "may have been delivered")
    assert len(mock_api.times("sendMessage")) == 1


async def test_back_off_is_capped(mock_api: Any, autojump_clock: MockClock) -> None:
    client = mock_api.client(rng=UpperBoundRandom(), backoff_base=1.0, backoff_cap=3.0, max_retries=4)
    for _ in range(4):
        mock_api.reply("getWebhookInfo", mock_api.fail(503, "Service Unavailable"))
    mock_api.reply("getWebhookInfo", mock_api.ok({"url": ""}))
    with trio.fail_after(60):
        await client.get_webhook_info()
    assert mock_api.times("getWebhookInfo") == [0, 2, 5, 8, 11]


async def test_jitter_stays_within_bounds(mock_api: Any, autojump_clock: MockClock) -> None:
    client = mock_api.client(rng=random.Random(7), backoff_base=0.5, max_retries=3)
    for _ in range(3):
        mock_api.reply("getFile", mock_api.fail(500, "Internal Server Error"))
    mock_api.reply("getFile", mock_api.ok({"file_id": "F"}))
    with trio.fail_after(30):
        await client.get_file("F")
    times = mock_api.times("getFile")
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert len(gaps) == 3
    for attempt, gap in enumerate(gaps, start=1):
        assert 0 <= gap <= 0.5 * 2**attempt


async def test_connect_errors_are_retried_even_for_sends(mock_api: Any, autojump_clock: MockClock) -> None:
    client = mock_api.client(rng=UpperBoundRandom())
    mock_api.reply(
        "sendMessage",
        raise_(httpx.ConnectError),
        raise_(httpx.ConnectTimeout),
        mock_api.ok(mock_api.message()),
    )
    with trio.fail_after(30):
        await client.send_message(42, "never left the first two times")
    assert len(mock_api.times("sendMessage")) == 3


async def test_read_timeout_on_a_send_is_not_retried(mock_api: Any, autojump_clock: MockClock) -> None:
    client = mock_api.client()
    mock_api.reply("sendPhoto", raise_(httpx.ReadTimeout), mock_api.ok(mock_api.message()))
    with trio.fail_after(30), pytest.raises(errors.NetworkError) as caught:
        await client.send_photo(42, "file-id")
    assert caught.value.maybe_sent
    assert len(mock_api.times("sendPhoto")) == 1


async def test_read_errors_on_safe_calls_are_retried(mock_api: Any, autojump_clock: MockClock) -> None:
    client = mock_api.client()
    mock_api.reply(
        "editMessageText",
        raise_(httpx.ReadTimeout),
        raise_(httpx.RemoteProtocolError),
        mock_api.ok(mock_api.message()),
    )
    with trio.fail_after(30):
        assert await client.edit_message_text(42, 1, "x") is not None
    assert len(mock_api.times("editMessageText")) == 3


async def test_client_errors_are_never_retried(mock_api: Any, autojump_clock: MockClock) -> None:
    client = mock_api.client()
    mock_api.reply("getMe", mock_api.fail(401, "Unauthorized"))
    mock_api.reply(
        "answerCallbackQuery",
        mock_api.fail(
            400, "Bad Request: query is too old and response timeout expired or query ID is invalid"
        ),
    )
    with trio.fail_after(30):
        with pytest.raises(errors.Unauthorized):
            await client.get_me()
        with pytest.raises(errors.QueryTooOld):
            await client.answer_callback_query("q")
    assert len(mock_api.times("getMe")) == 1
    assert len(mock_api.times("answerCallbackQuery")) == 1


async def test_unreadable_success_is_not_retried(mock_api: Any, autojump_clock: MockClock) -> None:
    client = mock_api.client()
    mock_api.reply("getMe", (200, b'{"ok": true, "result": "not a user"}'))
    mock_api.reply("getFile", (200, b"not json at all"))
    with trio.fail_after(30):
        with pytest.raises(errors.InvalidResponse):
            await client.get_me()
        with pytest.raises(errors.InvalidResponse):
            await client.get_file("F")
    assert len(mock_api.times("getMe")) == 1
    assert len(mock_api.times("getFile")) == 1


async def test_chatless_429_pauses_everything_through_the_shared_limiter(
    mock_api: Any, autojump_clock: MockClock
) -> None:
    limiter = FloodLimiter()
    client = mock_api.client(limiter=limiter)
    mock_api.reply(
        "getUpdates", mock_api.fail(429, "Too Many Requests: retry after 4", retry_after=4), mock_api.ok([])
    )
    mock_api.reply("sendMessage", mock_api.ok(mock_api.message()))
    sent_at: list[float] = []

    async def sender() -> None:
        await trio.sleep(1)
        await client.send_message(42, "x")
        sent_at.append(trio.current_time())

    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(sender)
            assert await client.get_updates(timeout=0) == []
    assert mock_api.times("getUpdates") == [0, 4]
    assert sent_at == [4]


async def test_hooks_see_every_attempt_and_cannot_break_calls(
    mock_api: Any, autojump_clock: MockClock
) -> None:
    calls: list[tuple[str, str]] = []

    def on_call(method: str, outcome: str, seconds: float) -> None:
        calls.append((method, outcome))
        raise RuntimeError("a broken metrics hook")

    client = mock_api.client(on_call=on_call, rng=UpperBoundRandom())
    mock_api.reply(
        "getMe",
        mock_api.fail(429, "Too Many Requests: retry after 1", retry_after=1),
        mock_api.fail(500, "x"),
        raise_(httpx.ReadError),
        mock_api.ok({"id": 1}),
    )
    mock_api.reply("sendMessage", mock_api.fail(403, "Forbidden: bot was blocked by the user"))
    with trio.fail_after(30):
        await client.get_me()
        with pytest.raises(errors.BotBlocked):
            await client.send_message(1, "x")
    assert calls == [
        ("getMe", "retry_after"),
        ("getMe", "server_error"),
        ("getMe", "network_error"),
        ("getMe", "ok"),
        ("sendMessage", "error"),
    ]


async def test_each_call_is_logged_at_debug_with_method_and_outcome(
    mock_api: Any, autojump_clock: MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    client = mock_api.client()
    mock_api.reply(
        "sendMessage",
        mock_api.fail(429, "Too Many Requests: retry after 2", retry_after=2),
        mock_api.ok(mock_api.message()),
    )
    with caplog.at_level(logging.DEBUG, logger="kiebot.telegram"), trio.fail_after(30):
        await client.send_message(42, "hi")
    calls = [r for r in caplog.records if r.getMessage() == "telegram call"]
    assert [(r.method, r.outcome) for r in calls] == [("sendMessage", "retry_after"), ("sendMessage", "ok")]  # type: ignore[attr-defined]
    assert all(isinstance(r.duration_ms, float) for r in calls)  # type: ignore[attr-defined]
    retry = [r for r in caplog.records if r.getMessage() == "telegram retry"]
    assert [(r.reason, r.seconds) for r in retry] == [("retry_after", 2)]  # type: ignore[attr-defined]


async def test_a_message_that_met_a_429_is_not_overtaken(mock_api: Any, autojump_clock: MockClock) -> None:
    client = mock_api.client()
    texts: list[tuple[float, str]] = []

    def record(status: int, body: dict[str, Any]) -> Any:
        def handler(request: httpx.Request) -> httpx.Response:
            texts.append((trio.current_time(), json.loads(request.content)["text"]))
            return httpx.Response(status, json=body)

        return handler

    mock_api.reply(
        "sendMessage",
        record(*mock_api.fail(429, "Too Many Requests: retry after 2", retry_after=2)),
        record(*mock_api.ok(mock_api.message())),
        record(*mock_api.ok(mock_api.message())),
    )

    async def send(text: str, delay: float) -> None:
        await trio.sleep(delay)
        await client.send_message(42, text)

    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(send, "first", 0)
            nursery.start_soon(send, "second", 0.5)
    assert texts == [(0, "first"), (2, "first"), (2, "second")]
