"""Poller: fetch, then confirm only after storing; 409 surfaced; transient failures backed off."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
import trio
from trio.testing import MockClock

from kiebot.telegram import errors
from kiebot.telegram.client import TelegramClient
from kiebot.telegram.polling import Poller


def update(update_id: int, chat_id: int = 42, **extra: Any) -> dict[str, Any]:
    return {
        "update_id": update_id,
        "message": {
            "message_id": update_id,
            "date": 1,
            "chat": {"id": chat_id, "type": "private"},
            "text": f"u{update_id}",
        },
        **extra,
    }


async def test_offset_moves_only_on_confirm(bot_api: Any, tg: TelegramClient) -> None:
    bot_api.reply(
        "getUpdates",
        bot_api.ok([update(11), update(10)]),
        bot_api.ok([update(10), update(11)]),  # not confirmed: Telegram sends them again
        bot_api.ok([update(12)]),
        bot_api.ok([]),
    )
    poller = Poller(
        tg, timeout=0, limit=100, allowed_updates=["message", "callback_query", "pre_checkout_query"]
    )
    with trio.fail_after(10):
        first = await poller.next_batch()
        assert [u.update_id for u in first] == [10, 11]  # in update_id order
        again = await poller.next_batch()
        assert [u.update_id for u in again] == [10, 11]
        poller.confirm(again)
        assert poller.offset == 12
        third = await poller.next_batch()
        poller.confirm(third)
        assert await poller.next_batch() == []
    offsets = [r.json.get("offset") for r in bot_api.calls("getUpdates")]
    assert offsets == [None, None, 12, 13]
    assert bot_api.calls("getUpdates")[0].json == {
        "limit": 100,
        "timeout": 0,
        "allowed_updates": ["message", "callback_query", "pre_checkout_query"],
    }


async def test_raw_bytes_are_kept_per_update(bot_api: Any, tg: TelegramClient) -> None:
    body = b'{"ok":true,"result":[{"update_id":5,"message":{"message_id":1,"date":1,"chat":{"id":7,"type":"private"},"new_field":{"x":1}}}]}'
    bot_api.reply("getUpdates", (200, body))
    poller = Poller(tg, timeout=0, allowed_updates=None)
    with trio.fail_after(10):
        [only] = await poller.next_batch()
    raw = poller.raw(only)
    assert json.loads(raw)["message"]["new_field"] == {"x": 1}
    assert raw == body[len(b'{"ok":true,"result":[') : -2]
    assert "allowed_updates" not in bot_api.calls("getUpdates")[0].json  # None keeps the server's setting


async def test_confirm_never_moves_backwards(bot_api: Any, tg: TelegramClient) -> None:
    bot_api.reply("getUpdates", bot_api.ok([update(20)]), bot_api.ok([update(19)]))
    poller = Poller(tg, timeout=0, allowed_updates=[], offset=15)
    assert poller.offset == 15
    with trio.fail_after(10):
        poller.confirm(await poller.next_batch())
        assert poller.offset == 21
        poller.confirm(await poller.next_batch())
    assert poller.offset == 21
    poller.confirm([])
    assert poller.offset == 21


@pytest.mark.parametrize(
    ("description", "cls"),
    [
        (
            "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running",
            errors.TerminatedByOtherPoll,
        ),
        (
            "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first",
            errors.WebhookIsActive,
        ),
    ],
)
async def test_conflict_is_raised_at_once(
    bot_api: Any, tg: TelegramClient, description: str, cls: type[Exception]
) -> None:
    bot_api.reply("getUpdates", bot_api.fail(409, description))
    poller = Poller(tg, timeout=0, allowed_updates=[])
    with trio.fail_after(10), pytest.raises(cls) as caught:
        await poller.next_batch()
    assert isinstance(caught.value, errors.Conflict)
    assert len(bot_api.calls("getUpdates")) == 1


async def test_unauthorized_is_raised_at_once(bot_api: Any, tg: TelegramClient) -> None:
    bot_api.reply("getUpdates", bot_api.fail(401, "Unauthorized"))
    with trio.fail_after(10), pytest.raises(errors.Unauthorized):
        await Poller(tg, timeout=0, allowed_updates=[]).next_batch()


async def test_flush_confirms_the_offset_on_the_server(bot_api: Any, tg: TelegramClient) -> None:
    bot_api.reply("getUpdates", bot_api.ok([update(30)]), bot_api.ok([update(31)]))
    poller = Poller(tg, timeout=0, allowed_updates=[])
    with trio.fail_after(10):
        await poller.flush()  # nothing confirmed yet: no call
        poller.confirm(await poller.next_batch())
        await poller.flush()
    assert [r.json for r in bot_api.calls("getUpdates")][1] == {"offset": 31, "limit": 1, "timeout": 0}


async def test_transient_failures_are_backed_off(mock_api: Any, autojump_clock: MockClock) -> None:
    def broken(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("down", request=request)

    mock_api.reply(
        "getUpdates",
        mock_api.fail(502, "Bad Gateway"),
        broken,
        mock_api.fail(500, "Internal Server Error"),
        mock_api.ok([update(1)]),
    )
    client = mock_api.client(max_retries=0)
    poller = Poller(client, timeout=0, allowed_updates=[], backoff_base=1.0, backoff_cap=30.0)
    with trio.fail_after(60):
        batch = await poller.next_batch()
    assert [u.update_id for u in batch] == [1]
    assert mock_api.times("getUpdates") == [0, 1, 3, 7]


async def test_back_off_is_capped(mock_api: Any, autojump_clock: MockClock) -> None:
    for _ in range(6):
        mock_api.reply("getUpdates", mock_api.fail(500, "Internal Server Error"))
    mock_api.reply("getUpdates", mock_api.ok([]))
    client = mock_api.client(max_retries=0)
    poller = Poller(client, timeout=0, allowed_updates=[], backoff_base=1.0, backoff_cap=5.0)
    with trio.fail_after(120):
        await poller.next_batch()
    assert mock_api.times("getUpdates") == [0, 1, 3, 7, 12, 17, 22]


async def test_retry_after_is_honoured(mock_api: Any, autojump_clock: MockClock) -> None:
    mock_api.reply(
        "getUpdates", mock_api.fail(429, "Too Many Requests: retry after 5", retry_after=5), mock_api.ok([])
    )
    poller = Poller(mock_api.client(), timeout=0, allowed_updates=[])
    with trio.fail_after(60):
        assert await poller.next_batch() == []
    assert mock_api.times("getUpdates") == [0, 5]


async def test_long_poll_timeout_is_clamped_and_the_read_timeout_exceeds_it(
    mock_api: Any, autojump_clock: MockClock
) -> None:
    mock_api.reply("getUpdates", mock_api.ok([]))
    poller = Poller(mock_api.client(), timeout=90, limit=500, allowed_updates=[])
    assert (poller.timeout, poller.limit) == (50, 100)
    with trio.fail_after(60):
        await poller.next_batch()
    [(_, request)] = mock_api.requests
    assert json.loads(request.content)["timeout"] == 50
    assert request.extensions["timeout"]["read"] > 50


async def test_an_unreadable_update_does_not_stall_polling(bot_api: Any, tg: TelegramClient) -> None:
    odd = {"update_id": 41, "message": {"message_id": "not-a-number", "date": 1, "chat": {"id": 7}}}
    body = json.dumps({"ok": True, "result": [update(40), odd, {"no_update_id": True}, update(42)]}).encode()
    bot_api.reply("getUpdates", (200, body), bot_api.ok([]))
    poller = Poller(tg, timeout=0, allowed_updates=[])
    with trio.fail_after(10):
        batch = await poller.next_batch()
        assert [(u.update_id, u.kind) for u in batch] == [(40, "message"), (41, "unknown"), (42, "message")]
        assert json.loads(poller.raw(batch[1])) == odd  # stored as Telegram sent it, for a later look
        poller.confirm(batch)
        await poller.next_batch()
    assert bot_api.calls("getUpdates")[1].json["offset"] == 43
