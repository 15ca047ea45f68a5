"""The Bot API methods the bot uses, typed: what to send for each call, and how to read its answer.

One Python method per Bot API method (https://core.telegram.org/bots/api#available-methods), in
snake_case, with keyword-only options named as in the API. Each builds its parameters and says
whether the call is safe to repeat, then hands them to ``call`` — implemented by
:class:`~kiebot.telegram.client.TelegramClient`, which owns the transport, the flood limiter and
the retries. Media parameters take a ``str`` (a file_id or an HTTP URL) or an
:class:`~kiebot.telegram.types.InputFile` to upload.

Parameters removed from Bot API 10.x are offered as conveniences and sent in their current form:
``reply_to_message_id`` becomes ``reply_parameters`` and ``disable_web_page_preview`` becomes
``link_preview_options`` (checked against the spec by ``tests/telegram/test_spec_conformance.py``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Final, TypeVar

import msgspec

from kiebot.telegram.errors import MessageNotModified, MessageToDeleteNotFound
from kiebot.telegram.limiter import ChatId
from kiebot.telegram.limits import MAX_POLL_TIMEOUT, MEDIA_GROUP_MAX, MEDIA_GROUP_MIN
from kiebot.telegram.payload import attach_media
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

POLL_READ_MARGIN: Final = 15.0
"""Seconds the HTTP read timeout of getUpdates exceeds its long-poll timeout."""


class BotApiMethods:
    """Typed Bot API methods over an abstract :meth:`call` (see TelegramClient)."""

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
        raise NotImplementedError

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
            read_timeout=(poll or 0) + POLL_READ_MARGIN,
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
