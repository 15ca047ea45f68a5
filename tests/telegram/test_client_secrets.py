"""The bot token never shows up in an exception (message, repr, cause, context, traceback), a log
line or the client's repr — even though it is part of every request URL."""

from __future__ import annotations

import logging
import socket
import traceback
from typing import Any

import httpx
import pytest
import trio
from trio.testing import MockClock

from kiebot.telegram import errors
from kiebot.telegram.client import TelegramClient
from kiebot.telegram.lean_http import LeanTransport

TOKEN = "123456789:AAH-test_SECRET-token-value_0123456789"
SECRET = TOKEN.split(":", 1)[1]


def assert_no_token(exc: BaseException) -> None:
    rendered = "".join(traceback.format_exception(exc))
    for text in (str(exc), repr(exc), rendered):
        assert SECRET not in text
        assert SECRET.replace("-", "%2D") not in text
    assert exc.__cause__ is None
    assert exc.__context__ is None


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.mark.parametrize("lean", [False, True], ids=["httpx", "lean"])
async def test_connection_refused_over_a_real_socket(caplog: pytest.LogCaptureFixture, lean: bool) -> None:
    transport = LeanTransport() if lean else None
    async with httpx.AsyncClient(timeout=5, transport=transport) as http:
        client = TelegramClient(
            http, TOKEN, base_url=f"http://127.0.0.1:{closed_port()}", max_retries=1, backoff_base=0.01, json_poster=transport
        )
        with caplog.at_level(logging.DEBUG), trio.fail_after(10):
            with pytest.raises(errors.NetworkError) as caught:
                await client.send_message(42, "hi")
            with pytest.raises(errors.NetworkError) as download:
                await client.download_file("photos/file_1.jpg")
    assert not caught.value.maybe_sent
    assert caught.value.description.startswith("ConnectError")
    assert_no_token(caught.value)
    assert_no_token(download.value)
    for record in caplog.records:
        assert SECRET not in record.getMessage()
        assert SECRET not in repr(record.__dict__)


def leaky(exc_type: type[Exception]) -> Any:
    """Like httpx itself: an exception whose text carries the request URL (and so the token)."""

    def handler(request: httpx.Request) -> httpx.Response:
        raise exc_type(f"timed out talking to {request.url}", request=request)

    return handler


async def test_httpx_texts_with_the_url_are_sanitised(autojump_clock: MockClock) -> None:
    http = httpx.AsyncClient(transport=httpx.MockTransport(leaky(httpx.ReadTimeout)))
    client = TelegramClient(http, TOKEN, max_retries=0)
    with trio.fail_after(10), pytest.raises(errors.NetworkError) as caught:
        await client.get_me()
    assert "ReadTimeout" in str(caught.value)
    assert "/bot***/getMe" in str(caught.value)
    assert_no_token(caught.value)


async def test_invalid_url_errors_are_sanitised(autojump_clock: MockClock) -> None:
    async with httpx.AsyncClient() as http:
        client = TelegramClient(http, TOKEN, base_url="ftp://api.telegram.org", max_retries=0)
        with trio.fail_after(10), pytest.raises(errors.NetworkError) as caught:
            await client.get_me()
    assert_no_token(caught.value)


async def test_telegram_errors_carry_method_and_description_only(autojump_clock: MockClock) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            403,
            json={"ok": False, "error_code": 403, "description": "Forbidden: bot was blocked by the user"},
        )

    client = TelegramClient(httpx.AsyncClient(transport=httpx.MockTransport(handler)), TOKEN)
    with trio.fail_after(10), pytest.raises(errors.BotBlocked) as caught:
        await client.send_message(42, "hi")
    assert str(caught.value) == "sendMessage: 403 Forbidden: bot was blocked by the user"
    assert_no_token(caught.value)


def test_repr_hides_the_token() -> None:
    client = TelegramClient(httpx.AsyncClient(), TOKEN)
    assert repr(client) == "TelegramClient(base_url='https://api.telegram.org', bot_id=123456789, token=***)"
    assert client.bot_id == 123456789
    assert SECRET not in str(client)


def test_malformed_tokens_are_refused_without_echo() -> None:
    for bad in ("", "no-colon", "abc:def", "123:has space", "123:"):
        with pytest.raises(ValueError, match="does not look like") as caught:
            TelegramClient(httpx.AsyncClient(), bad)
        assert bad == "" or bad not in str(caught.value)
