"""Bot API methods that carry files: sendPhoto, sendVideo, sendAudio, sendVoice, sendDocument,
sendMediaGroup, getFile.

A file is given three ways (https://core.telegram.org/bots/api#sending-files): uploaded in a
multipart part (under the parameter's name, or any part named by ``attach://<name>``), by a
``file_id`` Telegram already has (same type only: a photo's file_id cannot become a document), or
by an HTTP URL Telegram downloads (5 MB for photos, 20 MB otherwise; the fake only fetches
loopback URLs, since tests never leave 127.0.0.1). Uploads: photos must be real images of at most
10 MB with width + height ≤ 10000 and aspect ratio ≤ 20; the request as a whole is capped at
50 MB (413). Downloads through getFile are capped at 20 MB ("file is too big").
"""

from __future__ import annotations

import mimetypes
import secrets
from typing import Any
from urllib.parse import urlsplit

import httpx

from kiebot.testing.media import image_size
from kiebot.testing.telegram.methods.messages import formatted_param, reply_target, sent
from kiebot.testing.telegram.model.state import State
from kiebot.testing.telegram.model.world import SimFile, SimMessage
from kiebot.testing.telegram.rules import errors as E
from kiebot.testing.telegram.rules.errors import bad_request
from kiebot.testing.telegram.rules.params import Params, Upload, missing
from kiebot.testing.telegram.rules.validate import formatted, reply_markup, writable_chat

PHOTO_UPLOAD_LIMIT = 10 * 1024 * 1024
PHOTO_URL_LIMIT = 5 * 1024 * 1024
URL_LIMIT = 20 * 1024 * 1024
DOWNLOAD_LIMIT = 20 * 1024 * 1024
UPLOAD_LIMIT = 50 * 1024 * 1024
_LOOPBACK = {"127.0.0.1", "localhost", "::1"}
_TYPE_NAME = {"photo": "Photo", "video": "Video", "audio": "Audio", "voice": "Voice", "document": "Document"}


async def _fetch(state: State, url: str, kind: str) -> Upload:
    """Telegram downloading a file the bot named by URL (loopback only in the fake)."""
    limit = PHOTO_URL_LIMIT if kind == "photo" else URL_LIMIT
    if urlsplit(url).hostname not in _LOOPBACK or state.http is None:
        raise bad_request(E.URL_CONTENT_FAILED)
    try:
        async with state.http.stream("GET", url, timeout=10.0) as response:
            if not 200 <= response.status_code < 300:
                raise bad_request(E.URL_CONTENT_FAILED)
            chunks, size = [], 0
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > limit:
                    raise bad_request(E.URL_CONTENT_FAILED)
                chunks.append(chunk)
            content_type = response.headers.get("content-type", "").split(";")[0].strip()
    except httpx.HTTPError:
        raise bad_request(E.URL_CONTENT_FAILED) from None
    name = urlsplit(url).path.rsplit("/", 1)[-1] or "file"
    return Upload(b"".join(chunks), name, content_type)


def _stored(state: State, kind: str, upload: Upload, attrs: dict[str, Any]) -> SimFile:
    data = upload.data
    if not data:
        raise bad_request(E.FILE_EMPTY)
    fields: dict[str, Any] = dict(attrs)
    if kind == "photo":
        if len(data) > PHOTO_UPLOAD_LIMIT:
            raise bad_request(
                f"file of size {len(data)} bytes is too big for a photo; the maximum size is {PHOTO_UPLOAD_LIMIT} bytes"
            )
        size = image_size(data)
        if size is None:
            raise bad_request(E.IMAGE_PROCESS_FAILED)
        width, height = size
        if width + height > 10000 or max(width, height) > 20 * min(width, height):
            raise bad_request(E.PHOTO_INVALID_DIMENSIONS)
        fields = {"width": width, "height": height}
    else:
        name = upload.filename or None
        guessed = mimetypes.guess_type(name)[0] if name else None
        fields.setdefault("mime_type", guessed or upload.content_type or "application/octet-stream")
        if kind != "voice":
            fields.setdefault("file_name", name)
    return state.world.files.add(kind, data, **fields)


async def resolve_file(
    state: State, params: Params, kind: str, value: Upload | str, attrs: dict[str, Any]
) -> SimFile:
    """The file a send method refers to, stored or looked up, with Telegram's errors."""
    if isinstance(value, str) and value.startswith("attach://"):
        attached = params.attached(value)
        if attached is None:
            raise bad_request(E.WRONG_FILE_ID)
        value = attached
    elif isinstance(value, str) and value.startswith(("http://", "https://")):
        value = await _fetch(state, value, kind)
    if isinstance(value, Upload):
        return _stored(state, kind, value, attrs)
    file = state.world.files.get(value.strip())
    if file is None:
        raise bad_request(E.WRONG_FILE_ID)
    if file.kind != kind:
        raise bad_request(f"can't use file of type {_TYPE_NAME[file.kind]} as {_TYPE_NAME[kind]}")
    return file


_ATTRIBUTES = {
    "video": (("duration", True), ("width", True), ("height", True)),
    "audio": (("duration", True), ("title", False), ("performer", False)),
    "voice": (("duration", True),),
}


def _attributes(kind: str, source: Params | dict[str, Any]) -> dict[str, Any]:
    """Duration, size, title and performer the bot states for a new upload."""
    out: dict[str, Any] = {}
    for name, is_int in _ATTRIBUTES.get(kind, ()):
        if isinstance(source, Params):
            value = source.integer(name) if is_int else source.text(name)
        else:
            value = source.get(name)
        if value is not None:
            out[name] = value
    return out


def _send_media(kind: str) -> Any:
    async def handler(state: State, params: Params) -> dict[str, Any]:
        chat_id = params.chat_id()
        raw, parse_mode, caption, entities = formatted_param(params, caption=True)
        markup = reply_markup(params.json("reply_markup", "reply keyboard markup"))
        chat = writable_chat(state.world, chat_id)
        value: Upload | str | None = params.files.get(kind) or params.text(kind)
        if value is None or value == "":
            raise missing(kind)
        file = await resolve_file(state, params, kind, value, _attributes(kind, params))
        message = state.world.new_bot_message(
            chat.id,
            kind=kind,
            file=file,
            caption=caption or None,
            caption_entities=entities,
            parse_mode=parse_mode,
            source=raw,
            reply_markup=markup,
            reply_to_message_id=reply_target(state, chat, params),
        )
        return sent(state, message)

    handler.__name__ = f"send_{kind}"
    handler.__doc__ = f"send{_TYPE_NAME[kind]}: one {kind} message."
    return handler


async def send_media_group(state: State, params: Params) -> list[dict[str, Any]]:
    """2–10 photos/videos, or only documents, or only audios, as one album (``media_group_id``)."""
    chat_id = params.chat_id()
    media = params.json("media", "media")
    if media is None:
        raise missing("media")
    if not isinstance(media, list) or not media:
        raise bad_request(E.NO_MEDIA)
    if len(media) > 10:
        raise bad_request(E.TOO_MANY_MEDIA)
    if len(media) < 2:
        raise bad_request("media must include 2-10 items")
    kinds = []
    for item in media:
        if not isinstance(item, dict) or not isinstance(item.get("media"), str):
            raise bad_request("can't parse InputMedia: media not found")
        kind = item.get("type")
        if kind not in ("photo", "video", "audio", "document"):
            raise bad_request(f"can't parse InputMedia: type \"{kind}\" can't be used in sendMediaGroup")
        kinds.append(kind)
    for lonely in ("document", "audio"):
        if lonely in kinds and any(k != lonely for k in kinds):
            raise bad_request(f"{lonely} can't be mixed with other media types")
    prepared = []
    for item, kind in zip(media, kinds, strict=True):
        caption, entities = formatted(
            item.get("caption"), item.get("parse_mode"), item.get("caption_entities"), caption=True
        )
        prepared.append((item, kind, caption, entities))
    chat = writable_chat(state.world, chat_id)
    reply_to = reply_target(state, chat, params)
    files = []
    for item, kind, _, _ in prepared:
        if item["media"].startswith("attach://") and params.attached(item["media"]) is None:
            raise bad_request("can't parse InputMedia: media not found")
        files.append(await resolve_file(state, params, kind, item["media"], _attributes(kind, item)))
    group_id = str(secrets.randbelow(9 * 10**17) + 10**17)
    messages: list[SimMessage] = []
    for (item, kind, caption, entities), file in zip(prepared, files, strict=True):
        messages.append(
            state.world.new_bot_message(
                chat.id,
                kind=kind,
                file=file,
                caption=caption or None,
                caption_entities=entities,
                parse_mode=item.get("parse_mode"),
                source=item.get("caption"),
                media_group_id=group_id,
                reply_to_message_id=reply_to,
            )
        )
    return [sent(state, message) for message in messages]


async def get_file(state: State, params: Params) -> dict[str, Any]:
    file_id = params.text("file_id", required=True) or ""
    file = state.world.files.get(file_id)
    if file is None:
        raise bad_request(E.INVALID_FILE_ID)
    if file.size > DOWNLOAD_LIMIT:
        raise bad_request(E.FILE_TOO_BIG)
    return {
        "file_id": file.file_id,
        "file_unique_id": file.file_unique_id,
        "file_size": file.size,
        "file_path": state.world.files.path_for(file),
    }


HANDLERS = {
    "sendPhoto": _send_media("photo"),
    "sendVideo": _send_media("video"),
    "sendAudio": _send_media("audio"),
    "sendVoice": _send_media("voice"),
    "sendDocument": _send_media("document"),
    "sendMediaGroup": send_media_group,
    "getFile": get_file,
}
