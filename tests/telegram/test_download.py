"""getFile + download over real HTTP: the 20 MB cap is enforced while streaming, errors are typed."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import trio
from trio.testing import MockClock

from kiebot.telegram import errors
from kiebot.telegram.client import TelegramClient

BLOB = bytes(range(256)) * 1000  # 256 000 bytes


async def test_get_file_then_download(bot_api: Any, tg: TelegramClient) -> None:
    bot_api.files["photos/file_7.jpg"] = (200, {"Content-Length": str(len(BLOB))}, BLOB)
    bot_api.reply(
        "getFile", bot_api.ok({"file_id": "F", "file_unique_id": "U", "file_path": "photos/file_7.jpg"})
    )
    with trio.fail_after(10):
        file = await tg.get_file("F")
        assert file.file_path is not None
        data = await tg.download_file(file.file_path)
    assert data == BLOB


async def test_download_without_content_length(bot_api: Any, tg: TelegramClient) -> None:
    bot_api.files["documents/file_1.png"] = (200, {}, BLOB)
    with trio.fail_after(10):
        assert await tg.download_file("documents/file_1.png") == BLOB


async def test_declared_size_over_the_cap_is_refused(bot_api: Any, tg: TelegramClient) -> None:
    bot_api.files["videos/big.mp4"] = (200, {"Content-Length": str(len(BLOB))}, BLOB)
    with trio.fail_after(10), pytest.raises(errors.FileTooLarge) as caught:
        await tg.download_file("videos/big.mp4", max_bytes=100_000)
    assert caught.value.limit == 100_000


async def test_streamed_size_over_the_cap_is_refused(bot_api: Any, tg: TelegramClient) -> None:
    bot_api.files["videos/chunked.mp4"] = (200, {}, BLOB)
    with trio.fail_after(10), pytest.raises(errors.FileTooLarge):
        await tg.download_file("videos/chunked.mp4", max_bytes=100_000)


async def test_exactly_at_the_cap_is_fine(bot_api: Any, tg: TelegramClient) -> None:
    bot_api.files["a/b.bin"] = (200, {}, BLOB)
    with trio.fail_after(10):
        assert await tg.download_file("a/b.bin", max_bytes=len(BLOB)) == BLOB


async def test_missing_file_is_not_found(bot_api: Any, tg: TelegramClient) -> None:
    with trio.fail_after(10), pytest.raises(errors.NotFound) as caught:
        await tg.download_file("photos/expired.jpg")
    assert caught.value.method == "downloadFile"


@pytest.mark.parametrize(
    "path", ["", "/etc/passwd", "../bot1:x/getMe", "photos/../../x", "https://evil.example/x"]
)
async def test_paths_that_are_not_file_paths_are_refused(path: str, tg: TelegramClient) -> None:
    with trio.fail_after(10), pytest.raises(ValueError, match="file path"):
        await tg.download_file(path)


async def test_download_server_errors_are_retried(autojump_clock: MockClock) -> None:
    replies = [
        httpx.Response(502, content=b"<html>bad gateway</html>"),
        httpx.Response(200, content=b"payload"),
    ]
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        return replies.pop(0)

    client = TelegramClient(httpx.AsyncClient(transport=httpx.MockTransport(handler)), "1:abc")
    with trio.fail_after(30):
        assert await client.download_file("voice/file_2.oga") == b"payload"
    assert seen == ["/file/bot1:abc/voice/file_2.oga"] * 2


class CountingStream(httpx.AsyncByteStream):
    """A body of ``chunks`` × 64 KiB that records how much of it was pulled."""

    def __init__(self, chunks: int) -> None:
        self.chunks = chunks
        self.pulled = 0

    async def __aiter__(self):  # type: ignore[no-untyped-def]
        for _ in range(self.chunks):
            self.pulled += 1
            yield b"\x00" * 65536


async def test_a_declared_oversize_body_is_never_read(autojump_clock: MockClock) -> None:
    stream = CountingStream(chunks=1000)
    client = TelegramClient(
        httpx.AsyncClient(
            transport=httpx.MockTransport(
                lambda request: httpx.Response(
                    200, headers={"Content-Length": str(1000 * 65536)}, stream=stream
                )
            )
        ),
        "1:abc",
    )
    with trio.fail_after(30), pytest.raises(errors.FileTooLarge):
        await client.download_file("videos/huge.mp4")
    assert stream.pulled == 0


async def test_an_undeclared_oversize_body_is_cut_off(autojump_clock: MockClock) -> None:
    stream = CountingStream(chunks=1000)  # 65 MB, no Content-Length
    client = TelegramClient(
        httpx.AsyncClient(transport=httpx.MockTransport(lambda request: httpx.Response(200, stream=stream))),
        "1:abc",
    )
    with trio.fail_after(30), pytest.raises(errors.FileTooLarge):
        await client.download_file("videos/huge.mp4", max_bytes=1_000_000)
    assert stream.pulled == 16  # 16 × 64 KiB is the first read past 1 MB; the rest is never pulled
