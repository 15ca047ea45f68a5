"""Fault injection: 429 with retry_after, 5xx from any method, slow and hanging answers, faults
that strike after the call took effect, per-chat faults."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import trio
from trio.testing import MockClock

from kiebot.testing.telegram import app as fake_telegram_app
from kiebot.testing.telegram.server import FakeTelegram, FloodRules

A, B = 6001, 6002


@pytest.fixture
async def fake(nursery: trio.Nursery) -> FakeTelegram:
    server = FakeTelegram()
    await nursery.start(server.serve)
    server.add_user(A, "Egor")
    server.add_user(B, "Zoya")
    return server


@pytest.fixture
def virtual_clock() -> MockClock:
    return MockClock(autojump_threshold=0.1)


async def call(client: httpx.AsyncClient, fake: FakeTelegram, method: str, **params: Any) -> tuple[int, dict[str, Any]]:
    return await fake.call_raw(client, method, **params)


async def test_flood_control_answers_429_with_retry_after(
    fake: FakeTelegram, client: httpx.AsyncClient
) -> None:
    fault = fake.inject("sendMessage", retry_after=3)
    with trio.fail_after(5):
        limited = await call(client, fake, "sendMessage", chat_id=A, text="hi")
        passed = await call(client, fake, "sendMessage", chat_id=A, text="hi")
    assert limited == (
        429,
        {
            "ok": False,
            "error_code": 429,
            "description": "Too Many Requests: retry after 3",
            "parameters": {"retry_after": 3},
        },
    )
    assert passed[0] == 200
    assert fault.hits == 1
    assert [m.text for m in fake.transcript(A)] == ["hi"]
    assert [r.status for r in fake.calls("sendMessage")] == [429, 200]


async def test_server_errors_can_hit_any_method(fake: FakeTelegram, client: httpx.AsyncClient) -> None:
    fake.inject(status=500, times=2)
    fake.inject("getUpdates", status=502)
    with trio.fail_after(5):
        first = await call(client, fake, "getMe")
        second = await call(client, fake, "getUpdates")
        third = await call(client, fake, "getUpdates")
        fourth = await call(client, fake, "getMe")
    assert first == (500, {"ok": False, "error_code": 500, "description": "Internal Server Error"})
    assert second[0] == 500
    assert third == (502, {"ok": False, "error_code": 502, "description": "Bad Gateway"})
    assert fourth[0] == 200


async def test_slow_answers_are_slow_but_correct(fake: FakeTelegram, client: httpx.AsyncClient) -> None:
    fake.inject("getMe", status=None, delay=0.3)
    with trio.fail_after(5):
        started = trio.current_time()
        status, body = await call(client, fake, "getMe")
        took = trio.current_time() - started
    assert status == 200
    assert body["result"]["is_bot"] is True
    assert took >= 0.3


async def test_a_hang_before_the_call_sends_nothing(fake: FakeTelegram, client: httpx.AsyncClient) -> None:
    fake.inject("sendMessage", status=None, hang=True)
    with trio.fail_after(5), pytest.raises(httpx.ReadTimeout):
        await call(client, fake, "sendMessage", chat_id=A, text="lost", client_timeout=0.3)
    assert fake.transcript(A) == []


async def test_a_hang_after_the_call_loses_only_the_answer(
    fake: FakeTelegram, client: httpx.AsyncClient
) -> None:
    """The client must treat a timeout as "maybe sent": the message is there."""
    fake.inject("sendMessage", status=None, hang=True, after=True)
    with trio.fail_after(5):
        with pytest.raises(httpx.ReadTimeout):
            await call(client, fake, "sendMessage", chat_id=A, text="delivered anyway", client_timeout=0.3)
        status, _ = await call(client, fake, "sendMessage", chat_id=A, text="retry")
    assert status == 200
    assert [m.text for m in fake.transcript(A)] == ["delivered anyway", "retry"]


async def test_an_error_after_the_call_took_effect(fake: FakeTelegram, client: httpx.AsyncClient) -> None:
    fake.inject("sendMessage", status=500, after=True)
    with trio.fail_after(5):
        status, _ = await call(client, fake, "sendMessage", chat_id=A, text="sent but 500")
    assert status == 500
    assert [m.text for m in fake.transcript(A)] == ["sent but 500"]


async def test_faults_can_target_one_chat_and_last_until_cleared(
    fake: FakeTelegram, client: httpx.AsyncClient
) -> None:
    fake.inject("sendMessage", chat_id=A, times=None, retry_after=7)
    with trio.fail_after(5):
        results = [await call(client, fake, "sendMessage", chat_id=chat, text="x") for chat in (A, B, A, B)]
        fake.clear_faults()
        cleared = await call(client, fake, "sendMessage", chat_id=A, text="x")
    assert [status for status, _ in results] == [429, 200, 429, 200]
    assert results[0][1]["parameters"] == {"retry_after": 7}
    assert cleared[0] == 200


async def test_a_custom_description(fake: FakeTelegram, client: httpx.AsyncClient) -> None:
    fake.inject("getMe", status=500, description="Internal Server Error: restart")
    with trio.fail_after(5):
        status, body = await call(client, fake, "getMe")
    assert (status, body["description"]) == (500, "Internal Server Error: restart")


async def test_opt_in_flood_control_answers_organic_429s(
    nursery: trio.Nursery, client: httpx.AsyncClient, virtual_clock: MockClock
) -> None:
    rules = FloodRules(per_chat_per_second=0.5, per_chat_burst=2, global_per_second=0.01, global_burst=4)
    fake = FakeTelegram(flood_rules=rules)
    await nursery.start(fake.serve)
    for user in range(1, 5):
        fake.add_user(user, f"user{user}")
    with trio.fail_after(300):
        same_chat = [(await call(client, fake, "sendMessage", chat_id=1, text="x"))[0] for _ in range(3)]
        _, limited = await call(client, fake, "editMessageText", chat_id=1, message_id=1, text="y")
        actions = [
            (await call(client, fake, "sendChatAction", chat_id=1, action="typing"))[0] for _ in range(3)
        ]
        others = [await call(client, fake, "sendMessage", chat_id=user, text="x") for user in (2, 3, 4)]
        await trio.sleep(others[2][1]["parameters"]["retry_after"])
        later = (await call(client, fake, "sendMessage", chat_id=1, text="x"))[0]
    assert same_chat == [200, 200, 429]
    assert limited["parameters"] == {"retry_after": 2}
    assert actions == [200, 200, 200]
    assert [status for status, _ in others] == [200, 200, 429]  # the overall bucket (4) is spent
    assert others[2][1]["parameters"] == {"retry_after": 100}
    assert later == 200
    assert len(fake.transcript(1)) == 3


async def test_groups_get_20_messages_a_minute(
    nursery: trio.Nursery, client: httpx.AsyncClient, virtual_clock: MockClock
) -> None:
    fake = FakeTelegram(flood_rules=FloodRules(global_per_second=1000, global_burst=1000))
    await nursery.start(fake.serve)
    fake.add_group(-100500, "Group")
    with trio.fail_after(120):
        statuses = [
            (await call(client, fake, "sendMessage", chat_id=-100500, text="x"))[0] for _ in range(20)
        ]
        status, body = await call(client, fake, "sendMessage", chat_id=-100500, text="x")
        await trio.sleep(body["parameters"]["retry_after"])
        later = (await call(client, fake, "sendMessage", chat_id=-100500, text="x"))[0]
    assert statuses == [200] * 20
    assert (status, body["parameters"]) == (429, {"retry_after": 3})
    assert later == 200


async def test_a_bug_in_a_handler_is_a_json_500_without_the_token_in_logs(
    fake: FakeTelegram,
    client: httpx.AsyncClient,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def broken(state: object, params: object) -> None:
        raise RuntimeError("handler bug")

    monkeypatch.setitem(fake_telegram_app.HANDLERS, "getMe", broken)
    with trio.fail_after(5):
        status, body = await call(client, fake, "getMe")
    assert (status, body) == (500, {"ok": False, "error_code": 500, "description": "Internal Server Error"})
    assert "handler bug" in caplog.text
    assert fake.token not in caplog.text
