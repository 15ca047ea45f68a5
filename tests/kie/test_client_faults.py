"""The Kie client's error paths over real HTTP: every Kie code, retries, timeouts, hang-ups, the
never-re-send rule for createTask, the throttle against Kie's own 429, the Telegram-URL guard, and
that no error carries the API key."""

from __future__ import annotations

import socket
import traceback
from collections.abc import Awaitable, Callable
from functools import partial

import httpx
import pytest
import trio
import trio.testing

from kiebot.kie import (
    FeatureDisabled,
    GenerationFailed,
    InputRejected,
    InsufficientCredits,
    KieClient,
    KieError,
    Maintenance,
    NetworkError,
    NotFound,
    RateLimited,
    RetryPolicy,
    ServerError,
    SlidingWindowThrottle,
    SubmitOutcomeUnknown,
    Timeout,
    Unauthorized,
)
from kiebot.kie.callbacks import parse_callback
from kiebot.testing.kie.receiver import CallbackReceiver
from kiebot.testing.kie.server import FakeKie

MARKET = {
    "model": "google/nano-banana",
    "input": {"prompt": "a cat", "output_format": "png", "image_size": "1:1"},
}
TELEGRAM_URL = "https://api.telegram.org/file/bot123456:AAE-secret-token-value/photos/file_7.jpg"
CREATE = "/api/v1/jobs/createTask"
MakeKie = Callable[..., KieClient]  # the make_kie fixture (tests/kie/conftest.py)
RECORD = "/api/v1/jobs/recordInfo"


def assert_safe(error: BaseException, key: str) -> None:
    """Neither the error nor anything chained to it carries the key or an httpx exception."""
    text = str(error) + repr(error) + "".join(traceback.format_exception(error))
    assert key not in text
    seen: BaseException | None = error
    while seen is not None:
        assert not isinstance(seen, httpx.HTTPError), f"chained httpx exception: {type(seen).__name__}"
        seen = seen.__cause__ or seen.__context__


# ---- Kie's codes on createTask -----------------------------------------------------------------


@pytest.mark.parametrize("http_status", [None, 200], ids=["http-mirrors-code", "http-200"])
@pytest.mark.parametrize(
    ("code", "cls"),
    [
        (402, InsufficientCredits),
        (404, NotFound),
        (422, InputRejected),
        (455, Maintenance),
        (500, ServerError),
        (501, GenerationFailed),
        (505, FeatureDisabled),
    ],
)
async def test_create_maps_every_code_and_never_resends(
    fake: FakeKie, kie: KieClient, code: int, cls: type[KieError], http_status: int | None
) -> None:
    with trio.fail_after(10):
        fake.fail_next_create(code, times=5, message=f"Kie says {code}", http_status=http_status)
        with pytest.raises(cls) as info:
            await kie.create_task("market", MARKET, callback_url=None)
        assert info.value.code == code
        assert f"Kie says {code}" in info.value.kie_message
        assert fake.create_count == 1  # no second create, whatever the code (only 429 is retried)
        assert fake.tasks == {}
        assert_safe(info.value, fake.api_key)


async def test_wrong_key_is_unauthorized_everywhere(fake: FakeKie, make_kie: MakeKie) -> None:
    with trio.fail_after(10):
        kie = make_kie(fake.base_url, key="not-the-key")
        calls: list[Callable[[], Awaitable[object]]] = [
            lambda: kie.create_task("market", MARKET, callback_url=None),
            lambda: kie.get_task("market", "task_x"),
            lambda: kie.remaining_credits(),
            lambda: kie.download_url(f"{fake.base_url}/files/x/0.png"),
            lambda: kie.upload_stream(b"x" * 200_000, file_name="a.png", mime_type="image/png"),
            lambda: kie.upload_base64(b"x", file_name="a.png", mime_type="image/png"),
            lambda: kie.upload_from_url(f"{fake.base_url}/uploads/a.png", file_name="a.png"),
        ]
        for call in calls:
            with pytest.raises(Unauthorized) as info:
                await call()
            assert info.value.code == 401
            assert "You do not have access permissions" in info.value.kie_message
            assert_safe(info.value, "not-the-key")
        assert sum(fake.requests.values()) == len(calls)  # a 401 is never retried


async def test_429_is_retried_after_back_off_then_given_up(fake: FakeKie, kie: KieClient) -> None:
    with trio.fail_after(10):
        fake.fail_next_create(429, times=2)
        task_id = await kie.create_task("market", MARKET, callback_url=None)
        assert list(fake.tasks) == [task_id]
        assert fake.create_count == 3
        fake.fail_next_create(429, times=3)
        with pytest.raises(RateLimited):
            await kie.create_task("market", MARKET, callback_url=None)
        assert fake.create_count == 6  # three attempts (the FAST policy), none of them created a task
        assert len(fake.tasks) == 1


async def test_observer_sees_every_attempt(fake: FakeKie, make_kie: MakeKie) -> None:
    with trio.fail_after(10):
        seen: list[tuple[str, str]] = []
        kie = make_kie(fake.base_url, observer=lambda endpoint, code: seen.append((endpoint, code)))
        fake.fail_next_create(429)
        task_id = await kie.create_task("market", MARKET, callback_url=None)
        fake.fail_next("record", 500, http_status=200)
        await kie.get_task("market", task_id)
        fake.delay_next("credit", 1.0)
        fast = make_kie(
            fake.base_url, timeout=0.2, observer=lambda endpoint, code: seen.append((endpoint, code))
        )
        await fast.remaining_credits()
        await fake.wait_final(task_id)
        [url] = (await kie.get_task("market", task_id)).result_urls
        await kie.fetch_result(url, max_bytes=100_000)
        with pytest.raises(InputRejected):
            await kie.download_url("https://example.com/x.png")
        assert seen == [
            ("create.market", "429"),
            ("create.market", "200"),
            ("record.market", "500"),
            ("record.market", "200"),
            ("credit", "timeout"),
            ("credit", "200"),
            ("record.market", "200"),
            ("result", "200"),
            ("download-url", "422"),
        ]


async def test_kie_echoing_the_key_is_scrubbed(fake: FakeKie, kie: KieClient) -> None:
    with trio.fail_after(10):
        fake.fail_next_create(422, message=f"invalid input for key {fake.api_key}")
        with pytest.raises(InputRejected) as info:
            await kie.create_task("market", MARKET, callback_url=None)
        assert "for key ***" in info.value.kie_message
        assert_safe(info.value, fake.api_key)


@pytest.mark.parametrize(
    ("family", "body", "field"),
    [
        ("market", {"model": "google/nano-banana"}, "input is required"),
        ("veo", {"prompt": "x", "model": "veo3_fast", "aspectRatio": "4:3"}, "aspectRatio"),
        (
            "veo",
            {"prompt": "x", "model": "veo3", "generationType": "FIRST_AND_LAST_FRAMES_2_VIDEO"},
            "imageUrls",
        ),
        (
            "suno",
            {"prompt": "x", "customMode": True, "instrumental": True, "model": "V4_5", "style": "Rock"},
            "title",
        ),
        (
            "suno",
            {"prompt": "x" * 501, "customMode": False, "instrumental": False, "model": "V5"},
            "prompt exceeds 500",
        ),
    ],
)
async def test_fake_rejects_invalid_inputs_with_422_naming_the_field(
    fake: FakeKie,
    kie: KieClient,
    receiver: CallbackReceiver,
    family: str,
    body: dict[str, object],
    field: str,
) -> None:
    with trio.fail_after(10):
        with pytest.raises(InputRejected) as info:
            await kie.create_task(family, body, callback_url=receiver.url())  # type: ignore[arg-type]
        assert field in info.value.kie_message
        assert fake.tasks == {}


# ---- reads retry ------------------------------------------------------------------------------


async def test_reads_retry_5xx_and_maintenance(fake: FakeKie, kie: KieClient) -> None:
    with trio.fail_after(10):
        task_id = await kie.create_task("market", MARKET, callback_url=None)
        fake.fail_next("record", 500, times=2)
        assert (await kie.get_task("market", task_id)).task_id == task_id
        assert fake.requests[RECORD] == 3
        fake.fail_next("credit", 455, http_status=200)
        assert await kie.remaining_credits() == 100_000
        assert fake.requests["/api/v1/chat/credit"] == 2
        fake.fail_next("record", 500, times=3)
        with pytest.raises(ServerError):
            await kie.get_task("market", task_id)
        assert fake.requests[RECORD] == 6
        fake.fail_next("record", 404)
        with pytest.raises(NotFound):
            await kie.get_task("market", task_id)
        assert fake.requests[RECORD] == 7  # 4xx are not retried


async def test_read_timeouts_are_retried_then_reported(fake: FakeKie, make_kie: MakeKie) -> None:
    with trio.fail_after(10):
        kie = make_kie(fake.base_url, timeout=0.2)
        task_id = await kie.create_task("market", MARKET, callback_url=None)
        fake.delay_next("record", 1.0)
        assert (await kie.get_task("market", task_id)).task_id == task_id  # second try answers
        fake.delay_next("record", 1.0, times=3)
        with pytest.raises(Timeout) as info:
            await kie.get_task("market", task_id)
        assert fake.requests[RECORD] == 5
        assert_safe(info.value, fake.api_key)


async def test_gateway_errors_without_an_envelope(fake: FakeKie, kie: KieClient) -> None:
    with trio.fail_after(10):
        fake.fail_next("create", 502, bare=True)
        with pytest.raises(SubmitOutcomeUnknown) as unknown:
            await kie.create_task("market", MARKET, callback_url=None)
        assert (unknown.value.cause, unknown.value.http_status) == ("gateway", 502)
        assert fake.create_count == 1
        fake.fail_next("credit", 503, bare=True, times=3)
        with pytest.raises(ServerError):
            await kie.remaining_credits()
        assert fake.requests["/api/v1/chat/credit"] == 3


async def test_uploads_and_downloads_retry_server_errors(fake: FakeKie, kie: KieClient) -> None:
    with trio.fail_after(10):
        fake.fail_next("upload", 500)
        url = await kie.upload_base64(b"abc", file_name="a.txt", mime_type="text/plain", upload_path="x")
        assert fake.requests["/api/file-base64-upload"] == 2
        fake.fail_next("file", 404)  # answers the next download of any file
        with pytest.raises(NotFound):
            await kie.fetch_result(url, max_bytes=10)
        assert fake.requests["/uploads/x/a.txt"] == 1
        fake.fail_next("file", 503)
        task_id = await kie.create_task("market", MARKET, callback_url=None)
        await fake.wait_final(task_id)
        result = (await kie.get_task("market", task_id)).result_urls[0]
        assert len(await kie.fetch_result(result, max_bytes=100_000)) > 100
        assert fake.requests[result.removeprefix(fake.base_url)] == 2  # 503, then the file


# ---- createTask is never blindly re-sent --------------------------------------------------------


async def test_create_timeout_is_outcome_unknown_and_sent_once(
    fake: FakeKie, make_kie: MakeKie, receiver: CallbackReceiver
) -> None:
    with trio.fail_after(10):
        kie = make_kie(fake.base_url, timeout=0.3)
        fake.delay_next("create", 2.0)  # Kie creates the task, the answer comes too late
        with pytest.raises(SubmitOutcomeUnknown) as info:
            await kie.create_task("market", MARKET, callback_url=receiver.url("kie/cb/job-9"))
        assert info.value.cause == "timeout"
        assert not info.value.retryable
        assert fake.create_count == 1
        [task_id] = fake.tasks  # the task does exist ...
        [callback] = await receiver.wait_for(1)  # ... and reports to the job's callback URL
        assert callback.path == "/kie/cb/job-9"
        assert parse_callback("market", callback.body).task_id == task_id
        assert_safe(info.value, fake.api_key)


class HangUpServer:
    """A server that reads a request's head and hangs up without answering."""

    def __init__(self) -> None:
        self.connections = 0

    async def handle(self, stream: trio.SocketStream) -> None:
        self.connections += 1
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = await stream.receive_some(65536)
            if not chunk:
                break
            data += chunk
        await stream.aclose()


async def test_hang_up_after_sending_is_outcome_unknown_but_reads_retry(
    nursery: trio.Nursery, make_kie: MakeKie
) -> None:
    with trio.fail_after(10):
        server = HangUpServer()
        listeners = await nursery.start(partial(trio.serve_tcp, server.handle, 0, host="127.0.0.1"))
        port = listeners[0].socket.getsockname()[1]
        kie = make_kie(f"http://127.0.0.1:{port}")
        with pytest.raises(SubmitOutcomeUnknown) as info:
            await kie.create_task("market", MARKET, callback_url=None)
        assert info.value.cause == "network"
        assert server.connections == 1
        with pytest.raises(NetworkError) as read_error:
            await kie.get_task("market", "task_1")
        assert server.connections == 4  # three tries
        assert_safe(info.value, "kie-test-key-7f3a9c1d2e")
        assert_safe(read_error.value, "kie-test-key-7f3a9c1d2e")


@pytest.fixture
def closed_port() -> int:
    """A local port nobody listens on (bound, read, released)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port: int = sock.getsockname()[1]
    sock.close()
    return port


async def test_refused_connection_is_safe_to_retry(make_kie: MakeKie, closed_port: int) -> None:
    with trio.fail_after(10):
        kie = make_kie(f"http://127.0.0.1:{closed_port}")
        # The request never left, so even createTask may be retried; it ends as a NetworkError.
        with pytest.raises(NetworkError) as info:
            await kie.create_task("market", MARKET, callback_url=None)
        assert not isinstance(info.value, SubmitOutcomeUnknown)
        assert "ConnectError" in str(info.value)
        assert_safe(info.value, "kie-test-key-7f3a9c1d2e")
        with pytest.raises(NetworkError):
            await kie.fetch_result(f"http://127.0.0.1:{closed_port}/x.png", max_bytes=10)


async def test_fetch_result_refuses_non_http_urls_without_echoing_them(kie: KieClient) -> None:
    with trio.fail_after(10):
        for url in ("file:///etc/passwd", "ftp://host/secret-name.png", "http://host/a\x00b"):
            with pytest.raises(ValueError) as info:
                await kie.fetch_result(url, max_bytes=10)
            assert "secret-name" not in str(info.value)
            assert "passwd" not in str(info.value)


# ---- the Telegram-file-URL guard ---------------------------------------------------------------


async def test_telegram_file_urls_never_leave(fake: FakeKie, kie: KieClient) -> None:
    with trio.fail_after(10):
        body = {"model": "google/nano-banana-edit", "input": {"prompt": "x", "image_urls": [TELEGRAM_URL]}}
        with pytest.raises(ValueError) as info:
            await kie.create_task("market", body, callback_url=None)
        assert "body.input.image_urls[0]" in str(info.value)
        with pytest.raises(ValueError):
            await kie.create_task("veo", {"prompt": "x", "imageUrls": [TELEGRAM_URL]}, callback_url=None)
        with pytest.raises(ValueError):
            await kie.create_task("market", MARKET, callback_url="https://proxy.example/file/bot1:abc/x")
        with pytest.raises(ValueError) as upload_info:
            await kie.upload_from_url(TELEGRAM_URL, file_name="x.jpg")
        with pytest.raises(ValueError):
            await kie.download_url(TELEGRAM_URL)
        for error in (info.value, upload_info.value):
            assert "secret-token" not in str(error) + repr(error)
        assert sum(fake.requests.values()) == 0
        assert fake.telegram_urls_seen == []


# ---- the throttle against Kie's own limit (virtual time over real sockets) -----------------------


@pytest.fixture
def virtual_clock() -> trio.testing.MockClock:
    # Jumps only after 0.1 s of real idleness, so socket round trips finish first (DESIGN.md).
    return trio.testing.MockClock(autojump_threshold=0.1)


async def test_throttle_keeps_25_creates_clear_of_kies_429(
    virtual_clock: trio.testing.MockClock, fake: FakeKie, make_kie: MakeKie
) -> None:
    with trio.fail_after(120):
        fake.script(outcome="never", times=100, duration_s=1e6)  # no task timers in the way
        kie = make_kie(fake.base_url)
        t0 = trio.current_time()
        for _ in range(25):
            await kie.create_task("market", MARKET, callback_url=None)
        assert fake.create_count == 25  # the fake (20 per 10 s) never had to say 429
        assert len(fake.tasks) == 25
        assert trio.current_time() - t0 == pytest.approx(10.0, abs=0.5)

        unthrottled = make_kie(
            fake.base_url, throttle=SlidingWindowThrottle(1000, 10.0), create_retry=RetryPolicy(attempts=1)
        )
        await trio.sleep(10.0)  # let the fake's window empty
        for _ in range(20):
            await unthrottled.create_task("market", MARKET, callback_url=None)
        with pytest.raises(RateLimited):
            await unthrottled.create_task("market", MARKET, callback_url=None)
