"""Updates both ways: getUpdates semantics (offsets, limits, long polls, allowed_updates, 409s)
and webhook delivery (secret header, per-chat order, concurrency across chats, retries with
back-off and Retry-After, getWebhookInfo), against a tiny webhook receiver of our own."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import httpx
import pytest
import trio
from hypercorn.config import Config
from hypercorn.trio import serve
from quart import Response, request
from quart_trio import QuartTrio
from trio.testing import MockClock

from kiebot.testing.telegram.server import FakeTelegram

A, B = 3001, 3002


@pytest.fixture
async def fake(nursery: trio.Nursery) -> FakeTelegram:
    server = FakeTelegram(webhook_backoff_scale=0.01)
    await nursery.start(server.serve)
    server.add_user(A, "Alla")
    server.add_user(B, "Boris")
    return server


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(trust_env=False, timeout=120) as http:
        yield http


@pytest.fixture
def virtual_clock() -> MockClock:
    """Virtual time that still lets real sockets on 127.0.0.1 work (jumps after 0.1 s idle)."""
    return MockClock(autojump_threshold=0.1)


async def call(client: httpx.AsyncClient, fake: FakeTelegram, method: str, **params: Any) -> tuple[int, dict[str, Any]]:
    return await fake.call_raw(client, method, **params)


@dataclass
class Hit:
    update: dict[str, Any]
    secret: str | None
    at: float


@dataclass
class Receiver:
    """A webhook endpoint whose answer to each update is decided by ``behaviour``."""

    behaviour: Callable[[dict[str, Any], int], Awaitable[tuple[int, dict[str, str]]]]
    hits: list[Hit] = field(default_factory=list)
    done: list[int] = field(default_factory=list)
    url: str = ""

    async def serve(self, task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED) -> None:
        app = QuartTrio("receiver")

        @app.route("/hook", methods=["POST"])
        async def hook() -> Response:
            update = await request.get_json()
            self.hits.append(
                Hit(update, request.headers.get("X-Telegram-Bot-Api-Secret-Token"), trio.current_time())
            )
            status, headers = await self.behaviour(update, len(self.hits))
            if 200 <= status < 300:
                self.done.append(update["update_id"])
            return Response("{}", status=status, headers=headers, content_type="application/json")

        config = Config()
        config.bind = ["127.0.0.1:0"]
        config.errorlog = None
        async with trio.open_nursery() as nursery:
            bound = await nursery.start(partial(serve, app, config))
            self.url = f"{bound[0]}/hook"
            task_status.started(self.url)


def text_of(update: dict[str, Any]) -> str:
    return str(update["message"]["text"])


# ---- getUpdates -----------------------------------------------------------------------------


async def test_offset_confirms_and_limit_slices(fake: FakeTelegram, client: httpx.AsyncClient) -> None:
    for i in range(5):
        fake.send_text(A, f"m{i}")
    with trio.fail_after(5):
        _, first = await call(client, fake, "getUpdates", limit=2)
        _, unconfirmed = await call(client, fake, "getUpdates", limit=2)
        ids = [u["update_id"] for u in first["result"]]
        _, after = await call(client, fake, "getUpdates", offset=ids[-1] + 1, limit=0)
        _, last = await call(client, fake, "getUpdates", offset=-1)
        _, tail = await call(client, fake, "getUpdates", offset=last["result"][0]["update_id"] + 1)
    assert [text_of(u) for u in first["result"]] == ["m0", "m1"]
    assert unconfirmed["result"] == first["result"]
    assert [text_of(u) for u in after["result"]] == ["m2", "m3", "m4"]
    assert [text_of(u) for u in last["result"]] == ["m4"]
    assert tail["result"] == []
    assert fake.pending_update_count == 0
    assert [text_of(u) for u in fake.delivered_updates] == ["m0", "m1", "m0", "m1", "m2", "m3", "m4", "m4"]


async def test_long_poll_returns_as_soon_as_an_update_arrives(
    fake: FakeTelegram, client: httpx.AsyncClient
) -> None:
    async def user_writes_later() -> None:
        await trio.sleep(0.2)
        fake.send_text(A, "late")

    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(user_writes_later)
            started = trio.current_time()
            _, body = await call(client, fake, "getUpdates", timeout=30)
            waited = trio.current_time() - started
    assert [text_of(u) for u in body["result"]] == ["late"]
    assert 0.15 < waited < 3


async def test_long_poll_timeout_is_clamped_to_50_seconds(
    fake: FakeTelegram, client: httpx.AsyncClient, virtual_clock: MockClock
) -> None:
    with trio.fail_after(120):
        started = trio.current_time()
        _, body = await call(client, fake, "getUpdates", timeout=3600)
        waited = trio.current_time() - started
    assert body == {"ok": True, "result": []}
    assert 50 <= waited < 51


async def test_allowed_updates_is_remembered_and_filters_new_updates(
    fake: FakeTelegram, client: httpx.AsyncClient
) -> None:
    with trio.fail_after(5):
        _, sent = await call(
            client,
            fake,
            "sendMessage",
            chat_id=A,
            text="menu",
            reply_markup={"inline_keyboard": [[{"text": "x", "callback_data": "x"}]]},
        )
        await call(client, fake, "getUpdates", allowed_updates=["callback_query"])
        fake.send_text(A, "filtered out")
        fake.tap(A, sent["result"]["message_id"], "x")
        _, only_taps = await call(client, fake, "getUpdates")
        await call(
            client, fake, "getUpdates", allowed_updates=[], offset=only_taps["result"][-1]["update_id"] + 1
        )
        fake.send_text(A, "back to defaults")
        _, again = await call(client, fake, "getUpdates")
    assert [list(u)[1] for u in only_taps["result"]] == ["callback_query"]
    assert [text_of(u) for u in again["result"]] == ["back to defaults"]
    assert [list(u)[1] for u in fake.updates] == ["message", "callback_query", "message"]


async def test_a_second_poller_terminates_the_first(fake: FakeTelegram, client: httpx.AsyncClient) -> None:
    results: dict[str, tuple[int, dict[str, Any]]] = {}

    async def poll(name: str, seconds: int) -> None:
        results[name] = await call(client, fake, "getUpdates", timeout=seconds)

    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(poll, "first", 30)
            await fake.wait_for(lambda: len(fake.calls("getUpdates")) == 1)
            await trio.sleep(0.05)
            nursery.start_soon(poll, "second", 0)
    assert results["first"] == (
        409,
        {
            "ok": False,
            "error_code": 409,
            "description": "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running",
        },
    )
    assert results["second"] == (200, {"ok": True, "result": []})


async def test_get_updates_conflicts_with_an_active_webhook(
    fake: FakeTelegram, client: httpx.AsyncClient
) -> None:
    results: list[tuple[int, dict[str, Any]]] = []

    async def poll() -> None:
        results.append(await call(client, fake, "getUpdates", timeout=30))

    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(poll)
            await fake.wait_for(lambda: len(fake.calls("getUpdates")) == 1)
            await trio.sleep(0.05)
            await call(client, fake, "setWebhook", url="http://127.0.0.1:9/hook")
        results.append(await call(client, fake, "getUpdates"))
    assert results[0][1]["description"] == "Conflict: terminated by setWebhook request"
    assert results[1] == (
        409,
        {
            "ok": False,
            "error_code": 409,
            "description": "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first",
        },
    )


# ---- webhooks -------------------------------------------------------------------------------


async def test_webhook_retries_a_failed_update_and_keeps_chat_order(
    fake: FakeTelegram, client: httpx.AsyncClient, nursery: trio.Nursery
) -> None:
    async def fail_first(update: dict[str, Any], n: int) -> tuple[int, dict[str, str]]:
        return (500, {}) if n == 1 else (200, {})

    receiver = Receiver(fail_first)
    with trio.fail_after(10):
        hook = await nursery.start(receiver.serve)
        for i in range(3):
            fake.send_text(A, f"a{i}")
        status, body = await call(client, fake, "setWebhook", url=hook, secret_token="s3cr3t_-TOKEN")
        await fake.wait_for(lambda: fake.pending_update_count == 0)
        _, info = await call(client, fake, "getWebhookInfo")
    assert (status, body) == (200, {"ok": True, "result": True, "description": "Webhook was set"})
    assert [text_of(h.update) for h in receiver.hits] == ["a0", "a0", "a1", "a2"]
    assert {h.secret for h in receiver.hits} == {"s3cr3t_-TOKEN"}
    assert [text_of(u) for u in fake.delivered_updates] == ["a0", "a1", "a2"]
    assert info["result"]["url"] == hook
    assert info["result"]["pending_update_count"] == 0
    assert (
        info["result"]["last_error_message"] == "Wrong response from the webhook: 500 Internal Server Error"
    )
    assert isinstance(info["result"]["last_error_date"], int)


async def test_webhook_with_a_wrong_secret_is_retried_until_fixed(
    fake: FakeTelegram, client: httpx.AsyncClient, nursery: trio.Nursery
) -> None:
    async def check_secret(update: dict[str, Any], n: int) -> tuple[int, dict[str, str]]:
        return (200, {}) if request.headers.get("X-Telegram-Bot-Api-Secret-Token") == "right" else (403, {})

    receiver = Receiver(check_secret)
    with trio.fail_after(10):
        hook = await nursery.start(receiver.serve)
        fake.send_text(A, "hello")
        await call(client, fake, "setWebhook", url=hook, secret_token="wrong")
        await fake.wait_for(lambda: len(receiver.hits) >= 3)
        _, info = await call(client, fake, "getWebhookInfo")
        await call(client, fake, "setWebhook", url=hook, secret_token="right")
        await fake.wait_for(lambda: receiver.done)
    assert info["result"]["pending_update_count"] == 1
    assert info["result"]["last_error_message"] == "Wrong response from the webhook: 403 Forbidden"
    assert receiver.done == [fake.updates[0]["update_id"]]
    assert receiver.hits[-1].secret == "right"


async def test_webhook_delivers_chats_concurrently_but_each_in_order(
    fake: FakeTelegram, client: httpx.AsyncClient, nursery: trio.Nursery
) -> None:
    release_a = trio.Event()

    async def slow_for_a(update: dict[str, Any], n: int) -> tuple[int, dict[str, str]]:
        if update["message"]["chat"]["id"] == A and text_of(update) == "a0":
            await release_a.wait()
        return 200, {}

    receiver = Receiver(slow_for_a)
    with trio.fail_after(10):
        hook = await nursery.start(receiver.serve)
        fake.send_text(A, "a0")
        fake.send_text(A, "a1")
        fake.send_text(B, "b0")
        fake.send_text(B, "b1")
        await call(client, fake, "setWebhook", url=hook)
        await fake.wait_for(lambda: len(receiver.done) == 2)
        seen_while_a_blocked = [text_of(h.update) for h in receiver.hits]
        release_a.set()
        await fake.wait_for(lambda: len(receiver.done) == 4)
    assert sorted(seen_while_a_blocked) == ["a0", "b0", "b1"]
    assert [text_of(h.update) for h in receiver.hits if h.update["message"]["chat"]["id"] == A] == [
        "a0",
        "a1",
    ]


async def test_webhook_back_off_doubles_and_honours_retry_after(
    fake: FakeTelegram, client: httpx.AsyncClient, nursery: trio.Nursery, virtual_clock: MockClock
) -> None:
    fake.config.webhook_backoff_scale = 1.0
    answers = [(500, {}), (500, {}), (500, {}), (200, {}), (503, {"Retry-After": "30"}), (200, {})]

    async def scripted(update: dict[str, Any], n: int) -> tuple[int, dict[str, str]]:
        return answers[n - 1]

    receiver = Receiver(scripted)
    with trio.fail_after(300):
        hook = await nursery.start(receiver.serve)
        fake.send_text(A, "first")
        await call(client, fake, "setWebhook", url=hook)
        await fake.wait_for(lambda: len(receiver.done) == 1, timeout=200)
        fake.send_text(A, "second")
        await fake.wait_for(lambda: len(receiver.done) == 2, timeout=200)
    times = [h.at for h in receiver.hits]
    gaps = [round(later - earlier) for earlier, later in itertools.pairwise(times)]
    # first failure retried at once, then 2 s, 4 s; then Retry-After: 30 instead of the back-off
    assert gaps[:3] == [0, 2, 4]
    assert gaps[4] == 30


async def test_delete_webhook_switches_back_to_polling(
    fake: FakeTelegram, client: httpx.AsyncClient, nursery: trio.Nursery
) -> None:
    async def down(update: dict[str, Any], n: int) -> tuple[int, dict[str, str]]:
        return 502, {}

    receiver = Receiver(down)
    with trio.fail_after(10):
        hook = await nursery.start(receiver.serve)
        await call(client, fake, "setWebhook", url=hook)
        fake.send_text(A, "kept")
        await fake.wait_for(lambda: len(receiver.hits) >= 2)
        deleted = await call(client, fake, "deleteWebhook")
        hits = len(receiver.hits)
        _, polled = await call(client, fake, "getUpdates")
        fake.send_text(A, "dropped")
        await call(client, fake, "setWebhook", url=hook, drop_pending_updates=True)
        await call(client, fake, "deleteWebhook", drop_pending_updates=True)
        _, empty = await call(client, fake, "getUpdates")
        _, info = await call(client, fake, "getWebhookInfo")
        again = await call(client, fake, "deleteWebhook")
    assert deleted == (200, {"ok": True, "result": True, "description": "Webhook was deleted"})
    assert [text_of(u) for u in polled["result"]] == ["kept"]
    assert empty["result"] == []
    assert info["result"] == {"url": "", "has_custom_certificate": False, "pending_update_count": 0}
    assert again[1]["description"] == "Webhook is already deleted"
    assert (
        len(receiver.hits) <= hits + 1
    )  # nothing is delivered after deleteWebhook (one request may be in flight)


@pytest.mark.parametrize(
    ("params", "description"),
    [
        ({"url": "http://127.0.0.1:1/h", "secret_token": "x" * 257}, "Bad Request: secret token is too long"),
        (
            {"url": "http://127.0.0.1:1/h", "secret_token": "not allowed!"},
            "Bad Request: secret token contains unallowed characters",
        ),
        ({"url": "ftp://example.com/h"}, "Bad Request: invalid webhook URL specified"),
        (
            {"url": "http://example.com/h"},
            "Bad Request: bad webhook: An HTTPS URL must be provided for webhook",
        ),
        (
            {"url": "https://example.com:8080/h"},
            "Bad Request: bad webhook: Webhook can be set up only on ports 80, 88, 443 or 8443",
        ),
        ({}, 'Bad Request: parameter "url" is required'),
    ],
)
async def test_set_webhook_checks_url_and_secret(
    fake: FakeTelegram, client: httpx.AsyncClient, params: dict[str, Any], description: str
) -> None:
    with trio.fail_after(5):
        status, body = await call(client, fake, "setWebhook", **params)
        _, info = await call(client, fake, "getWebhookInfo")
    assert (status, body["description"]) == (400, description)
    assert info["result"]["url"] == ""


async def test_set_webhook_twice_and_info_fields(fake: FakeTelegram, client: httpx.AsyncClient) -> None:
    with trio.fail_after(5):
        hook = {
            "url": "https://bot.example.com/webhook",
            "max_connections": 500,
            "allowed_updates": ["message"],
        }
        first, second = [await call(client, fake, "setWebhook", **hook) for _ in range(2)]
        _, info = await call(client, fake, "getWebhookInfo")
    assert first[1]["description"] == "Webhook was set"
    assert second == (200, {"ok": True, "result": True, "description": "Webhook is already set"})
    assert info["result"] == {
        "url": "https://bot.example.com/webhook",
        "has_custom_certificate": False,
        "pending_update_count": 0,
        "max_connections": 100,
        "allowed_updates": ["message"],
    }
