"""The Kie client against the fake Kie server over real HTTP: every family, every state, uploads,
result downloads, credits. Error codes and transport faults are in test_client_faults.py."""

from __future__ import annotations

import time
import zlib
from typing import Any

import pytest
import trio

from kiebot.kie import InputRejected, KieClient, NotFound, ResultTooLarge, TaskStatus
from kiebot.kie.callbacks import parse_callback, verify_signature
from kiebot.kie.types import FAMILIES, Family
from kiebot.testing.kie import media as kie_media
from kiebot.testing.kie.receiver import CallbackReceiver
from kiebot.testing.kie.server import FakeKie

MARKET: dict[str, Any] = {
    "model": "google/nano-banana",
    "input": {"prompt": "a red fox", "output_format": "png", "image_size": "1:1"},
}
VEO: dict[str, Any] = {
    "prompt": "a blue sea at dawn",
    "model": "veo3_fast",
    "aspectRatio": "16:9",
    "generationType": "TEXT_2_VIDEO",
}
SUNO: dict[str, Any] = {
    "prompt": "a calm piano piece",
    "customMode": True,
    "instrumental": True,
    "model": "V4_5",
    "style": "Classical",
    "title": "Peaceful Piano",
}
BODIES: dict[Family, dict[str, Any]] = {"market": MARKET, "veo": VEO, "suno": SUNO}


async def until_final(kie: KieClient, family: Family, task_id: str) -> TaskStatus:
    while True:
        status = await kie.get_task(family, task_id)
        if status.is_final:
            return status
        await trio.sleep(0.01)


def png_corner_pixel(data: bytes) -> tuple[int, int, int]:
    """The top-right pixel (off the diagonal stripe) of an 8-bit RGB PNG."""
    assert data[:8] == kie_media.PNG_SIGNATURE
    width = int.from_bytes(data[16:20], "big")
    idat = data.index(b"IDAT")
    length = int.from_bytes(data[idat - 4 : idat], "big")
    raw = zlib.decompress(data[idat + 4 : idat + 4 + length])
    offset = 1 + 3 * (width - 1)  # after the scanline's filter byte
    return raw[offset], raw[offset + 1], raw[offset + 2]


async def test_market_task_succeeds_calls_back_signed_and_its_image_downloads(
    fake: FakeKie, kie: KieClient, receiver: CallbackReceiver
) -> None:
    with trio.fail_after(10):
        body = {"model": MARKET["model"], "input": dict(MARKET["input"])}
        task_id = await kie.create_task("market", body, callback_url=receiver.url("kie/cb/job-1"))
        assert "callBackUrl" not in body  # the caller's dict is left alone
        sent = fake.tasks[task_id].body
        assert sent == {**MARKET, "callBackUrl": receiver.url("kie/cb/job-1")}

        status = await until_final(kie, "market", task_id)
        assert status.state == "succeeded"
        assert status.task_id == task_id
        assert status.raw_state == "success"
        assert len(status.result_urls) == 1
        image = await kie.fetch_result(status.result_urls[0], max_bytes=1_000_000)
        assert png_corner_pixel(image) == kie_media.colour_for_prompt("a red fox") == (220, 40, 40)

        [callback] = await receiver.wait_for(1)
        assert callback.path == "/kie/cb/job-1"
        told = parse_callback("market", callback.body)
        assert (told.task_id, told.state, told.result_urls) == (task_id, "succeeded", status.result_urls)
        assert told.cost_credits == 4
        assert told.remaining_credits == 100_000 - 4
        stamp = callback.headers["X-Webhook-Timestamp"]
        assert verify_signature(
            task_id, stamp, callback.headers["X-Webhook-Signature"], fake.hmac_key or "", now=time.time()
        )
        assert await kie.remaining_credits() == 100_000 - 4


async def test_veo_task_succeeds_with_a_real_mp4(
    fake: FakeKie, kie: KieClient, receiver: CallbackReceiver
) -> None:
    with trio.fail_after(10):
        fake.speed = 0.002
        task_id = await kie.create_task("veo", VEO, callback_url=receiver.url())
        status = await until_final(kie, "veo", task_id)
        assert (status.state, status.raw_state) == ("succeeded", "successFlag=1")
        video = await kie.fetch_result(status.result_urls[0], max_bytes=1_000_000)
        assert video == kie_media.sample_mp4()
        [callback] = await receiver.wait_for(1)
        assert parse_callback("veo", callback.body).result_urls == status.result_urls


async def test_suno_task_reports_its_stages_and_two_tracks(
    fake: FakeKie, kie: KieClient, receiver: CallbackReceiver
) -> None:
    with trio.fail_after(10):
        task_id = await kie.create_task("suno", SUNO, callback_url=receiver.url())
        callbacks = await receiver.wait_for(3)
        stages = [parse_callback("suno", c.body) for c in callbacks]
        assert [s.raw_state for s in stages] == ["callback:text", "callback:first", "callback:complete"]
        assert [s.state for s in stages] == ["running", "running", "succeeded"]
        assert [len(s.result_urls) for s in stages] == [0, 1, 2]
        status = await until_final(kie, "suno", task_id)
        assert status.result_urls == stages[-1].result_urls
        for url in status.result_urls:
            assert await kie.fetch_result(url, max_bytes=100_000) == kie_media.sample_mp3()


# Each row: family, the fake task's phase and outcome, then what the client must report.
STATES = [
    ("market", "queued", "success", "pending", "waiting", 0),
    ("market", "running", "success", "running", "generating", 0),
    ("market", "done", "success", "succeeded", "success", 1),
    ("market", "done", "fail", "failed", "fail", 0),
    ("veo", "queued", "success", "running", "successFlag=0", 0),
    ("veo", "done", "success", "succeeded", "successFlag=1", 1),
    ("veo", "done", "fail", "failed", "successFlag=3", 0),
    ("suno", "queued", "success", "pending", "PENDING", 0),
    ("suno", "text", "success", "running", "TEXT_SUCCESS", 0),
    ("suno", "first", "success", "running", "FIRST_SUCCESS", 1),
    ("suno", "done", "success", "succeeded", "SUCCESS", 2),
    ("suno", "done", "fail", "failed", "GENERATE_AUDIO_FAILED", 0),
]


@pytest.mark.parametrize(("family", "phase", "outcome", "state", "raw", "urls"), STATES)
async def test_every_state_of_every_family(
    fake: FakeKie,
    kie: KieClient,
    receiver: CallbackReceiver,
    family: Family,
    phase: str,
    outcome: str,
    state: str,
    raw: str,
    urls: int,
) -> None:
    with trio.fail_after(10):
        # A task that never moves on its own, so the test sets where it stands.
        fake.script(outcome="never", duration_s=10_000)
        task_id = await kie.create_task(
            family, BODIES[family], callback_url=receiver.url()
        )  # Suno requires one
        task = fake.tasks[task_id]
        task.phase = phase  # type: ignore[assignment]
        task.outcome = outcome  # type: ignore[assignment]
        task.fail_code, task.fail_message = "422", "The prompt was flagged"
        status = await kie.get_task(family, task_id)
        assert (status.state, status.raw_state, len(status.result_urls)) == (state, raw, urls)
        if state == "failed":
            assert status.fail_code == "422"
            assert status.fail_message == "The prompt was flagged"
        else:
            assert status.fail_code is None


async def test_scripted_failure_reaches_poll_and_callback(
    fake: FakeKie, kie: KieClient, receiver: CallbackReceiver
) -> None:
    with trio.fail_after(10):
        fake.script("google/nano-banana", outcome="fail", message="Content policy violation", fail_code="400")
        task_id = await kie.create_task("market", MARKET, callback_url=receiver.url())
        status = await until_final(kie, "market", task_id)
        assert (status.state, status.fail_code, status.fail_message) == (
            "failed",
            "400",
            "Content policy violation",
        )
        [callback] = await receiver.wait_for(1)
        told = parse_callback("market", callback.body)
        assert (told.state, told.fail_code, told.cost_credits) == ("failed", "400", 0)
        assert await kie.remaining_credits() == 100_000  # failures are free


async def test_unknown_task_is_not_found(kie: KieClient) -> None:
    with trio.fail_after(10):
        for family in FAMILIES:
            with pytest.raises(NotFound):
                await kie.get_task(family, "task_does_not_exist")


async def test_a_success_envelope_without_a_record_is_not_found(fake: FakeKie, kie: KieClient) -> None:
    with trio.fail_after(10):
        fake.fail_next("record", 200, message="success")  # answers {"code": 200, "msg": "success"}
        with pytest.raises(NotFound):
            await kie.get_task("market", "task_gone")
        assert fake.requests["/api/v1/jobs/recordInfo"] == 1


async def test_uploads_round_trip(fake: FakeKie, kie: KieClient) -> None:
    with trio.fail_after(10):
        photo = kie_media.png_for_prompt("a green leaf", width=64, height=48)
        streamed = await kie.upload_stream(
            photo, file_name="photo 1.png", mime_type="image/png", upload_path="inputs/u42"
        )
        assert streamed == f"{fake.base_url}/uploads/inputs/u42/photo_1.png"
        assert await kie.fetch_result(streamed, max_bytes=100_000) == photo

        voice = kie_media.wav_tone(0.2)
        encoded = await kie.upload_base64(
            voice, file_name="voice.wav", mime_type="audio/wav", upload_path="inputs"
        )
        assert await kie.fetch_result(encoded, max_bytes=100_000) == voice
        assert fake.uploads["inputs/voice.wav"].mime_type == "audio/wav"

        copied = await kie.upload_from_url(streamed, file_name="copy.png", upload_path="inputs")
        assert await kie.fetch_result(copied, max_bytes=100_000) == photo
        assert fake.uploads["inputs/copy.png"].mime_type == "image/png"


async def test_result_download_is_capped(fake: FakeKie, kie: KieClient) -> None:
    with trio.fail_after(10):
        task_id = await kie.create_task("market", MARKET, callback_url=None)
        url = (await until_final(kie, "market", task_id)).result_urls[0]
        size = len(await kie.fetch_result(url, max_bytes=1_000_000))
        assert len(await kie.fetch_result(url, max_bytes=size)) == size
        with pytest.raises(ResultTooLarge):  # refused from Content-Length
            await kie.fetch_result(url, max_bytes=size - 1)
        fake.chunked_files = True
        assert len(await kie.fetch_result(url, max_bytes=size)) == size
        with pytest.raises(ResultTooLarge):  # no Content-Length: counted while streaming
            await kie.fetch_result(url, max_bytes=size - 1)
        with pytest.raises(NotFound):
            await kie.fetch_result(url.replace("/0.png", "/9.png"), max_bytes=size)


async def test_result_downloads_carry_no_kie_key(
    fake: FakeKie, kie: KieClient, receiver: CallbackReceiver
) -> None:
    """Result URLs live on third-party file hosts: the Bearer key must not travel there."""
    with trio.fail_after(10):
        task_id = await kie.create_task("market", MARKET, callback_url=None)
        await until_final(kie, "market", task_id)
        # Point a download at the receiver, which records the headers it gets.
        assert await kie.fetch_result(receiver.url("file.png"), max_bytes=10) == b"ok"
        [download] = receiver.received
        assert download.method == "GET"
        assert "authorization" not in {name.lower() for name in download.headers}
        assert fake.api_key not in repr(download.headers)


async def test_download_url_for_kie_files_only(fake: FakeKie, kie: KieClient) -> None:
    with trio.fail_after(10):
        task_id = await kie.create_task("market", MARKET, callback_url=None)
        url = (await until_final(kie, "market", task_id)).result_urls[0]
        temporary = await kie.download_url(url)
        assert temporary.startswith(fake.base_url + "/download/")
        # The link redirects to the file: fetch_result follows it.
        assert (await kie.fetch_result(temporary, max_bytes=100_000))[:8] == kie_media.PNG_SIGNATURE
        assert fake.requests[temporary.removeprefix(fake.base_url)] == 1
        assert fake.requests[url.removeprefix(fake.base_url)] == 1
        with pytest.raises(InputRejected) as info:
            await kie.download_url("https://example.com/not-from-kie.png")
        assert info.value.code == 422


async def test_credits(fake: FakeKie, kie: KieClient) -> None:
    with trio.fail_after(10):
        assert await kie.remaining_credits() == 100_000
        fake.credits = 12.9
        assert await kie.remaining_credits() == 12
        assert fake.requests["/api/v1/chat/credit"] == 2
