"""httpx logs each request line at INFO; a Bot API URL carries the token. Whatever the program's
logging set-up, the client's filter on the ``httpx`` logger masks it before any handler sees it."""

from __future__ import annotations

import logging

import httpx
import pytest
import trio

from kiebot.telegram.client import TelegramClient

TOKEN = "424242:AAHsecretTokenThatMustNeverBeLogged_x"


async def test_httpx_request_lines_never_show_the_token(caplog: pytest.LogCaptureFixture) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"ok": True, "result": {"id": 424242, "is_bot": True, "first_name": "B"}})

    caplog.set_level(logging.INFO, logger="httpx")
    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        client = TelegramClient(http, TOKEN, base_url="http://telegram.test")
        with trio.fail_after(5):
            await client.get_me()
    lines = [r.getMessage() for r in caplog.records if r.name == "httpx"]
    assert lines, "httpx logged no request line at INFO"
    assert all(TOKEN not in line for line in lines)
    assert any("/bot***/getMe" in line for line in lines)
