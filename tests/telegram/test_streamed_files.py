"""Files stream both ways (issue 17 item 3): an upload from a file object reaches the server whole
— again from the first byte when Telegram asks to retry — and a download goes to a sink chunk by
chunk, refused as soon as it passes the cap."""

from __future__ import annotations

import tempfile
from typing import Any

import pytest
import trio

from kiebot.telegram import errors
from kiebot.telegram.client import TelegramClient
from kiebot.telegram.types import InputFile


class RecordingSink:
    def __init__(self) -> None:
        self.data = bytearray()
        self.largest_chunk = 0
        self.writes = 0

    async def write(self, data: bytes) -> None:
        self.writes += 1
        self.largest_chunk = max(self.largest_chunk, len(data))
        self.data += data

    async def reset(self) -> None:
        self.data = bytearray()


async def test_a_video_from_a_file_is_uploaded_whole_after_a_retry_after(bot_api: Any, tg: TelegramClient) -> None:
    data = b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 2000
    with trio.fail_after(10), tempfile.TemporaryFile() as file:
        file.write(data)
        bot_api.reply("sendVideo", bot_api.fail(429, "Too Many Requests: retry after 0", retry_after=0), bot_api.ok(bot_api.message()))
        upload = InputFile("clip.mp4", mime_type="video/mp4", file=file)
        assert "stream" in repr(upload)
        await tg.send_video(42, upload)
    calls = bot_api.calls("sendVideo")
    assert len(calls) == 2
    for call in calls:
        assert call.files == {"video": ("clip.mp4", "video/mp4", data)}


async def test_a_download_goes_to_the_sink_in_chunks(bot_api: Any, tg: TelegramClient) -> None:
    data = bytes(range(256)) * 1000
    bot_api.files["videos/file_1.mp4"] = (200, {}, data)
    with trio.fail_after(10):
        sink = RecordingSink()
        size = await tg.download_file_into("videos/file_1.mp4", sink)
        assert size == len(data)
        assert bytes(sink.data) == data
        assert sink.writes > 1
        assert sink.largest_chunk < len(data)
        with pytest.raises(errors.FileTooLarge):
            await tg.download_file_into("videos/file_1.mp4", RecordingSink(), max_bytes=len(data) - 1)
        assert await tg.download_file("videos/file_1.mp4") == data
