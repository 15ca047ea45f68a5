"""Results stream into a sink chunk by chunk and uploads stream from a file (issue 17 item 3):
the client never holds a big file whole, a retry starts the download over and re-sends the upload
from its first byte."""

from __future__ import annotations

import io
import tempfile
from typing import Any

import pytest
import trio

from kiebot.kie import KieClient, ResultTooLarge
from kiebot.testing.kie import media as kie_media
from kiebot.testing.kie.server import FakeKie

VEO: dict[str, Any] = {
    "prompt": "a blue sea at dawn",
    "model": "veo3_fast",
    "aspectRatio": "16:9",
    "generationType": "TEXT_2_VIDEO",
}


class RecordingSink:
    def __init__(self) -> None:
        self.data = bytearray()
        self.largest_chunk = 0
        self.writes = 0
        self.resets = 0

    async def write(self, data: bytes) -> None:
        self.writes += 1
        self.largest_chunk = max(self.largest_chunk, len(data))
        self.data += data

    async def reset(self) -> None:
        self.resets += 1
        self.data = bytearray()


async def _video_url(fake: FakeKie, kie: KieClient) -> str:
    task_id = await kie.create_task("veo", VEO, callback_url=None)
    await fake.wait_final(task_id)
    status = await kie.get_task("veo", task_id)
    return status.result_urls[0]


@pytest.mark.parametrize("chunked", [False, True])
async def test_a_big_result_arrives_in_chunks(fake: FakeKie, kie: KieClient, chunked: bool) -> None:
    with trio.fail_after(20):
        fake.video_result_bytes = 3_000_000
        fake.chunked_files = chunked
        url = await _video_url(fake, kie)
        sink = RecordingSink()
        size = await kie.fetch_result_into(url, sink, max_bytes=3_000_000)
        assert size == len(sink.data) == 3_000_000
        head = kie_media.sample_mp4()
        assert bytes(sink.data[: len(head)]) == head
        assert sink.writes > 10
        assert sink.largest_chunk <= 256 * 1024  # network chunks, never the file
        with pytest.raises(ResultTooLarge):
            await kie.fetch_result_into(url, RecordingSink(), max_bytes=2_999_999)


async def test_a_retried_download_resets_the_sink(fake: FakeKie, kie: KieClient) -> None:
    with trio.fail_after(20):
        fake.video_result_bytes = 500_000
        url = await _video_url(fake, kie)
        fake.fail_next("file", 500)
        sink = RecordingSink()
        await kie.fetch_result_into(url, sink, max_bytes=1_000_000)
        assert sink.resets == 1
        assert len(sink.data) == 500_000


async def test_an_upload_from_a_file_is_sent_whole_again_after_a_failure(fake: FakeKie, kie: KieClient) -> None:
    with trio.fail_after(20):
        data = bytes(range(256)) * 4000  # ~1 MB
        with tempfile.TemporaryFile() as file:
            file.write(data)
            file.seek(123)  # wherever the file stands, the upload starts at its first byte
            fake.fail_next("upload", 500)
            url = await kie.upload_stream(file, file_name="in.bin", mime_type="application/octet-stream", upload_path="t")
        assert fake.requests["/api/file-stream-upload"] == 2
        assert fake.uploads["t/in.bin"].data == data
        assert await kie.fetch_result(url, max_bytes=2_000_000) == data
        memory = io.BytesIO(b"small")
        url = await kie.upload_stream(memory, file_name="s.bin", mime_type="application/octet-stream", upload_path="t")
        assert fake.uploads["t/s.bin"].data == b"small"
