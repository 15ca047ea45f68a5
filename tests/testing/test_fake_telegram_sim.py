"""The ``/_sim`` control API over real HTTP (what the browser sandbox uses) and the Python event
feed: users act, the transcript and records are read, faults are scheduled, the world is reset,
and every change streams as server-sent events."""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
import pytest
import trio

from kiebot.testing.media import PDF, png
from kiebot.testing.telegram.server import FakeTelegram
from tests.support.cashier import cashier


@pytest.fixture
async def fake(nursery: trio.Nursery) -> FakeTelegram:
    server = FakeTelegram(precheckout_timeout=2)
    await nursery.start(server.serve)
    return server


async def sim(
    client: httpx.AsyncClient, fake: FakeTelegram, path: str, body: dict[str, Any] | None = None
) -> tuple[int, Any]:
    if body is None:
        response = await client.get(f"{fake.base_url}/_sim{path}")
    else:
        response = await client.post(f"{fake.base_url}/_sim{path}", json=body)
    return response.status_code, response.json()


async def bot(client: httpx.AsyncClient, fake: FakeTelegram, method: str, **params: Any) -> dict[str, Any]:
    response = await client.post(f"{fake.base_url}/bot{fake.token}/{method}", json=params)
    body: dict[str, Any] = response.json()
    return body


async def test_users_write_and_the_bot_receives_it(fake: FakeTelegram, client: httpx.AsyncClient) -> None:
    with trio.fail_after(5):
        status, added = await sim(
            client, fake, "/users", {"user_id": 7001, "first_name": "Ira", "language_code": "en"}
        )
        _, wrote = await sim(client, fake, "/users/7001/messages", {"text": "/start promo"})
        updates = await bot(client, fake, "getUpdates")
        _, listed = await sim(client, fake, "/users")
        _, state = await sim(client, fake, "/state")
        missing = await sim(client, fake, "/users/9/messages", {"text": "hi"})
        bad = await sim(client, fake, "/users", {"first_name": "No id"})
    assert status == 200
    assert added["user"] == {"id": 7001, "is_bot": False, "first_name": "Ira", "language_code": "en"}
    assert wrote["message"]["content"] == "/start promo"
    assert wrote["message"]["from"] == "user"
    [update] = updates["result"]
    assert update["message"]["entities"] == [{"type": "bot_command", "offset": 0, "length": 6}]
    assert listed["users"][0]["blocked"] is False
    assert state["chats"] == [7001]
    assert state["pending_update_count"] == 1
    assert missing == (404, {"ok": False, "error": "no user 9; add_user first"})
    assert bad == (400, {"ok": False, "error": '"user_id" is required'})


async def test_files_by_multipart_and_base64(fake: FakeTelegram, client: httpx.AsyncClient) -> None:
    fake.add_user(7002, "Kolya")
    picture = png(6, 4)
    with trio.fail_after(5):
        photo = await client.post(
            f"{fake.base_url}/_sim/users/7002/photo",
            data={"caption": "make it blue"},
            files={"file": ("p.png", picture, "image/png")},
        )
        _, document = await sim(
            client,
            fake,
            "/users/7002/document",
            {
                "data_base64": base64.b64encode(PDF).decode(),
                "file_name": "brief.pdf",
                "mime_type": "application/pdf",
            },
        )
        not_base64 = await sim(client, fake, "/users/7002/voice", {"data_base64": "%%%"})
        served = await client.get(f"{fake.base_url}{photo.json()['message']['media']['url']}")
    media = photo.json()["message"]["media"]
    assert (media["kind"], media["width"], media["height"], media["size"]) == ("photo", 6, 4, len(picture))
    assert photo.json()["message"]["caption"] == "make it blue"
    assert document["message"]["media"]["file_name"] == "brief.pdf"
    assert not_base64[0] == 400
    assert served.content == picture


async def test_tap_pay_block_and_transcript(fake: FakeTelegram, client: httpx.AsyncClient) -> None:
    fake.add_user(7003, "Lena")
    keyboard = {"inline_keyboard": [[{"text": "Top up", "callback_data": "topup"}]]}

    with trio.fail_after(10):
        menu = await bot(
            client, fake, "sendMessage", chat_id=7003, text="Balance: 0 ₽", reply_markup=keyboard
        )
        _, tapped = await sim(
            client,
            fake,
            "/users/7003/tap",
            {"message_id": menu["result"]["message_id"], "callback_data": "topup"},
        )
        refused = await sim(
            client,
            fake,
            "/users/7003/tap",
            {"message_id": menu["result"]["message_id"], "callback_data": "free"},
        )
        forced = await sim(
            client, fake, "/users/7003/tap", {"message_id": 1, "callback_data": "free", "force": True}
        )
        invoice = await bot(
            client,
            fake,
            "sendInvoice",
            chat_id=7003,
            title="50 ⭐",
            description="Top-up",
            payload="p:1",
            currency="XTR",
            prices=[{"label": "x", "amount": 50}],
        )
        async with cashier(client, fake):
            _, paid = await sim(
                client, fake, "/users/7003/pay", {"message_id": invoice["result"]["message_id"]}
            )
        _, payments = await sim(client, fake, "/payments")
        _, blocked = await sim(client, fake, "/users/7003/block", {})
        after_block = await bot(client, fake, "sendMessage", chat_id=7003, text="x")
        await sim(client, fake, "/users/7003/unblock", {})
        _, transcript = await sim(client, fake, "/chats/7003/transcript")
    assert tapped["callback_query_id"]
    assert refused[0] == 400
    assert "not on message" in refused[1]["error"]
    assert forced[0] == 200
    assert paid["payment"]["status"] == "paid"
    assert (
        payments["payments"][0]["telegram_payment_charge_id"] == paid["payment"]["telegram_payment_charge_id"]
    )
    assert blocked == {"ok": True}
    assert after_block["error_code"] == 403
    assert [(m["from"], m["kind"]) for m in transcript["messages"]] == [
        ("bot", "text"),
        ("bot", "invoice"),
        ("user", "successful_payment"),
    ]
    assert transcript["messages"][0]["buttons"] == keyboard["inline_keyboard"]


async def test_faults_records_and_reset(fake: FakeTelegram, client: httpx.AsyncClient) -> None:
    fake.add_user(7004, "Misha")
    with trio.fail_after(5):
        _, scheduled = await sim(
            client, fake, "/faults", {"method": "sendMessage", "status": 429, "retry_after": 2}
        )
        limited = await bot(client, fake, "sendMessage", chat_id=7004, text="x")
        await sim(client, fake, "/faults", {"status": 500, "times": 5})
        cleared = await client.delete(f"{fake.base_url}/_sim/faults")
        _, requests = await sim(client, fake, "/requests")
        _, updates = await sim(client, fake, "/updates")
        _, reset = await sim(client, fake, "/reset", {})
        _, state = await sim(client, fake, "/state")
        answers = await sim(client, fake, "/callback_answers")
    assert scheduled["faults"][0]["method"] == "sendmessage"
    assert limited["parameters"] == {"retry_after": 2}
    assert cleared.json() == {"ok": True, "faults": []}
    assert [(r["method"], r["status"]) for r in requests["requests"]] == [("sendMessage", 429)]
    assert updates == {"created": [], "delivered": [], "pending": []}
    assert reset == {"ok": True}
    assert state["users"] == []
    assert answers == (200, {"callback_answers": []})


async def test_cross_origin_pages_may_call_the_sim_api(fake: FakeTelegram, client: httpx.AsyncClient) -> None:
    with trio.fail_after(5):
        preflight = await client.options(
            f"{fake.base_url}/_sim/users", headers={"Origin": "http://127.0.0.1:8080"}
        )
        response = await client.get(f"{fake.base_url}/_sim/users")
    assert preflight.headers["access-control-allow-origin"] == "*"
    assert response.headers["access-control-allow-origin"] == "*"


async def test_events_stream_over_sse(fake: FakeTelegram, client: httpx.AsyncClient) -> None:
    events: list[tuple[str, dict[str, Any]]] = []

    async def listen(task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        async with client.stream("GET", f"{fake.base_url}/_sim/events") as response:
            assert response.headers["content-type"].startswith("text/event-stream")
            name = ""
            async for line in response.aiter_lines():
                if line.startswith("retry:"):
                    task_status.started()
                elif line.startswith("event: "):
                    name = line[len("event: ") :]
                elif line.startswith("data: "):
                    events.append((name, json.loads(line[len("data: ") :])))

    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            await nursery.start(listen)
            fake.add_user(7005, "Nina")
            fake.send_text(7005, "hi")
            sent = await bot(client, fake, "sendMessage", chat_id=7005, text="Hello, Nina")
            await bot(
                client,
                fake,
                "editMessageText",
                chat_id=7005,
                message_id=sent["result"]["message_id"],
                text="Hello again",
            )
            await bot(client, fake, "deleteMessage", chat_id=7005, message_id=sent["result"]["message_id"])
            await fake.wait_for(lambda: any(name == "message_deleted" for name, _ in events))
            nursery.cancel_scope.cancel()
    names = [name for name, _ in events]
    assert names == [
        "user_added",
        "message_received",
        "update",
        "message_sent",
        "message_edited",
        "message_deleted",
    ]
    assert events[3][1]["message"]["text"] == "Hello, Nina"
    assert events[4][1]["message"]["edit_count"] == 1


async def test_python_subscribers_get_the_same_events_and_slow_ones_are_dropped(fake: FakeTelegram) -> None:
    quick = fake.subscribe()
    slow = fake.subscribe(buffer=2)
    fake.add_user(7006, "Olga")
    for i in range(3):
        fake.send_text(7006, f"m{i}")
    with trio.fail_after(5):
        first = await quick.receive()
        received_slow = [await slow.receive(), await slow.receive()]
        with pytest.raises(trio.EndOfChannel):
            await slow.receive()
    assert first["type"] == "user_added"
    assert [e["type"] for e in received_slow] == ["user_added", "message_received"]
    assert fake.state.bus.subscriber_count == 1
