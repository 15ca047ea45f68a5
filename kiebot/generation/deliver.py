"""Delivering a finished job: download the result from Kie at once, send it to the chat, capture.

Kie's result URLs expire (~24 h, reference §10.7), so the bytes are fetched and uploaded to
Telegram rather than linked. They are streamed through a
:class:`~kiebot.generation.media_file.MediaFile` — small ones in memory, large ones in a temporary
file — so media held in memory across all deliveries stay within ``MEDIA_MEMORY_MB``. Telegram's
limits decide the form (https://core.telegram.org/bots/api#sending-files): a photo upload
≤ 10 MB, any other file ≤ 50 MB; past those a document, past 50 MB a link. Several pictures from
one run go as one album (2–10 items). Only after Telegram accepted the result does the job move
to ``delivered``, which captures the hold in the same transaction — users pay for what reached
them.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from contextlib import ExitStack
from typing import Any

from kiebot.catalog import ModelSpec, title
from kiebot.chat.callback_data import cb
from kiebot.chat.format import Safe, duration, render, rub
from kiebot.generation import outcomes
from kiebot.generation.deps import GenDeps
from kiebot.generation.media_file import MediaFile
from kiebot.generation.notify import Notifier, user_language
from kiebot.kie import errors as kie_errors
from kiebot.store import jobs, kv
from kiebot.store.jobs import IllegalTransition, Job, LeaseLost
from kiebot.telegram.errors import BadRequest, Forbidden
from kiebot.telegram.types import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputFile,
    InputMediaPhoto,
    Message,
)

log = logging.getLogger(__name__)

PHOTO_MAX_BYTES = 10_000_000
FILE_MAX_BYTES = 50_000_000

_SIGNATURES: tuple[tuple[bytes, int, str, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", 0, "image/png", "png"),
    (b"\xff\xd8\xff", 0, "image/jpeg", "jpg"),
    (b"WEBP", 8, "image/webp", "webp"),
    (b"ftyp", 4, "video/mp4", "mp4"),
    (b"ID3", 0, "audio/mpeg", "mp3"),
    (b"\xff\xfb", 0, "audio/mpeg", "mp3"),
    (b"\xff\xf3", 0, "audio/mpeg", "mp3"),
    (b"WAVE", 8, "audio/wav", "wav"),
    (b"OggS", 0, "audio/ogg", "ogg"),
    (b"GIF8", 0, "image/gif", "gif"),
)


def sniff(data: bytes, url: str) -> tuple[str, str]:
    """MIME type and extension from the file's first bytes, else from the URL."""
    for magic, offset, mime, ext in _SIGNATURES:
        if data[offset : offset + len(magic)] == magic:
            return mime, ext
    path = url.split("?", 1)[0].lower()
    for ext, mime in (("png", "image/png"), ("jpg", "image/jpeg"), ("jpeg", "image/jpeg"), ("webp", "image/webp"),
                      ("mp4", "video/mp4"), ("mp3", "audio/mpeg"), ("wav", "audio/wav"), ("txt", "text/plain")):
        if path.endswith("." + ext):
            return mime, ext
    return "application/octet-stream", "bin"


def result_keyboard(job: Job, lang: str) -> list[list[InlineKeyboardButton]]:
    return [
        [
            InlineKeyboardButton.callback(render(lang, "generation.again"), cb("again", job.id)),
            InlineKeyboardButton.callback(render(lang, "generation.new_prompt"), cb("newp", job.id)),
        ],
        [
            InlineKeyboardButton.callback(render(lang, "generation.parameters"), cb("par", job.id)),
            InlineKeyboardButton.callback(render(lang, "common.menu"), cb("menu")),
        ],
    ]


class _Fetched:
    """One result: its bytes in a :class:`MediaFile` (memory or disk), or ``None`` when it is
    over Telegram's 50 MB and goes as a link."""

    def __init__(self, url: str, file: MediaFile | None) -> None:
        self.url = url
        self.file = file
        self.size = file.size if file is not None else 0
        self.mime, self.ext = sniff(file.head if file is not None else b"", url)

    def upload(self, name: str) -> InputFile:
        assert self.file is not None
        return InputFile(name, mime_type=self.mime, file=self.file.reader())


async def _fetch_all(deps: GenDeps, urls: Sequence[str], files: ExitStack) -> list[_Fetched]:
    """Each result streamed into a :class:`MediaFile` closed with ``files`` (``MEDIA_MEMORY_MB``)."""
    assert deps.kie is not None
    fetched = []
    for url in urls:
        file = files.enter_context(MediaFile(deps.media))
        try:
            await deps.kie.fetch_result_into(url, file, max_bytes=FILE_MAX_BYTES)
            await file.finish()
        except kie_errors.ResultTooLarge:
            file.close()
            fetched.append(_Fetched(url, None))  # Telegram will not take it either: send the link
            continue
        fetched.append(_Fetched(url, file))
    return fetched


async def _send_one(deps: GenDeps, job: Job, spec: ModelSpec | None, item: _Fetched, index: int, caption: str | None,
                    markup: InlineKeyboardMarkup | None, lang: str) -> tuple[Message, dict[str, Any]]:
    chat = job.chat_id
    tg = deps.tg
    if item.file is None:
        text = render(lang, "generation.result_link", url=item.url)
        message = await tg.send_message(chat, text, parse_mode="HTML", reply_markup=markup)
        return message, {"type": "link", "url": item.url}
    upload = item.upload(f"kiebot-{job.id}-{index + 1}.{item.ext}")
    size = item.size
    kind = item.mime.split("/")[0]
    try:
        if kind == "image" and item.mime != "image/gif" and size <= PHOTO_MAX_BYTES:
            message = await tg.send_photo(chat, upload, caption=caption, parse_mode="HTML", reply_markup=markup)
            return message, {"type": "photo", "file_id": message.photo[-1].file_id if message.photo else ""}
        if kind == "video":
            message = await tg.send_video(chat, upload, caption=caption, parse_mode="HTML", reply_markup=markup)
            return message, {"type": "video", "file_id": message.video.file_id if message.video else ""}
        if kind == "audio":
            message = await tg.send_audio(chat, upload, caption=caption, parse_mode="HTML", reply_markup=markup)
            return message, {"type": "audio", "file_id": message.audio.file_id if message.audio else ""}
    except BadRequest as exc:
        log.info("media send refused, falling back to a document", extra={"job_id": job.id, "error": type(exc).__name__})
    message = await tg.send_document(chat, upload, caption=caption, parse_mode="HTML", reply_markup=markup)
    return message, {"type": "document", "file_id": message.document.file_id if message.document else ""}


async def _send_result(deps: GenDeps, job: Job, spec: ModelSpec | None, lang: str) -> list[dict[str, Any]]:
    result = job.result or {}
    name = title(spec, lang) if spec is not None else job.model_id
    keyboard = InlineKeyboardMarkup(inline_keyboard=result_keyboard(job, lang))
    if result.get("dry_run"):
        text = str(result.get("text") or "")
        await deps.tg.send_message(job.chat_id, text, parse_mode="HTML", reply_markup=keyboard)
        return [{"type": "text"}]
    with ExitStack() as files:
        fetched = await _fetch_all(deps, [str(u) for u in result.get("urls", [])], files)
        caption = render(lang, "generation.result_caption", model=name)
        sent: list[dict[str, Any]] = []
        photos = [f for f in fetched if f.file is not None and f.mime in ("image/png", "image/jpeg", "image/webp") and f.size <= PHOTO_MAX_BYTES]
        if len(photos) == len(fetched) and 2 <= len(photos) <= 10:
            media = [
                InputMediaPhoto(media=f.upload(f"kiebot-{job.id}-{i + 1}.{f.ext}"), caption=caption if i == 0 else None, parse_mode="HTML" if i == 0 else None)
                for i, f in enumerate(photos)
            ]
            messages = await deps.tg.send_media_group(job.chat_id, media)
            sent = [{"type": "photo", "file_id": m.photo[-1].file_id if m.photo else ""} for m in messages]
            await deps.tg.send_message(job.chat_id, render(lang, "generation.result_ready", model=name), parse_mode="HTML", reply_markup=keyboard)
            return sent
        for index, item in enumerate(fetched):
            last = index == len(fetched) - 1
            _, record = await _send_one(deps, job, spec, item, index, caption if index == 0 else None, keyboard if last else None, lang)
            sent.append(record)
        return sent


async def alert_refused_host(deps: GenDeps, notifier: Notifier, job: Job, exc: kie_errors.ResultRefused) -> bool:
    """Tell the admins about a refused result host once per host, ever, across instances and
    restarts (a ``kv`` row marks it); True when this call sent the alert. A host that keeps
    appearing is then visible in the logs and the ``result``/``refused`` Kie metric, not in chat."""
    host = exc.host[:200]
    async with deps.db.connection() as conn:
        first = await kv.put_if_absent(conn, f"alert.result_host_refused:{host}", {"reason": exc.reason, "job": job.id})
    if first:
        await notifier.admins(
            "result_safety.admin_refused", topic=f"result-host:{host}", host=host, reason=exc.reason, job=job.id
        )
    return first


async def deliver_job(deps: GenDeps, notifier: Notifier, job: Job) -> None:
    """Send a claimed ``succeeded`` job's result and move it to ``delivered`` (capturing the hold)."""
    spec = deps.registry.get(job.model_id)
    lang = await user_language(deps.db, job.user_id)
    name = title(spec, lang) if spec is not None else job.model_id
    await notifier.edit_progress(job, render(lang, "generation.sending", model=name))
    try:
        sent = await _send_result(deps, job, spec, lang)
    except Forbidden:
        await outcomes.fail(deps, notifier, job, "undeliverable", "the user blocked the bot")
        return
    except kie_errors.ResultRefused as exc:
        # The result points inside (http, a private address, a redirect there): a provider
        # failure for the user — hold released, told in their language — and news for admins.
        log.warning("result refused", extra={"job_id": job.id, "host": exc.host, "reason": exc.reason})
        if await outcomes.fail(deps, notifier, job, "result_refused", exc.reason):
            await alert_refused_host(deps, notifier, job, exc)
        return
    except (kie_errors.NotFound, kie_errors.UnexpectedResponse) as exc:
        await outcomes.fail(deps, notifier, job, "provider_failed", f"result not downloadable: {type(exc).__name__}")
        return
    result = dict(job.result or {})
    result["telegram"] = sent
    async with deps.db.connection() as conn:
        try:
            moved = await jobs.transition(conn, job.id, "delivered", owner=deps.worker, result=result)
        except (IllegalTransition, LeaseLost) as exc:
            log.warning("delivered, but the job moved on meanwhile", extra={"job_id": job.id, "error": type(exc).__name__})
            return
    if not moved:
        return
    done = await outcomes.reload(deps, job.id)
    elapsed = (done.delivered_at or deps.now()) - done.created_at
    deps.metrics.jobs_finished.labels(kind=done.kind, state="delivered").inc()
    deps.metrics.generation_seconds.labels(kind=done.kind).observe(elapsed.total_seconds())
    if done.free:
        charged = render(lang, "generation.charged_free")
    elif done.dry_run:
        charged = ""
    else:
        charged = render(lang, "generation.charged_paid", price=Safe(rub(done.quote_kopecks, lang)))
    await notifier.edit_progress(
        done, render(lang, "generation.done", model=name, elapsed=duration(elapsed.total_seconds()), charged=Safe(charged))
    )
