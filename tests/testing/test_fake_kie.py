"""The fake Kie server itself: Kie's exact shapes, auth, validation, credits, rate limit, scripted
outcomes and the callback behaviours (retries, duplicates, early arrival, HMAC), over real HTTP.
The Kie client's view of it is tested in tests/kie/."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio

from kiebot.testing.kie.receiver import CallbackReceiver
from kiebot.testing.kie.rules import Profile
from kiebot.testing.kie.server import FakeKie

KEY = "fake-kie-test-key"
HMAC_KEY = "fake-kie-hmac-key"
AUTH = {"Authorization": f"Bearer {KEY}"}
DATA = Path(__file__).resolve().parent.parent / "data" / "kie"
MARKET: dict[str, Any] = {
    "model": "google/nano-banana",
    "input": {"prompt": "a green frog", "image_size": "1:1"},
}
VEO: dict[str, Any] = {"prompt": "waves", "model": "veo3_fast", "aspectRatio": "16:9"}
SUNO: dict[str, Any] = {
    "prompt": "a calm piano piece",
    "customMode": False,
    "instrumental": True,
    "model": "V4_5",
}


@pytest.fixture
async def fake(nursery: trio.Nursery) -> FakeKie:
    server = FakeKie(api_key=KEY, speed=0.01, hmac_key=HMAC_KEY)
    await nursery.start(server.serve)
    return server


async def create(
    http: httpx.AsyncClient, fake: FakeKie, path: str, body: Mapping[str, Any]
) -> httpx.Response:
    return await http.post(fake.base_url + path, json=body, headers=AUTH)


async def create_id(http: httpx.AsyncClient, fake: FakeKie, path: str, body: Mapping[str, Any]) -> str:
    response = await create(http, fake, path, body)
    assert response.status_code == 200, response.text
    task_id: str = response.json()["data"]["taskId"]
    return task_id


async def market_with_callback(http: httpx.AsyncClient, fake: FakeKie, callback_url: str) -> str:
    """A market task that asks for its result at ``callback_url``; its task id."""
    return await create_id(http, fake, "/api/v1/jobs/createTask", {**MARKET, "callBackUrl": callback_url})


def sample(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((DATA / name).read_text())
    return loaded


# ---- auth and shapes ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/api/v1/jobs/createTask"),
        ("POST", "/api/v1/veo/generate"),
        ("POST", "/api/v1/generate"),
        ("GET", "/api/v1/jobs/recordInfo?taskId=x"),
        ("GET", "/api/v1/veo/record-info?taskId=x"),
        ("GET", "/api/v1/generate/record-info?taskId=x"),
        ("GET", "/api/v1/chat/credit"),
        ("POST", "/api/v1/common/download-url"),
        ("POST", "/api/file-stream-upload"),
        ("POST", "/api/file-url-upload"),
        ("POST", "/api/file-base64-upload"),
    ],
)
@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": KEY}])
async def test_every_api_endpoint_demands_the_bearer_key(
    fake: FakeKie, http: httpx.AsyncClient, method: str, path: str, headers: dict[str, str]
) -> None:
    with trio.fail_after(10):
        response = await http.request(method, fake.base_url + path, headers=headers, json={})
        assert response.status_code == 401
        assert response.json() == sample("unauthorized.json")


async def test_create_answers_like_kie(fake: FakeKie, http: httpx.AsyncClient) -> None:
    with trio.fail_after(10):
        response = await create(http, fake, "/api/v1/jobs/createTask", MARKET)
        body = response.json()
        assert set(body) == set(sample("create_response.json")) == {"code", "msg", "data"}
        assert (body["code"], body["msg"]) == (200, "success")
        assert body["data"]["taskId"].startswith("task_")


def keys(obj: Mapping[str, Any]) -> set[str]:
    return set(obj)


async def test_records_and_callbacks_have_kies_fields(
    fake: FakeKie, http: httpx.AsyncClient, receiver: CallbackReceiver
) -> None:
    """Every field of Kie's documented samples is present in what the fake sends."""
    with trio.fail_after(10):
        fake.speed = 0.002
        market = await market_with_callback(http, fake, receiver.url("m"))
        veo = await create_id(http, fake, "/api/v1/veo/generate", {**VEO, "callBackUrl": receiver.url("v")})
        suno = await create_id(http, fake, "/api/v1/generate", {**SUNO, "callBackUrl": receiver.url("s")})
        for task_id in (market, veo, suno):
            await fake.wait_final(task_id)

        record = (
            await http.get(f"{fake.base_url}/api/v1/jobs/recordInfo?taskId={market}", headers=AUTH)
        ).json()
        assert keys(sample("market_record_success.json")["data"]) <= keys(record["data"])
        assert json.loads(record["data"]["param"])["callBackUrl"] == receiver.url("m")
        record = (await http.get(f"{fake.base_url}/api/v1/veo/record-info?taskId={veo}", headers=AUTH)).json()
        assert keys(sample("veo_record_success.json")["data"]) <= keys(record["data"])
        assert keys(sample("veo_record_success.json")["data"]["response"]) <= keys(record["data"]["response"])
        record = (
            await http.get(f"{fake.base_url}/api/v1/generate/record-info?taskId={suno}", headers=AUTH)
        ).json()
        assert keys(sample("suno_record_success.json")["data"]) <= keys(record["data"])
        track_keys = keys(sample("suno_record_success.json")["data"]["response"]["sunoData"][0])
        assert all(track_keys <= keys(track) for track in record["data"]["response"]["sunoData"])
        assert len(record["data"]["response"]["sunoData"]) == 2

        by_path = {c.path: json.loads(c.body) for c in await receiver.wait_for(5)}
        market_cb, veo_cb, suno_cb = by_path["/m"], by_path["/v"], by_path["/s"]
        assert keys(sample("market_callback_success.json")["data"]) <= keys(market_cb["data"])
        assert market_cb["msg"] == "Playground task completed successfully."
        assert keys(sample("veo_callback_success.json")["data"]) <= keys(veo_cb["data"])
        assert keys(sample("veo_callback_success.json")["data"]["info"]) <= keys(veo_cb["data"]["info"])
        assert suno_cb["data"]["callbackType"] == "complete"  # the last of the three
        sample_track = sample("suno_callback_complete.json")["data"]["data"][0]
        assert all(keys(sample_track) <= keys(track) for track in suno_cb["data"]["data"])


async def test_failure_callbacks_have_kies_shape(
    fake: FakeKie, http: httpx.AsyncClient, receiver: CallbackReceiver
) -> None:
    with trio.fail_after(10):
        fake.script(outcome="fail", message="Internal server error", fail_code="500", times=3)
        fake.speed = 0.002
        for path, body, name in [
            ("/api/v1/jobs/createTask", MARKET, "m"),
            ("/api/v1/veo/generate", VEO, "v"),
            ("/api/v1/generate", SUNO, "s"),
        ]:
            await fake.wait_final(
                await create_id(http, fake, path, {**body, "callBackUrl": receiver.url(name)})
            )
        by_path = {c.path: json.loads(c.body) for c in await receiver.wait_for(3)}
        market = by_path["/m"]
        assert (market["code"], market["msg"]) == (501, "Playground task failed.")
        assert keys(sample("market_callback_fail.json")["data"]) <= keys(market["data"])
        assert (market["data"]["failCode"], market["data"]["failMsg"], market["data"]["consumeCredits"]) == (
            "500",
            "Internal server error",
            0,
        )
        assert "resultJson" not in market["data"]
        assert (by_path["/v"]["code"], by_path["/v"]["msg"]) == (500, "Internal server error")
        assert by_path["/s"]["data"]["callbackType"] == "error"
        assert fake.credits == 100_000  # nothing consumed


# ---- validation, credits, rate limit -----------------------------------------------------------


async def test_malformed_bodies_get_422(fake: FakeKie, http: httpx.AsyncClient) -> None:
    with trio.fail_after(10):
        for content in (b"not json", b"[1, 2]", b""):
            response = await http.post(
                f"{fake.base_url}/api/v1/jobs/createTask", content=content, headers=AUTH
            )
            assert response.status_code == 422
            assert response.json()["code"] == 422
        response = await create(http, fake, "/api/v1/jobs/createTask", {**MARKET, "callBackUrl": "ftp://x"})
        assert "callBackUrl must be an http(s) URL" in response.json()["msg"]
        assert fake.tasks == {}


async def test_pluggable_validator_sees_market_input_and_flat_bodies(
    nursery: trio.Nursery, http: httpx.AsyncClient
) -> None:
    seen: list[tuple[str, dict[str, Any]]] = []

    def validator(model: str, payload: Mapping[str, Any]) -> list[str]:
        seen.append((model, dict(payload)))
        prompt = payload.get("prompt", "")
        return [f"prompt exceeds 10 characters ({len(prompt)})"] if len(prompt) > 10 else []

    with trio.fail_after(10):
        fake = FakeKie(api_key=KEY, speed=0.01, validator=validator)
        await nursery.start(fake.serve)
        rejected = await create(http, fake, "/api/v1/jobs/createTask", MARKET)
        assert rejected.status_code == 422
        assert rejected.json() == {"code": 422, "msg": "prompt exceeds 10 characters (12)"}
        accepted = await create(http, fake, "/api/v1/veo/generate", VEO)
        assert accepted.status_code == 200
        assert seen == [("google/nano-banana", MARKET["input"]), ("veo3_fast", VEO)]


async def test_credits_pay_for_successes_and_402_when_short(
    nursery: trio.Nursery, http: httpx.AsyncClient
) -> None:
    def pricer(family: str, model: str, payload: Mapping[str, Any]) -> float | None:
        return 2.5 if model == "google/nano-banana" else None

    with trio.fail_after(10):
        fake = FakeKie(
            api_key=KEY,
            speed=0.002,
            credits=70,
            pricer=pricer,
            profiler=lambda family, model: Profile("video"),
        )
        await nursery.start(fake.serve)
        task = fake.tasks[await create_id(http, fake, "/api/v1/jobs/createTask", MARKET)]
        assert (task.kind, task.price_credits) == ("video", 2.5)
        assert task.duration_s == pytest.approx(0.12)
        await fake.wait_final(task.task_id)
        assert fake.credits == 67.5
        credit = (await http.get(f"{fake.base_url}/api/v1/chat/credit", headers=AUTH)).json()
        assert credit == {"code": 200, "msg": "success", "data": 67}
        veo = await create(http, fake, "/api/v1/veo/generate", VEO)  # Veo fast: 60 credits by default
        assert veo.status_code == 200
        await fake.wait_final(veo.json()["data"]["taskId"])
        short = await create(http, fake, "/api/v1/veo/generate", VEO)
        assert short.status_code == 402
        assert short.json() == {"code": 402, "msg": "Credits insufficient"}
        assert len(fake.tasks) == 2


async def test_kies_own_rate_limit(nursery: trio.Nursery, http: httpx.AsyncClient) -> None:
    with trio.fail_after(10):
        fake = FakeKie(api_key=KEY, speed=0.01, rate_limit=(2, 60.0))
        await nursery.start(fake.serve)
        statuses = [
            (await create(http, fake, "/api/v1/jobs/createTask", MARKET)).status_code for _ in range(3)
        ]
        assert statuses == [200, 200, 429]
        assert fake.create_count == 3
        assert len(fake.tasks) == 2


# ---- outcomes and callback behaviours ----------------------------------------------------------


async def test_durations_scale_with_speed(fake: FakeKie, http: httpx.AsyncClient) -> None:
    with trio.fail_after(10):
        fake.script(outcome="never", times=3)
        ids = [
            await create_id(http, fake, "/api/v1/jobs/createTask", MARKET),
            await create_id(http, fake, "/api/v1/veo/generate", VEO),
            await create_id(http, fake, "/api/v1/generate", {**SUNO, "callBackUrl": "http://127.0.0.1:9/x"}),
        ]
        assert [fake.tasks[i].duration_s for i in ids] == pytest.approx([0.08, 0.6, 0.2])


async def test_never_finishing_task_stays_generating(fake: FakeKie, http: httpx.AsyncClient) -> None:
    with trio.fail_after(10):
        fake.script("google/nano-banana", outcome="never", duration_s=0.05)
        task_id = await create_id(http, fake, "/api/v1/jobs/createTask", MARKET)
        other = await create_id(http, fake, "/api/v1/jobs/createTask", MARKET)  # the script was used up
        await fake.wait_final(other)
        await trio.sleep(0.1)
        record = (
            await http.get(f"{fake.base_url}/api/v1/jobs/recordInfo?taskId={task_id}", headers=AUTH)
        ).json()
        assert record["data"]["state"] == "generating"
        assert not fake.tasks[task_id].done.is_set()


async def test_callbacks_are_signed_and_retried(
    fake: FakeKie, http: httpx.AsyncClient, receiver: CallbackReceiver
) -> None:
    with trio.fail_after(10):
        receiver.fail_first = 2
        task_id = await market_with_callback(http, fake, receiver.url())
        await fake.wait_final(task_id)
        assert [a.status for a in fake.callbacks] == [503, 503, 200]
        [delivered] = receiver.accepted
        stamp = delivered.headers["X-Webhook-Timestamp"]
        mac = hmac.new(HMAC_KEY.encode(), f"{task_id}.{stamp}".encode(), hashlib.sha256).digest()
        assert delivered.headers["X-Webhook-Signature"] == base64.b64encode(mac).decode()
        assert delivered.headers["Content-Type"] == "application/json"


async def test_callbacks_give_up_after_three_attempts(
    fake: FakeKie, http: httpx.AsyncClient, receiver: CallbackReceiver
) -> None:
    with trio.fail_after(10):
        receiver.fail_first = 10
        task_id = await market_with_callback(http, fake, receiver.url())
        await fake.wait_final(task_id)
        assert [a.delivered for a in fake.callbacks] == [False, False, False]
        assert fake.tasks[task_id].succeeded  # the task is done all the same: poll to find out


async def test_unreachable_callback_url_is_recorded(fake: FakeKie, http: httpx.AsyncClient) -> None:
    with trio.fail_after(10):
        task_id = await market_with_callback(http, fake, "http://127.0.0.1:9/cb")
        await fake.wait_final(task_id)
        assert [a.error for a in fake.callbacks] == ["ConnectError"] * 3
        broken = await market_with_callback(http, fake, "http://:80/cb")
        await fake.wait_final(broken)  # a URL httpx cannot even use does not take the fake down
        assert [a.error for a in fake.callbacks[3:]] == ["UnsupportedProtocol"] * 3


async def test_duplicate_callbacks(
    fake: FakeKie, http: httpx.AsyncClient, receiver: CallbackReceiver
) -> None:
    with trio.fail_after(10):
        fake.duplicate_callbacks = True
        task_id = await market_with_callback(http, fake, receiver.url())
        await fake.wait_final(task_id)
        first, second = await receiver.wait_for(2)
        assert first.body == second.body
        assert json.loads(first.body)["data"]["taskId"] == task_id


async def test_early_callbacks_arrive_before_create_answers(
    fake: FakeKie, http: httpx.AsyncClient, receiver: CallbackReceiver
) -> None:
    with trio.fail_after(10):
        fake.early_callbacks = True
        response = await create(http, fake, "/api/v1/generate", {**SUNO, "callBackUrl": receiver.url()})
        # No waiting: all three Suno stages were delivered while the create was being answered.
        assert [json.loads(c.body)["data"]["callbackType"] for c in receiver.accepted] == [
            "text",
            "first",
            "complete",
        ]
        assert json.loads(receiver.accepted[0].body)["data"]["task_id"] == response.json()["data"]["taskId"]


async def test_no_hmac_headers_without_a_key(
    nursery: trio.Nursery, http: httpx.AsyncClient, receiver: CallbackReceiver
) -> None:
    with trio.fail_after(10):
        fake = FakeKie(api_key=KEY, speed=0.01)
        await nursery.start(fake.serve)
        task_id = await market_with_callback(http, fake, receiver.url())
        await fake.wait_final(task_id)
        [delivered] = await receiver.wait_for(1)
        assert "X-Webhook-Signature" not in delivered.headers
        assert "X-Webhook-Timestamp" not in delivered.headers


async def test_slow_reads(fake: FakeKie, http: httpx.AsyncClient) -> None:
    with trio.fail_after(10):
        fake.delay_next("credit", 0.3)
        started = trio.current_time()
        assert (await http.get(f"{fake.base_url}/api/v1/chat/credit", headers=AUTH)).status_code == 200
        assert trio.current_time() - started >= 0.3
        started = trio.current_time()
        await http.get(f"{fake.base_url}/api/v1/chat/credit", headers=AUTH)
        assert trio.current_time() - started < 0.3


async def test_records_are_per_family(fake: FakeKie, http: httpx.AsyncClient) -> None:
    with trio.fail_after(10):
        task_id = await create_id(http, fake, "/api/v1/jobs/createTask", MARKET)
        response = await http.get(f"{fake.base_url}/api/v1/veo/record-info?taskId={task_id}", headers=AUTH)
        assert response.json() == {"code": 404, "msg": "Task not found"}


async def test_telegram_file_urls_are_noticed(fake: FakeKie, http: httpx.AsyncClient) -> None:
    """The fake flags a leaked token URL so end-to-end tests can assert it never happens."""
    with trio.fail_after(10):
        leaked = {
            "model": "google/nano-banana-edit",
            "input": {"prompt": "x", "image_urls": ["https://api.telegram.org/file/bot1:x/a.jpg"]},
        }
        await create(http, fake, "/api/v1/jobs/createTask", leaked)
        assert fake.telegram_urls_seen == ["/api/v1/jobs/createTask.input.image_urls[0]"]


async def test_counters_and_repr(fake: FakeKie, http: httpx.AsyncClient) -> None:
    with trio.fail_after(10):
        task_id = await create_id(http, fake, "/api/v1/jobs/createTask", MARKET)
        for _ in range(2):
            await http.get(f"{fake.base_url}/api/v1/jobs/recordInfo?taskId={task_id}", headers=AUTH)
        assert fake.requests["/api/v1/jobs/createTask"] == 1
        assert fake.requests["/api/v1/jobs/recordInfo"] == 2
        assert fake.create_count == 1
        assert KEY not in repr(fake)
        assert HMAC_KEY not in repr(fake)


async def test_results_are_served_only_when_ready(fake: FakeKie, http: httpx.AsyncClient) -> None:
    with trio.fail_after(10):
        fake.script(outcome="never", duration_s=10_000)
        task_id = await create_id(http, fake, "/api/v1/jobs/createTask", MARKET)
        assert (await http.get(f"{fake.base_url}/files/{task_id}/0.png")).status_code == 404
        fake.tasks[task_id].phase = "done"
        fake.tasks[task_id].outcome = "success"
        response = await http.get(f"{fake.base_url}/files/{task_id}/0.png")
        assert (response.status_code, response.headers["content-type"]) == (200, "image/png")
        assert (await http.get(f"{fake.base_url}/files/{task_id}/1.png")).status_code == 404
