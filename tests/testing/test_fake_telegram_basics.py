"""The fake Bot API over real HTTP with plain httpx: envelope, token, method names, the four
parameter encodings, strict parameters, and Telegram's exact error bodies."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio

from kiebot.testing.media import blob, png
from kiebot.testing.telegram.server import FakeTelegram

ERRORS = Path(__file__).parents[1] / "data" / "telegram" / "errors"


@pytest.fixture
async def fake(nursery: trio.Nursery) -> FakeTelegram:
    server = FakeTelegram()
    await nursery.start(server.serve)
    server.add_user(1001, "Anna", username="anna")
    return server


async def call(client: httpx.AsyncClient, fake: FakeTelegram, method: str, **params: Any) -> tuple[int, dict[str, Any]]:
    return await fake.call_raw(client, method, **params)


def sample(name: str) -> dict[str, Any]:
    body: dict[str, Any] = json.loads((ERRORS / f"{name}.json").read_text())
    return body


async def test_get_me_answers_the_bot_in_an_ok_envelope(
    fake: FakeTelegram, client: httpx.AsyncClient
) -> None:
    with trio.fail_after(5):
        status, body = await call(client, fake, "getMe")
    assert status == 200
    assert body == {
        "ok": True,
        "result": {
            "id": 123456789,
            "is_bot": True,
            "first_name": "Kiebot",
            "username": "kiebot_test_bot",
            "can_join_groups": False,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        },
    }


async def test_wrong_token_is_401_and_unknown_method_404(
    fake: FakeTelegram, client: httpx.AsyncClient
) -> None:
    with trio.fail_after(5):
        wrong = await client.get(f"{fake.base_url}/bot123456789:WRONG/getMe")
        unknown = await client.get(fake.method_url("sendTelepathy"))
        download = await client.get(f"{fake.base_url}/file/bot123456789:WRONG/photos/file_1.jpg")
    assert (wrong.status_code, wrong.json()) == (401, sample("unauthorized"))
    assert (download.status_code, download.json()) == (401, sample("unauthorized"))
    assert unknown.status_code == 404
    assert unknown.json() == {"ok": False, "error_code": 404, "description": "Not Found: method not found"}


async def test_method_names_are_case_insensitive(fake: FakeTelegram, client: httpx.AsyncClient) -> None:
    with trio.fail_after(5):
        for spelling in ("getme", "GETME", "GetMe"):
            response = await client.get(fake.method_url(spelling))
            assert response.json()["result"]["username"] == "kiebot_test_bot"
    assert [r.method for r in fake.requests] == ["getMe"] * 3


async def test_the_four_encodings_carry_the_same_parameters(
    fake: FakeTelegram, client: httpx.AsyncClient
) -> None:
    keyboard = {"inline_keyboard": [[{"text": "Go", "callback_data": "go"}]]}
    with trio.fail_after(5):
        by_query = await client.get(fake.method_url("sendMessage"), params={"chat_id": 1001, "text": "query"})
        by_form = await client.post(
            fake.method_url("sendMessage"),
            data={"chat_id": "1001", "text": "form", "reply_markup": json.dumps(keyboard)},
        )
        by_json = await client.post(
            fake.method_url("sendMessage"), json={"chat_id": 1001, "text": "json", "reply_markup": keyboard}
        )
        by_multipart = await client.post(
            fake.method_url("sendPhoto"),
            data={"chat_id": "1001", "caption": "multipart", "reply_markup": json.dumps(keyboard)},
            files={"photo": ("p.png", png(3, 2), "image/png")},
        )
    for response in (by_query, by_form, by_json, by_multipart):
        assert response.status_code == 200, response.text
    assert by_form.json()["result"]["reply_markup"] == keyboard
    assert by_json.json()["result"]["reply_markup"] == keyboard
    assert by_multipart.json()["result"]["reply_markup"] == keyboard
    assert [m.content for m in fake.transcript(1001)] == ["query", "form", "json", "multipart"]
    recorded = [(r.http_method, r.content_type) for r in fake.requests]
    assert recorded == [
        ("GET", ""),
        ("POST", "application/x-www-form-urlencoded"),
        ("POST", "application/json"),
        ("POST", "multipart/form-data"),
    ]
    assert fake.requests[3].files == {"photo": ("p.png", len(png(3, 2)))}


async def test_json_serialized_parameters_must_be_json_in_forms(
    fake: FakeTelegram, client: httpx.AsyncClient
) -> None:
    with trio.fail_after(5):
        response = await client.post(
            fake.method_url("sendMessage"), data={"chat_id": "1001", "text": "x", "reply_markup": "{oops"}
        )
    assert response.status_code == 400
    assert response.json()["description"] == "Bad Request: can't parse reply keyboard markup JSON object"


async def test_unknown_parameters_are_refused_unless_lenient(
    fake: FakeTelegram, client: httpx.AsyncClient, nursery: trio.Nursery
) -> None:
    with trio.fail_after(5):
        status, body = await call(client, fake, "sendMessage", chat_id=1001, text="x", reply_markp={})
        lenient = FakeTelegram(strict_params=False)
        await nursery.start(lenient.serve)
        lenient.add_user(1001, "Anna")
        ok_status, _ = await call(client, lenient, "sendMessage", chat_id=1001, text="x", reply_markp={})
    assert status == 400
    assert body["description"].startswith('Bad Request: unknown parameter "reply_markp" for sendMessage')
    assert ok_status == 200
    assert fake.transcript(1001) == []


async def test_error_bodies_are_telegrams_own(fake: FakeTelegram, client: httpx.AsyncClient) -> None:
    """Each failure the fake produces, compared with the real envelope sample of the same error."""
    fake.add_user(1002, "Never Started", started=False)
    fake.add_user(1003, "Blocker")
    fake.block_bot(1003)
    big = fake.send_document(1001, blob(20 * 1024 * 1024 + 1), file_name="big.bin")
    with trio.fail_after(10):
        _, sent = await call(client, fake, "sendMessage", chat_id=1001, text="hello")
        message_id = sent["result"]["message_id"]
        fake.backdate(1001, message_id, 49 * 3600)
        user_message_id = fake.send_text(1001, "mine")["message_id"]
        cases = {
            "bad-request-chat-not-found": await call(client, fake, "sendMessage", chat_id=4242, text="x"),
            "bad-request-message-text-is-empty": await call(
                client, fake, "sendMessage", chat_id=1001, text=""
            ),
            "bad-request-message-to-edit-not-found": await call(
                client, fake, "editMessageText", chat_id=1001, message_id=999, text="x"
            ),
            "bad-request-message-cant-be-edited": await call(
                client, fake, "editMessageText", chat_id=1001, message_id=user_message_id, text="x"
            ),
            "bad-request-message-to-delete-not-found": await call(
                client, fake, "deleteMessage", chat_id=1001, message_id=999
            ),
            "bad-request-message-cant-be-deleted": await call(
                client, fake, "deleteMessage", chat_id=1001, message_id=message_id
            ),
            "forbidden-bot-blocked-by-user": await call(client, fake, "sendMessage", chat_id=1003, text="x"),
            "forbidden-cant-initiate-conversation": await call(
                client, fake, "sendMessage", chat_id=1002, text="x"
            ),
            "bad-request-wrong-parameter-action-in-request": await call(
                client, fake, "sendChatAction", chat_id=1001, action="dancing"
            ),
            "bad-request-invalid-file-id": await call(client, fake, "getFile", file_id="nope"),
            "bad-request-file-too-big": await call(
                client, fake, "getFile", file_id=big["document"]["file_id"]
            ),
            "bad-request-reply-message-not-found": await call(
                client, fake, "sendMessage", chat_id=1001, text="x", reply_parameters={"message_id": 999}
            ),
        }
    for name, (status, body) in cases.items():
        assert (status, body) == (sample(name)["error_code"], sample(name)), name


async def test_not_modified_uses_the_current_long_wording(
    fake: FakeTelegram, client: httpx.AsyncClient
) -> None:
    with trio.fail_after(5):
        _, sent = await call(client, fake, "sendMessage", chat_id=1001, text="same")
        status, body = await call(
            client,
            fake,
            "editMessageText",
            chat_id=1001,
            message_id=sent["result"]["message_id"],
            text="same",
        )
    assert status == 400
    assert body["description"].startswith(sample("bad-request-message-not-modified")["description"])
    assert body["description"] == (
        "Bad Request: message is not modified: specified new message content and reply markup are exactly "
        "the same as a current content and reply markup of the message"
    )


async def test_oversized_request_is_413(fake: FakeTelegram, client: httpx.AsyncClient) -> None:
    with trio.fail_after(20):
        response = await client.post(
            fake.method_url("sendDocument"),
            data={"chat_id": "1001"},
            files={"document": ("huge.bin", blob(52 * 1024 * 1024), "application/octet-stream")},
        )
    assert response.status_code == 413
    assert response.json() == {"ok": False, "error_code": 413, "description": "Request Entity Too Large"}
    assert fake.transcript(1001) == []
