"""The Bot API client: one generic :meth:`TelegramClient.call` and a typed method per call the bot makes.

https://core.telegram.org/bots/api#making-requests. The transport is an injected
``httpx.AsyncClient`` (tests pass one with ``MockTransport`` or point it at a fake server); request
bodies are built by :mod:`kiebot.telegram.payload`, errors mapped by :mod:`kiebot.telegram.errors`,
and every call runs inside a slot of the shared :class:`~kiebot.telegram.limiter.FloodLimiter`.

Retries (bounded by ``max_retries``):

* 429 — Telegram did not run the request: the pause goes into the limiter (so every caller to that
  chat waits with us) and the call is repeated, unless ``retry_after`` exceeds ``max_retry_after``;
* 5xx and transport failures — repeated with jittered exponential back-off only when the call is
  ``safe_to_retry`` (reads, answers, edits, deletes, settings) or when the request surely never left
  (a connection that could not be opened); a ``send*`` that may have been delivered is not repeated,
  so a user never gets a message twice.

The bot token is in every request URL, so it never leaves this module: exceptions carry the method
name and Telegram's description only, httpx errors are re-raised as :class:`NetworkError` with a
sanitised text and no ``__cause__``/``__context__``, logs name the method, and ``repr`` hides it.
"""

from __future__ import annotations

import logging
import random
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final, Generic, TypeVar

import httpx
import msgspec
import trio

from kiebot.telegram.errors import (
    FileTooLarge,
    InvalidResponse,
    MessageNotModified,
    MessageToDeleteNotFound,
    NetworkError,
    RetryAfter,
    ServerError,
    TelegramError,
    error_from_envelope,
)
from kiebot.telegram.limiter import ChatId, FloodLimiter
from kiebot.telegram.limits import MAX_DOWNLOAD_BYTES, MAX_POLL_TIMEOUT, MEDIA_GROUP_MAX, MEDIA_GROUP_MIN
from kiebot.telegram.payload import RequestBody, attach_media, build_body, clean_params
from kiebot.telegram.types import (
    BotCommand,
    BotCommandScope,
    ChatAction,
    File,
    InlineKeyboardMarkup,
    InputFile,
    InputMedia,
    LabeledPrice,
    LinkPreviewOptions,
    Message,
    MessageEntity,
    ReplyMarkup,
    ReplyParameters,
    StarTransactions,
    Update,
    User,
    WebhookInfo,
    decode_update_lenient,
)
from kiebot.telegram.webhook import validate_secret_token

log = logging.getLogger("kiebot.telegram")

T = TypeVar("T")

DEFAULT_BASE_URL: Final = "https://api.telegram.org"

OnCall = Callable[[str, str, float], None]
"""``on_call(method, outcome, seconds)`` after every HTTP attempt; outcome is one of ``ok``,
``retry_after``, ``server_error``, ``network_error``, ``error``."""

OnRetryAfter = Callable[[str, float], None]
"""``on_retry_after(method, seconds)`` whenever Telegram asks to wait."""

_TOKEN_RE: Final = re.compile(r"^\d+:[A-Za-z0-9_-]+$")
_POLL_READ_MARGIN: Final = 15.0
_ERROR_BODY_LIMIT: Final = 65_536


class _Ok(msgspec.Struct, Generic[T]):
    ok: bool
    result: T


_decoders: dict[Any, msgspec.json.Decoder[Any]] = {}


def _decoder(result_type: Any) -> msgspec.json.Decoder[Any]:
    """One ``{"ok": true, "result": T}`` decoder per result type, built on first use and kept."""
    decoder = _decoders.get(result_type)
    if decoder is None:
        decoder = _decoders[result_type] = msgspec.json.Decoder(_Ok[result_type])
    return decoder


_NOT_SENT: Final = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.UnsupportedProtocol)


class TelegramClient:
    """A typed, flood-controlled Bot API client over an injected ``httpx.AsyncClient``."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        token: str,
        *,
        base_url: str = DEFAULT_BASE_URL,
        limiter: FloodLimiter | None = None,
        max_retries: int = 3,
        max_retry_after: float = 60.0,
        backoff_base: float = 0.5,
        backoff_cap: float = 10.0,
        on_call: OnCall | None = None,
        on_retry_after: OnRetryAfter | None = None,
        rng: random.Random | None = None,
    ) -> None:
        if not _TOKEN_RE.match(token):
            raise ValueError("the bot token does not look like <digits>:<secret>")
        if max_retries < 0:
            raise ValueError("max_retries must be >= 0")
        self._http = http
        self._token = token
        self._base_url = base_url.rstrip("/")
        self._api_prefix = f"{self._base_url}/bot{token}/"
        self._file_prefix = f"{self._base_url}/file/bot{token}/"
        self.limiter = limiter if limiter is not None else FloodLimiter()
        self.max_retries = max_retries
        self.max_retry_after = max_retry_after
        self._backoff_base = backoff_base
        self._backoff_cap = backoff_cap
        self._on_call = on_call
        self._on_retry_after = on_retry_after
        self._rng = rng or random.Random()

    def __repr__(self) -> str:
        return f"TelegramClient(base_url={self._base_url!r}, bot_id={self.bot_id}, token=***)"

    @property
    def bot_id(self) -> int:
        """The bot's user id: the public part of the token before the colon."""
        return int(self._token.split(":", 1)[0])

    # -- the generic call ----------------------------------------------------------------------

    async def call(
        self,
        method: str,
        params: Mapping[str, object | None] | None,
        result_type: type[T],
        *,
        files: Mapping[str, InputFile] | None = None,
        chat_id: ChatId | None = None,
        safe_to_retry: bool,
        bulk: bool = False,
        read_timeout: float | None = None,
    ) -> T:
        """Call ``method`` and decode its ``result`` as ``result_type``.

        ``params`` with value ``None`` are left out. ``files`` switches the body to multipart.
        ``chat_id`` is the flood-control key (usually the ``chat_id`` parameter). ``bulk`` puts a
        broadcast message in the limiter's lower-priority lane.
        """
        body = build_body(clean_params(params or {}), files)
        decoder = _decoder(result_type)
        # One slot for the whole logical call: a retry keeps this chat's place in line, so a later
        # message to the same chat never overtakes a message that met a 429 or a 5xx.
        async with self.limiter.slot(method, chat_id, bulk=bulk) as permit:
            attempt = 0
            while True:
                started = trio.current_time()
                outcome = await self._post(method, body, read_timeout)
                error: TelegramError
                if isinstance(outcome, NetworkError):
                    self._record(method, "network_error", started)
                    error, retry = outcome, safe_to_retry or not outcome.maybe_sent
                else:
                    status, content = outcome
                    result = self._decode(method, status, content, decoder)
                    if not isinstance(result, TelegramError):
                        self._record(method, "ok", started)
                        return result.result  # type: ignore[no-any-return]
                    error = result
                    if isinstance(result, RetryAfter):
                        # Telegram did not run the request: repeating it is always safe.
                        self._record(method, "retry_after", started)
                        self.limiter.retry_after(method, chat_id, result.retry_after)
                        if self._on_retry_after is not None:
                            self._safely(self._on_retry_after, method, float(result.retry_after))
                        retry = result.retry_after <= self.max_retry_after
                    elif isinstance(result, ServerError):
                        self._record(method, "server_error", started)
                        retry = safe_to_retry
                    else:
                        self._record(method, "error", started)
                        retry = False
                if not retry or attempt >= self.max_retries:
                    raise error
                attempt += 1
                if isinstance(error, RetryAfter):
                    delay = 0.0  # the limiter's pause holds us, and everyone sending to this chat
                    extra = {
                        "method": method,
                        "reason": "retry_after",
                        "seconds": error.retry_after,
                        "attempt": attempt,
                    }
                else:
                    delay = self._backoff_delay(attempt)
                    extra = {
                        "method": method,
                        "reason": type(error).__name__,
                        "seconds": round(delay, 3),
                        "attempt": attempt,
                    }
                log.info("telegram retry", extra=extra)
                await permit.again(after=delay)

    def _decode(
        self, method: str, status: int, content: bytes, decoder: msgspec.json.Decoder[Any]
    ) -> _Ok[Any] | TelegramError:
        if status == 200:
            try:
                ok: _Ok[Any] = decoder.decode(content)
            except msgspec.DecodeError:
                pass
            else:
                if ok.ok:
                    return ok
        error = error_from_envelope(method, status, content)
        if status == 200 and type(error) is TelegramError:
            # A 200 whose result we cannot read: the call may well have done its work, so it is not
            # retried; the shape is reported without the body (which may hold user data).
            return InvalidResponse(method, status, "unexpected result shape")
        return error

    async def _post(
        self, method: str, body: RequestBody, read_timeout: float | None
    ) -> tuple[int, bytes] | NetworkError:
        """One HTTP attempt. Transport failures are *returned*, so they are raised later outside any
        ``except`` block and carry no httpx exception (whose URL holds the token) as context."""
        url = self._api_prefix + method
        timeout: httpx.Timeout | None = None
        if read_timeout is not None:
            base = self._http.timeout
            timeout = httpx.Timeout(connect=base.connect, read=read_timeout, write=base.write, pool=base.pool)
        kwargs: dict[str, Any] = {} if timeout is None else {"timeout": timeout}
        try:
            if body.is_multipart:
                response = await self._http.post(url, data=body.form, files=body.files, **kwargs)
            else:
                response = await self._http.post(
                    url, content=body.json, headers={"Content-Type": "application/json"}, **kwargs
                )
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            return self._network_error(method, exc)
        return response.status_code, response.content

    def _network_error(self, method: str, exc: Exception) -> NetworkError:
        return NetworkError(
            method,
            f"{type(exc).__name__}: {self._sanitise(str(exc))}".rstrip(": "),
            maybe_sent=not isinstance(exc, _NOT_SENT),
        )

    def _sanitise(self, text: str) -> str:
        """Drop the token (plain or percent-encoded) from a third-party message, and keep it short."""
        for secret in (self._token, self._token.replace(":", "%3A"), self._token.replace(":", "%3a")):
            text = text.replace(secret, "***")
        return text[:200]

    def _backoff_delay(self, attempt: int) -> float:
        """Full jitter: uniform in [0, min(cap, base * 2^attempt)], so retrying instances spread out."""
        return self._rng.uniform(0, min(self._backoff_cap, self._backoff_base * 2**attempt))

    def _record(self, method: str, outcome: str, started: float) -> None:
        seconds = trio.current_time() - started
        log.debug(
            "telegram call",
            extra={"method": method, "outcome": outcome, "duration_ms": round(seconds * 1000, 1)},
        )
        if self._on_call is not None:
            self._safely(self._on_call, method, outcome, seconds)

    @staticmethod
    def _safely(hook: Callable[..., None], *args: object) -> None:
        try:
            hook(*args)
        except Exception:
            log.exception("telegram call hook failed")

    # -- updates and webhooks -------------------------------------------------------------------

    async def get_me(self) -> User:
        """https://core.telegram.org/bots/api#getme"""
        return await self.call("getMe", None, User, safe_to_retry=True)

    async def get_updates(
        self,
        *,
        offset: int | None = None,
        limit: int | None = None,
        timeout: int | None = None,  # noqa: ASYNC109 - the Bot API long-poll parameter, not a cancel timeout
        allowed_updates: Sequence[str] | None = None,
    ) -> list[Update]:
        """https://core.telegram.org/bots/api#getupdates — see :meth:`get_updates_with_raw`."""
        return [
            update
            for update, _ in await self.get_updates_with_raw(
                offset=offset, limit=limit, timeout=timeout, allowed_updates=allowed_updates
            )
        ]

    async def get_updates_with_raw(
        self,
        *,
        offset: int | None = None,
        limit: int | None = None,
        timeout: int | None = None,  # noqa: ASYNC109 - the Bot API long-poll parameter, not a cancel timeout
        allowed_updates: Sequence[str] | None = None,
    ) -> list[tuple[Update, bytes]]:
        """Each update with its exact JSON, so the inbox stores what Telegram sent (including
        fields this module does not know yet). ``timeout`` is clamped to 50 s (the server's own cap)
        and the HTTP read timeout is set above it, so a long poll is never cut short by httpx.
        ``allowed_updates=None`` keeps the previous setting; ``[]`` means all but chat_member and
        reactions. An update whose payload does not fit our types is returned as a bare
        ``Update(update_id)`` (kind "unknown") with its raw JSON, so one odd update cannot stall
        polling."""
        poll = None if timeout is None else max(0, min(int(timeout), MAX_POLL_TIMEOUT))
        raws = await self.call(
            "getUpdates",
            {
                "offset": offset,
                "limit": limit,
                "timeout": poll,
                "allowed_updates": None if allowed_updates is None else list(allowed_updates),
            },
            list[msgspec.Raw],
            safe_to_retry=True,
            read_timeout=(poll or 0) + _POLL_READ_MARGIN,
        )
        batch = []
        for raw in raws:
            try:
                update = decode_update_lenient(raw)
            except msgspec.DecodeError:
                # No update_id: it can be neither stored nor confirmed. Never seen from Telegram.
                log.error("getUpdates returned an item without update_id; skipped")
                continue
            if update.kind == "unknown":
                log.debug("update of an unknown or unreadable kind", extra={"update_id": update.update_id})
            batch.append((update, bytes(raw)))
        return batch

    async def set_webhook(
        self,
        url: str,
        *,
        secret_token: str | None = None,
        allowed_updates: Sequence[str] | None = None,
        drop_pending_updates: bool | None = None,
        max_connections: int | None = None,
        ip_address: str | None = None,
        certificate: InputFile | None = None,
    ) -> bool:
        """https://core.telegram.org/bots/api#setwebhook — the secret token is checked locally first
        (1-256 of ``A-Za-z0-9_-``), never echoed in an error."""
        if secret_token is not None:
            validate_secret_token(secret_token)
        return await self.call(
            "setWebhook",
            {
                "url": url,
                "secret_token": secret_token,
                "allowed_updates": None if allowed_updates is None else list(allowed_updates),
                "drop_pending_updates": drop_pending_updates,
                "max_connections": max_connections,
                "ip_address": ip_address,
            },
            bool,
            files={"certificate": certificate} if certificate is not None else None,
            safe_to_retry=True,
        )

    async def delete_webhook(self, *, drop_pending_updates: bool | None = None) -> bool:
        """https://core.telegram.org/bots/api#deletewebhook"""
        return await self.call(
            "deleteWebhook", {"drop_pending_updates": drop_pending_updates}, bool, safe_to_retry=True
        )

    async def get_webhook_info(self) -> WebhookInfo:
        """https://core.telegram.org/bots/api#getwebhookinfo"""
        return await self.call("getWebhookInfo", None, WebhookInfo, safe_to_retry=True)

    async def set_my_commands(
        self,
        commands: Sequence[BotCommand],
        *,
        scope: BotCommandScope | None = None,
        language_code: str | None = None,
    ) -> bool:
        """https://core.telegram.org/bots/api#setmycommands — per ``language_code`` ("ru", "en"); an
        empty code sets the fallback list."""
        return await self.call(
            "setMyCommands",
            {"commands": list(commands), "scope": scope, "language_code": language_code},
            bool,
            safe_to_retry=True,
        )

    # -- messages -------------------------------------------------------------------------------

    async def send_message(
        self,
        chat_id: ChatId,
        text: str,
        *,
        parse_mode: str | None = None,
        entities: Sequence[MessageEntity] | None = None,
        reply_markup: ReplyMarkup | None = None,
        link_preview_options: LinkPreviewOptions | None = None,
        disable_web_page_preview: bool | None = None,
        reply_to_message_id: int | None = None,
        disable_notification: bool | None = None,
        protect_content: bool | None = None,
        bulk: bool = False,
    ) -> Message:
        """https://core.telegram.org/bots/api#sendmessage — text 1-4096 characters after entity parsing.

        ``disable_web_page_preview`` and ``reply_to_message_id`` are conveniences mapped to
        ``link_preview_options`` and ``reply_parameters`` (the old parameters are gone from 10.x).
        """
        return await self.call(
            "sendMessage",
            {
                "chat_id": chat_id,
                "text": text,
                "parse_mode": parse_mode,
                "entities": _list(entities),
                "link_preview_options": _preview(link_preview_options, disable_web_page_preview),
                "reply_parameters": _reply(reply_to_message_id),
                "reply_markup": reply_markup,
                "disable_notification": disable_notification,
                "protect_content": protect_content,
            },
            Message,
            chat_id=chat_id,
            safe_to_retry=False,
            bulk=bulk,
        )

    async def edit_message_text(
        self,
        chat_id: ChatId,
        message_id: int,
        text: str,
        *,
        parse_mode: str | None = None,
        entities: Sequence[MessageEntity] | None = None,
        reply_markup: InlineKeyboardMarkup | None = None,
        link_preview_options: LinkPreviewOptions | None = None,
        disable_web_page_preview: bool | None = None,
    ) -> Message | None:
        """https://core.telegram.org/bots/api#editmessagetext — returns the edited message, or
        ``None`` when Telegram says "message is not modified" (it already shows this content)."""
        return await self._edit(
            "editMessageText",
            chat_id,
            {
                "chat_id": chat_id,
                "message_id": message_id,
                "text": text,
                "parse_mode": parse_mode,
                "entities": _list(entities),
                "link_preview_options": _preview(link_preview_options, disable_web_page_preview),
                "reply_markup": reply_markup,
            },
        )

    async def edit_message_reply_markup(
        self, chat_id: ChatId, message_id: int, reply_markup: InlineKeyboardMarkup | None = None
    ) -> Message | None:
        """https://core.telegram.org/bots/api#editmessagereplymarkup — ``None`` removes the keyboard.
        Returns ``None`` when nothing changed."""
        return await self._edit(
            "editMessageReplyMarkup",
            chat_id,
            {"chat_id": chat_id, "message_id": message_id, "reply_markup": reply_markup},
        )

    async def edit_message_caption(
        self,
        chat_id: ChatId,
        message_id: int,
        caption: str | None = None,
        *,
        parse_mode: str | None = None,
        caption_entities: Sequence[MessageEntity] | None = None,
        reply_markup: InlineKeyboardMarkup | None = None,
    ) -> Message | None:
        """https://core.telegram.org/bots/api#editmessagecaption — caption 0-1024 characters.
        Returns ``None`` when nothing changed."""
        return await self._edit(
            "editMessageCaption",
            chat_id,
            {
                "chat_id": chat_id,
                "message_id": message_id,
                "caption": caption,
                "parse_mode": parse_mode,
                "caption_entities": _list(caption_entities),
                "reply_markup": reply_markup,
            },
        )

    async def _edit(
        self, method: str, chat_id: ChatId, params: Mapping[str, object | None]
    ) -> Message | None:
        # Edits are idempotent: a repeat of one that landed answers "message is not modified".
        try:
            result = await self.call(method, params, Message | bool, chat_id=chat_id, safe_to_retry=True)  # type: ignore[arg-type]
        except MessageNotModified:
            return None
        return result if isinstance(result, Message) else None

    async def delete_message(self, chat_id: ChatId, message_id: int) -> bool:
        """https://core.telegram.org/bots/api#deletemessage — True if deleted, False if it was
        already gone (a retried delete lands there); other failures raise (e.g. "message can't be
        deleted" for messages older than 48 hours)."""
        try:
            return await self.call(
                "deleteMessage",
                {"chat_id": chat_id, "message_id": message_id},
                bool,
                chat_id=chat_id,
                safe_to_retry=True,
            )
        except MessageToDeleteNotFound:
            return False

    async def answer_callback_query(
        self,
        callback_query_id: str,
        *,
        text: str | None = None,
        show_alert: bool | None = None,
        url: str | None = None,
        cache_time: int | None = None,
    ) -> bool:
        """https://core.telegram.org/bots/api#answercallbackquery — answer at once, even with no text,
        or the user's client keeps a spinner; late answers raise QueryTooOld. Text ≤ 200 characters.
        Bypasses the message buckets."""
        return await self.call(
            "answerCallbackQuery",
            {
                "callback_query_id": callback_query_id,
                "text": text,
                "show_alert": show_alert,
                "url": url,
                "cache_time": cache_time,
            },
            bool,
            safe_to_retry=True,
        )

    async def send_chat_action(self, chat_id: ChatId, action: ChatAction = "typing") -> bool:
        """https://core.telegram.org/bots/api#sendchataction — shown ≤ 5 s; repeat every ~4 s during
        a long generation. Not counted by the message buckets."""
        return await self.call(
            "sendChatAction",
            {"chat_id": chat_id, "action": action},
            bool,
            chat_id=chat_id,
            safe_to_retry=True,
        )

    # -- media ----------------------------------------------------------------------------------

    async def send_photo(
        self,
        chat_id: ChatId,
        photo: str | InputFile,
        *,
        caption: str | None = None,
        parse_mode: str | None = None,
        caption_entities: Sequence[MessageEntity] | None = None,
        reply_markup: ReplyMarkup | None = None,
        reply_to_message_id: int | None = None,
        has_spoiler: bool | None = None,
        disable_notification: bool | None = None,
        protect_content: bool | None = None,
        bulk: bool = False,
    ) -> Message:
        """https://core.telegram.org/bots/api#sendphoto — a file_id, an HTTP URL (≤ 5 MB) or an
        upload (≤ 10 MB, width + height ≤ 10000)."""
        return await self._send_media(
            "sendPhoto",
            chat_id,
            {"photo": photo},
            {
                "caption": caption,
                "parse_mode": parse_mode,
                "caption_entities": _list(caption_entities),
                "has_spoiler": has_spoiler,
            },
            reply_markup,
            reply_to_message_id,
            disable_notification,
            protect_content,
            bulk,
        )

    async def send_video(
        self,
        chat_id: ChatId,
        video: str | InputFile,
        *,
        caption: str | None = None,
        parse_mode: str | None = None,
        caption_entities: Sequence[MessageEntity] | None = None,
        reply_markup: ReplyMarkup | None = None,
        reply_to_message_id: int | None = None,
        duration: int | None = None,
        width: int | None = None,
        height: int | None = None,
        thumbnail: str | InputFile | None = None,
        supports_streaming: bool | None = None,
        disable_notification: bool | None = None,
        protect_content: bool | None = None,
        bulk: bool = False,
    ) -> Message:
        """https://core.telegram.org/bots/api#sendvideo — uploads ≤ 50 MB, by URL ≤ 20 MB."""
        return await self._send_media(
            "sendVideo",
            chat_id,
            {"video": video, "thumbnail": thumbnail},
            {
                "caption": caption,
                "parse_mode": parse_mode,
                "caption_entities": _list(caption_entities),
                "duration": duration,
                "width": width,
                "height": height,
                "supports_streaming": supports_streaming,
            },
            reply_markup,
            reply_to_message_id,
            disable_notification,
            protect_content,
            bulk,
        )

    async def send_audio(
        self,
        chat_id: ChatId,
        audio: str | InputFile,
        *,
        caption: str | None = None,
        parse_mode: str | None = None,
        caption_entities: Sequence[MessageEntity] | None = None,
        reply_markup: ReplyMarkup | None = None,
        reply_to_message_id: int | None = None,
        duration: int | None = None,
        performer: str | None = None,
        title: str | None = None,
        thumbnail: str | InputFile | None = None,
        disable_notification: bool | None = None,
        protect_content: bool | None = None,
        bulk: bool = False,
    ) -> Message:
        """https://core.telegram.org/bots/api#sendaudio — MP3/M4A shown in the music player, ≤ 50 MB."""
        return await self._send_media(
            "sendAudio",
            chat_id,
            {"audio": audio, "thumbnail": thumbnail},
            {
                "caption": caption,
                "parse_mode": parse_mode,
                "caption_entities": _list(caption_entities),
                "duration": duration,
                "performer": performer,
                "title": title,
            },
            reply_markup,
            reply_to_message_id,
            disable_notification,
            protect_content,
            bulk,
        )

    async def send_voice(
        self,
        chat_id: ChatId,
        voice: str | InputFile,
        *,
        caption: str | None = None,
        parse_mode: str | None = None,
        caption_entities: Sequence[MessageEntity] | None = None,
        reply_markup: ReplyMarkup | None = None,
        reply_to_message_id: int | None = None,
        duration: int | None = None,
        disable_notification: bool | None = None,
        protect_content: bool | None = None,
        bulk: bool = False,
    ) -> Message:
        """https://core.telegram.org/bots/api#sendvoice — OGG/Opus, MP3 or M4A; ≤ 50 MB uploaded
        (by URL: audio/ogg ≤ 1 MB)."""
        return await self._send_media(
            "sendVoice",
            chat_id,
            {"voice": voice},
            {
                "caption": caption,
                "parse_mode": parse_mode,
                "caption_entities": _list(caption_entities),
                "duration": duration,
            },
            reply_markup,
            reply_to_message_id,
            disable_notification,
            protect_content,
            bulk,
        )

    async def send_document(
        self,
        chat_id: ChatId,
        document: str | InputFile,
        *,
        caption: str | None = None,
        parse_mode: str | None = None,
        caption_entities: Sequence[MessageEntity] | None = None,
        reply_markup: ReplyMarkup | None = None,
        reply_to_message_id: int | None = None,
        thumbnail: str | InputFile | None = None,
        disable_content_type_detection: bool | None = None,
        disable_notification: bool | None = None,
        protect_content: bool | None = None,
        bulk: bool = False,
    ) -> Message:
        """https://core.telegram.org/bots/api#senddocument — any file ≤ 50 MB (by URL: only .PDF and
        .ZIP). Use it to deliver full-resolution images uncompressed."""
        return await self._send_media(
            "sendDocument",
            chat_id,
            {"document": document, "thumbnail": thumbnail},
            {
                "caption": caption,
                "parse_mode": parse_mode,
                "caption_entities": _list(caption_entities),
                "disable_content_type_detection": disable_content_type_detection,
            },
            reply_markup,
            reply_to_message_id,
            disable_notification,
            protect_content,
            bulk,
        )

    async def _send_media(
        self,
        method: str,
        chat_id: ChatId,
        media: Mapping[str, str | InputFile | None],
        options: Mapping[str, object | None],
        reply_markup: ReplyMarkup | None,
        reply_to_message_id: int | None,
        disable_notification: bool | None,
        protect_content: bool | None,
        bulk: bool,
    ) -> Message:
        params: dict[str, object | None] = {"chat_id": chat_id}
        files: dict[str, InputFile] = {}
        for name, value in media.items():
            if isinstance(value, InputFile):
                if name == "thumbnail":
                    # Thumbnails are referenced: "attach://<file_attach_name>" (Bot API sendVideo).
                    files["thumbnail_file"] = value
                    params[name] = "attach://thumbnail_file"
                else:
                    files[name] = value
            else:
                params[name] = value
        params.update(options)
        params.update(
            {
                "reply_parameters": _reply(reply_to_message_id),
                "reply_markup": reply_markup,
                "disable_notification": disable_notification,
                "protect_content": protect_content,
            }
        )
        return await self.call(
            method, params, Message, files=files or None, chat_id=chat_id, safe_to_retry=False, bulk=bulk
        )

    async def send_media_group(
        self,
        chat_id: ChatId,
        media: Sequence[InputMedia],
        *,
        reply_to_message_id: int | None = None,
        disable_notification: bool | None = None,
        protect_content: bool | None = None,
    ) -> list[Message]:
        """https://core.telegram.org/bots/api#sendmediagroup — 2-10 items (documents and audios only
        with their own kind); uploads travel as ``attach://fileN`` parts."""
        if not MEDIA_GROUP_MIN <= len(media) <= MEDIA_GROUP_MAX:
            raise ValueError(f"a media group has {MEDIA_GROUP_MIN}-{MEDIA_GROUP_MAX} items, got {len(media)}")
        prepared, files = attach_media(media)
        return await self.call(
            "sendMediaGroup",
            {
                "chat_id": chat_id,
                "media": prepared,
                "reply_parameters": _reply(reply_to_message_id),
                "disable_notification": disable_notification,
                "protect_content": protect_content,
            },
            list[Message],
            files=files or None,
            chat_id=chat_id,
            safe_to_retry=False,
        )

    # -- files ----------------------------------------------------------------------------------

    async def get_file(self, file_id: str) -> File:
        """https://core.telegram.org/bots/api#getfile — the path is valid for at least an hour."""
        return await self.call("getFile", {"file_id": file_id}, File, safe_to_retry=True)

    async def download_file(self, file_path: str, *, max_bytes: int = MAX_DOWNLOAD_BYTES) -> bytes:
        """Download ``File.file_path`` (bots may download ≤ 20 MB, https://core.telegram.org/bots/api#getfile).

        The URL embeds the token, so it is built and used here only. Refuses (FileTooLarge) as soon
        as the declared or received size passes ``max_bytes``, without buffering the rest.
        """
        if not file_path or file_path.startswith("/") or ".." in file_path.split("/") or "://" in file_path:
            raise ValueError("not a Bot API file path")
        method = "downloadFile"
        async with self.limiter.slot(method, None) as permit:
            attempt = 0
            while True:
                started = trio.current_time()
                outcome = await self._download_once(method, self._file_prefix + file_path, max_bytes)
                if isinstance(outcome, bytes):
                    self._record(method, "ok", started)
                    return outcome
                self._record(method, _outcome_name(outcome), started)
                if not isinstance(outcome, NetworkError | ServerError) or attempt >= self.max_retries:
                    raise outcome
                attempt += 1
                delay = self._backoff_delay(attempt)
                log.info(
                    "telegram retry",
                    extra={
                        "method": method,
                        "reason": type(outcome).__name__,
                        "seconds": round(delay, 3),
                        "attempt": attempt,
                    },
                )
                await permit.again(after=delay)

    async def _download_once(self, method: str, url: str, max_bytes: int) -> bytes | TelegramError:
        try:
            async with self._http.stream("GET", url) as response:
                if response.status_code != 200:
                    head = await _read_at_most(response, _ERROR_BODY_LIMIT)
                    return error_from_envelope(method, response.status_code, head or b"")
                declared = response.headers.get("content-length")
                if declared is not None and declared.isdigit() and int(declared) > max_bytes:
                    return FileTooLarge(method, max_bytes)
                content = await _read_at_most(response, max_bytes)
                if content is None:
                    return FileTooLarge(method, max_bytes)
                return content
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            return self._network_error(method, exc)

    # -- payments (Telegram Stars) --------------------------------------------------------------

    async def send_invoice(
        self,
        chat_id: ChatId,
        title: str,
        description: str,
        payload: str,
        prices: Sequence[LabeledPrice],
        *,
        currency: str = "XTR",
        provider_token: str | None = None,
        start_parameter: str | None = None,
        photo_url: str | None = None,
        photo_size: int | None = None,
        photo_width: int | None = None,
        photo_height: int | None = None,
        reply_markup: InlineKeyboardMarkup | None = None,
        reply_to_message_id: int | None = None,
        disable_notification: bool | None = None,
        protect_content: bool | None = None,
    ) -> Message:
        """https://core.telegram.org/bots/api#sendinvoice — for Stars: currency "XTR", exactly one
        price, no provider token; title 1-32, description 1-255 characters, payload 1-128 bytes (our
        order id; never shown to the user). A custom keyboard must start with a pay button."""
        return await self.call(
            "sendInvoice",
            {
                "chat_id": chat_id,
                "title": title,
                "description": description,
                "payload": payload,
                "provider_token": provider_token,
                "currency": currency,
                "prices": list(prices),
                "start_parameter": start_parameter,
                "photo_url": photo_url,
                "photo_size": photo_size,
                "photo_width": photo_width,
                "photo_height": photo_height,
                "reply_parameters": _reply(reply_to_message_id),
                "reply_markup": reply_markup,
                "disable_notification": disable_notification,
                "protect_content": protect_content,
            },
            Message,
            chat_id=chat_id,
            safe_to_retry=False,
        )

    async def create_invoice_link(
        self,
        title: str,
        description: str,
        payload: str,
        prices: Sequence[LabeledPrice],
        *,
        currency: str = "XTR",
        provider_token: str | None = None,
        subscription_period: int | None = None,
        photo_url: str | None = None,
    ) -> str:
        """https://core.telegram.org/bots/api#createinvoicelink — same rules as sendInvoice;
        ``subscription_period`` must be 2592000 (30 days) when set. Creating a link twice is harmless,
        so it is retried like a read."""
        return await self.call(
            "createInvoiceLink",
            {
                "title": title,
                "description": description,
                "payload": payload,
                "provider_token": provider_token,
                "currency": currency,
                "prices": list(prices),
                "subscription_period": subscription_period,
                "photo_url": photo_url,
            },
            str,
            safe_to_retry=True,
        )

    async def answer_pre_checkout_query(
        self, pre_checkout_query_id: str, ok: bool, *, error_message: str | None = None
    ) -> bool:
        """https://core.telegram.org/bots/api#answerprecheckoutquery — must reach Telegram within 10 s
        of the query; bypasses the message buckets. ``error_message`` is required (and shown) when
        declining."""
        if not ok and not error_message:
            raise ValueError("declining a pre-checkout query needs an error_message for the user")
        return await self.call(
            "answerPreCheckoutQuery",
            {"pre_checkout_query_id": pre_checkout_query_id, "ok": ok, "error_message": error_message},
            bool,
            safe_to_retry=True,
        )

    async def refund_star_payment(self, user_id: int, telegram_payment_charge_id: str) -> bool:
        """https://core.telegram.org/bots/api#refundstarpayment — Telegram refunds a charge at most
        once; a repeat raises ChargeAlreadyRefunded, which callers treat as done (it is also what a
        retry after a lost answer gets)."""
        return await self.call(
            "refundStarPayment",
            {"user_id": user_id, "telegram_payment_charge_id": telegram_payment_charge_id},
            bool,
            safe_to_retry=True,
        )

    async def get_star_transactions(
        self, *, offset: int | None = None, limit: int | None = None
    ) -> StarTransactions:
        """https://core.telegram.org/bots/api#getstartransactions — oldest first, limit 1-100."""
        return await self.call(
            "getStarTransactions", {"offset": offset, "limit": limit}, StarTransactions, safe_to_retry=True
        )


def _list(items: Sequence[T] | None) -> list[T] | None:
    return None if items is None else list(items)


def _reply(message_id: int | None) -> ReplyParameters | None:
    # Sending anyway when the replied-to message is gone: a reply is a nicety, not a requirement.
    return (
        None
        if message_id is None
        else ReplyParameters(message_id=message_id, allow_sending_without_reply=True)
    )


def _preview(options: LinkPreviewOptions | None, disable: bool | None) -> LinkPreviewOptions | None:
    if options is not None:
        return options
    return LinkPreviewOptions(is_disabled=True) if disable else None


def _outcome_name(error: TelegramError) -> str:
    if isinstance(error, RetryAfter):
        return "retry_after"
    if isinstance(error, ServerError):
        return "server_error"
    if isinstance(error, NetworkError):
        return "network_error"
    return "error"


async def _read_at_most(response: httpx.Response, limit: int) -> bytes | None:
    """The body, or None as soon as it passes ``limit`` bytes (the rest is never read)."""
    chunks = bytearray()
    async for chunk in response.aiter_bytes():
        chunks += chunk
        if len(chunks) > limit:
            return None
    return bytes(chunks)
