"""Files through the fake Bot API: multipart uploads, file_id re-sends, URLs, albums, getFile and
downloads, for files of the bot and of users."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
import trio

from kiebot.testing.media import JPEG_8X8, MP3, OGG_OPUS, PDF, png
from kiebot.testing.telegram.server import FakeTelegram

USER = 4001


@pytest.fixture
async def fake(nursery: trio.Nursery) -> FakeTelegram:
    server = FakeTelegram()
    await nursery.start(server.serve)
    server.add_user(USER, "Galina")
    return server


async def call(client: httpx.AsyncClient, fake: FakeTelegram, method: str, **params: Any) -> tuple[int, dict[str, Any]]:
    return await fake.call_raw(client, method, **params)


async def upload(
    client: httpx.AsyncClient,
    fake: FakeTelegram,
    method: str,
    field: str,
    data: bytes,
    name: str,
    **params: Any,
) -> tuple[int, dict[str, Any]]:
    form = {"chat_id": str(USER)} | {k: str(v) for k, v in params.items()}
    response = await client.post(
        fake.method_url(method), data=form, files={field: (name, data, "application/octet-stream")}
    )
    return response.status_code, response.json()


async def download(client: httpx.AsyncClient, fake: FakeTelegram, file_id: str) -> bytes:
    status, body = await call(client, fake, "getFile", file_id=file_id)
    assert status == 200, body
    response = await client.get(f"{fake.base_url}/file/bot{fake.token}/{body['result']['file_path']}")
    assert response.status_code == 200
    return response.content


async def test_an_uploaded_photo_round_trips_and_can_be_resent(
    fake: FakeTelegram, client: httpx.AsyncClient
) -> None:
    picture = png(40, 30)
    with trio.fail_after(5):
        status, sent = await upload(
            client, fake, "sendPhoto", "photo", picture, "result.png", caption="Your image"
        )
        [size] = sent["result"]["photo"]
        again = await call(client, fake, "sendPhoto", chat_id=USER, photo=size["file_id"])
        as_document = await call(client, fake, "sendDocument", chat_id=USER, document=size["file_id"])
        unknown = await call(client, fake, "sendPhoto", chat_id=USER, photo="AgACnope")
        data = await download(client, fake, size["file_id"])
    assert status == 200
    assert (size["width"], size["height"], size["file_size"]) == (40, 30, len(picture))
    assert data == picture
    assert again[1]["result"]["photo"][0]["file_id"] == size["file_id"]
    assert as_document[1]["description"] == "Bad Request: can't use file of type Photo as Document"
    assert unknown[1]["description"] == "Bad Request: wrong file identifier/HTTP URL specified"
    assert [m.kind for m in fake.transcript(USER)] == ["photo", "photo"]
    assert fake.transcript(USER)[0].file is fake.transcript(USER)[1].file


@pytest.mark.parametrize(
    ("data", "description"),
    [
        (b"not an image", "Bad Request: IMAGE_PROCESS_FAILED"),
        (png(1, 30), "Bad Request: PHOTO_INVALID_DIMENSIONS"),
        (b"", "Bad Request: file must be non-empty"),
    ],
)
async def test_photos_must_be_real_images(
    fake: FakeTelegram, client: httpx.AsyncClient, data: bytes, description: str
) -> None:
    with trio.fail_after(5):
        status, body = await upload(client, fake, "sendPhoto", "photo", data, "x.png")
    assert (status, body["description"]) == (400, description)


async def test_documents_audio_voice_and_video_keep_their_attributes(
    fake: FakeTelegram, client: httpx.AsyncClient
) -> None:
    with trio.fail_after(5):
        _, document = await upload(client, fake, "sendDocument", "document", PDF, "report.pdf")
        _, audio = await upload(
            client, fake, "sendAudio", "audio", MP3, "song.mp3", duration=42, title="Song", performer="Suno"
        )
        _, voice = await upload(client, fake, "sendVoice", "voice", OGG_OPUS, "speech.ogg", duration=3)
        _, video = await upload(
            client,
            fake,
            "sendVideo",
            "video",
            b"\x00\x00\x00\x18ftypmp42",
            "clip.mp4",
            width=1280,
            height=720,
            duration=8,
        )
    assert document["result"]["document"]["file_name"] == "report.pdf"
    assert document["result"]["document"]["mime_type"] == "application/pdf"
    assert (
        audio["result"]["audio"]["duration"],
        audio["result"]["audio"]["title"],
        audio["result"]["audio"]["performer"],
    ) == (
        42,
        "Song",
        "Suno",
    )
    assert voice["result"]["voice"]["duration"] == 3
    assert "file_name" not in voice["result"]["voice"]
    assert (video["result"]["video"]["width"], video["result"]["video"]["height"]) == (1280, 720)
    assert [m.kind for m in fake.transcript(USER)] == ["document", "audio", "voice", "video"]


async def test_files_users_send_are_downloadable_by_the_bot(
    fake: FakeTelegram, client: httpx.AsyncClient
) -> None:
    photo = fake.send_photo(USER, JPEG_8X8, caption="edit this")
    document = fake.send_document(USER, PDF, file_name="brief.pdf", mime_type="application/pdf")
    voice = fake.send_voice(USER, OGG_OPUS, duration=2)
    with trio.fail_after(5):
        _, updates = await call(client, fake, "getUpdates")
        photo_bytes = await download(client, fake, photo["photo"][0]["file_id"])
        document_bytes = await download(client, fake, document["document"]["file_id"])
        voice_bytes = await download(client, fake, voice["voice"]["file_id"])
        missing = await client.get(f"{fake.base_url}/file/bot{fake.token}/photos/file_999.jpg")
    assert [u["message"].get("caption") for u in updates["result"]] == ["edit this", None, None]
    assert photo["photo"][0]["width"] == 8
    assert document["document"]["mime_type"] == "application/pdf"
    assert voice["voice"]["mime_type"] == "audio/ogg"
    assert (photo_bytes, document_bytes, voice_bytes) == (JPEG_8X8, PDF, OGG_OPUS)
    assert missing.status_code == 404


async def test_an_album_is_2_to_10_items_of_compatible_kinds(
    fake: FakeTelegram, client: httpx.AsyncClient
) -> None:
    media = [
        {"type": "photo", "media": "attach://one", "caption": "<b>first</b>", "parse_mode": "HTML"},
        {"type": "photo", "media": "attach://two"},
    ]
    files = {"one": ("1.png", png(2, 2), "image/png"), "two": ("2.png", png(3, 3), "image/png")}
    with trio.fail_after(5):
        response = await client.post(
            fake.method_url("sendMediaGroup"), data={"chat_id": str(USER), "media": json.dumps(media)}, files=files
        )
        first_id = response.json()["result"][0]["photo"][0]["file_id"]
        photo = {"type": "photo", "media": first_id}
        document = {"type": "document", "media": "attach://x"}
        cases = {
            "empty": await call(client, fake, "sendMediaGroup", chat_id=USER, media=[]),
            "eleven": await call(client, fake, "sendMediaGroup", chat_id=USER, media=[photo] * 11),
            "one": await call(client, fake, "sendMediaGroup", chat_id=USER, media=[photo]),
            "mixed": await call(client, fake, "sendMediaGroup", chat_id=USER, media=[photo, document]),
            "animation": await call(
                client,
                fake,
                "sendMediaGroup",
                chat_id=USER,
                media=[photo, {"type": "animation", "media": first_id}],
            ),
            "missing part": await call(
                client,
                fake,
                "sendMediaGroup",
                chat_id=USER,
                media=[photo, {"type": "photo", "media": "attach://gone"}],
            ),
        }
        by_file_id = await call(client, fake, "sendMediaGroup", chat_id=USER, media=[photo, photo])
    result = response.json()["result"]
    assert response.status_code == 200
    assert len(result) == 2
    assert result[0]["media_group_id"] == result[1]["media_group_id"]
    assert result[0]["caption"] == "first"
    assert result[0]["caption_entities"] == [{"type": "bold", "offset": 0, "length": 5}]
    assert {name: body["description"] for name, (_, body) in cases.items()} == {
        "empty": "Bad Request: there are no messages to send",
        "eleven": "Bad Request: too many messages to send as an album",
        "one": "Bad Request: media must include 2-10 items",
        "mixed": "Bad Request: document can't be mixed with other media types",
        "animation": "Bad Request: can't parse InputMedia: type \"animation\" can't be used in sendMediaGroup",
        "missing part": "Bad Request: can't parse InputMedia: media not found",
    }
    assert by_file_id[0] == 200
    assert len(fake.transcript(USER)) == 4


async def test_files_by_url_are_fetched_from_loopback_only(
    fake: FakeTelegram, client: httpx.AsyncClient
) -> None:
    picture = png(5, 5)
    stored = fake.send_photo(USER, picture)["photo"][0]["file_id"]
    with trio.fail_after(5):
        by_url = await call(client, fake, "sendPhoto", chat_id=USER, photo=fake.file_url(stored))
        not_found = await call(client, fake, "sendPhoto", chat_id=USER, photo=fake.file_url("nope"))
        outside = await call(client, fake, "sendDocument", chat_id=USER, document="https://example.com/a.pdf")
        data = await download(client, fake, by_url[1]["result"]["photo"][0]["file_id"])
    assert by_url[0] == 200
    assert data == picture
    assert not_found[1]["description"] == "Bad Request: failed to get HTTP URL content"
    assert outside[1]["description"] == "Bad Request: failed to get HTTP URL content"


async def test_sim_file_route_serves_any_message_file_without_the_token(
    fake: FakeTelegram, client: httpx.AsyncClient
) -> None:
    file_id = fake.send_photo(USER, JPEG_8X8)["photo"][0]["file_id"]
    with trio.fail_after(5):
        response = await client.get(fake.file_url(file_id))
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/jpeg"
    assert response.content == JPEG_8X8
    assert fake.token not in fake.file_url(file_id)
