"""Bot API wire types as msgspec Structs: what the bot reads and what it sends.

https://core.telegram.org/bots/api#available-types (checked against the Bot API 10.1 spec by
``tests/telegram/test_spec_conformance.py``).

Decoding is as permissive as Telegram is fickle (reference/telegram.md §1.8):

* unknown fields are ignored (Telegram adds fields every month) and unknown update kinds decode to an
  :class:`Update` whose :attr:`Update.kind` is ``"unknown"``;
* fields the spec calls required but real payloads have lacked (``file_unique_id`` before 2019,
  ``is_bot``, ``chat_instance`` in the official webhook samples) get harmless defaults;
* an explicit ``null`` is accepted for every optional field;
* ``from`` is ``from_`` in Python and ``"from"`` on the wire.

Every Struct is ``kw_only`` and ``omit_defaults``, so encoding an outgoing object (a keyboard, a price,
an input media) sends only the fields that were set. Tag unions are used only where Telegram tags on
output we build (``InputMedia*.type``); incoming unions without a reliable tag
(``MaybeInaccessibleMessage``, ``ChatMember``, ``TransactionPartner``) are loose Structs with the union
of the fields we need.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import BinaryIO, Final, Literal

import msgspec

from kiebot.telegram.limits import MAX_CALLBACK_DATA_BYTES


class TelegramObject(msgspec.Struct, kw_only=True, omit_defaults=True):
    """Base of every Bot API object: unset fields are omitted on the wire.

    msgspec does not inherit ``kw_only``, so every subclass repeats it (keyword-only construction
    keeps call sites readable and lets required fields follow defaulted ones).
    """


class UnparsedObject(TelegramObject, kw_only=True):
    """An object the bot never reads (business connections, reactions, boosts, polls...).

    It decodes from any JSON object and keeps nothing, so an update of that kind is recognised
    (``Update.kind``) at almost no cost and without depending on its schema.
    """


# ---------------------------------------------------------------------------------------------
# Users and chats


class User(TelegramObject, kw_only=True):
    """https://core.telegram.org/bots/api#user — ids fit in 52 bits (Python int)."""

    id: int
    is_bot: bool = False
    first_name: str = ""
    last_name: str | None = None
    username: str | None = None
    language_code: str | None = None
    is_premium: bool | None = None


class Chat(TelegramObject, kw_only=True):
    """https://core.telegram.org/bots/api#chat — ``type`` is private, group, supergroup or channel."""

    id: int
    type: str = "private"
    title: str | None = None
    username: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    is_forum: bool | None = None


class MessageEntity(TelegramObject, kw_only=True):
    """https://core.telegram.org/bots/api#messageentity — offsets and lengths are UTF-16 code units."""

    type: str
    offset: int
    length: int
    url: str | None = None
    user: User | None = None
    language: str | None = None
    custom_emoji_id: str | None = None


# ---------------------------------------------------------------------------------------------
# Media


class PhotoSize(TelegramObject, kw_only=True):
    """https://core.telegram.org/bots/api#photosize"""

    file_id: str
    file_unique_id: str = ""
    width: int = 0
    height: int = 0
    file_size: int | None = None


class Document(TelegramObject, kw_only=True):
    """https://core.telegram.org/bots/api#document"""

    file_id: str
    file_unique_id: str = ""
    thumbnail: PhotoSize | None = None
    file_name: str | None = None
    mime_type: str | None = None
    file_size: int | None = None


class Audio(TelegramObject, kw_only=True):
    """https://core.telegram.org/bots/api#audio"""

    file_id: str
    file_unique_id: str = ""
    duration: int = 0
    performer: str | None = None
    title: str | None = None
    file_name: str | None = None
    mime_type: str | None = None
    file_size: int | None = None
    thumbnail: PhotoSize | None = None


class Video(TelegramObject, kw_only=True):
    """https://core.telegram.org/bots/api#video"""

    file_id: str
    file_unique_id: str = ""
    width: int = 0
    height: int = 0
    duration: int = 0
    thumbnail: PhotoSize | None = None
    file_name: str | None = None
    mime_type: str | None = None
    file_size: int | None = None


class Animation(TelegramObject, kw_only=True):
    """https://core.telegram.org/bots/api#animation (a GIF or silent H.264 video)."""

    file_id: str
    file_unique_id: str = ""
    width: int = 0
    height: int = 0
    duration: int = 0
    thumbnail: PhotoSize | None = None
    file_name: str | None = None
    mime_type: str | None = None
    file_size: int | None = None


class Voice(TelegramObject, kw_only=True):
    """https://core.telegram.org/bots/api#voice"""

    file_id: str
    file_unique_id: str = ""
    duration: int = 0
    mime_type: str | None = None
    file_size: int | None = None


class Sticker(TelegramObject, kw_only=True):
    """https://core.telegram.org/bots/api#sticker — only enough to recognise and ignore one."""

    file_id: str
    file_unique_id: str = ""
    width: int = 0
    height: int = 0
    emoji: str | None = None
    set_name: str | None = None


class File(TelegramObject, kw_only=True):
    """https://core.telegram.org/bots/api#file — ``file_path`` is valid for at least one hour.

    The download URL embeds the bot token, so it is never built outside the client
    (``TelegramClient.download_file``).
    """

    file_id: str
    file_unique_id: str = ""
    file_size: int | None = None
    file_path: str | None = None


# ---------------------------------------------------------------------------------------------
# Keyboards


class WebAppInfo(TelegramObject, kw_only=True):
    """https://core.telegram.org/bots/api#webappinfo"""

    url: str


class CopyTextButton(TelegramObject, kw_only=True):
    """https://core.telegram.org/bots/api#copytextbutton"""

    text: str


class InlineKeyboardButton(TelegramObject, kw_only=True):
    """https://core.telegram.org/bots/api#inlinekeyboardbutton

    Exactly one action field besides ``text`` must be set when sending. ``callback_data`` is limited
    to 64 *bytes* of UTF-8 (not characters); a longer value is refused here, at construction, instead
    of as ``BUTTON_DATA_INVALID`` from Telegram. A ``pay`` button must come first in an invoice.
    """

    text: str
    url: str | None = None
    callback_data: str | None = None
    web_app: WebAppInfo | None = None
    switch_inline_query: str | None = None
    copy_text: CopyTextButton | None = None
    pay: bool = False
    style: str | None = None
    icon_custom_emoji_id: str | None = None

    def __post_init__(self) -> None:
        if (
            self.callback_data is not None
            and not 1 <= len(self.callback_data.encode()) <= MAX_CALLBACK_DATA_BYTES
        ):
            raise ValueError(f"callback_data must be 1-{MAX_CALLBACK_DATA_BYTES} bytes of UTF-8")

    @classmethod
    def callback(cls, text: str, data: str) -> InlineKeyboardButton:
        return cls(text=text, callback_data=data)

    @classmethod
    def link(cls, text: str, url: str) -> InlineKeyboardButton:
        return cls(text=text, url=url)

    @classmethod
    def pay_button(cls, text: str) -> InlineKeyboardButton:
        return cls(text=text, pay=True)


class InlineKeyboardMarkup(TelegramObject, kw_only=True):
    """https://core.telegram.org/bots/api#inlinekeyboardmarkup — rows of buttons."""

    inline_keyboard: list[list[InlineKeyboardButton]]


class KeyboardButton(TelegramObject, kw_only=True):
    """https://core.telegram.org/bots/api#keyboardbutton (plain text buttons only)."""

    text: str


class ReplyKeyboardMarkup(TelegramObject, kw_only=True):
    """https://core.telegram.org/bots/api#replykeyboardmarkup"""

    keyboard: list[list[KeyboardButton]]
    is_persistent: bool | None = None
    resize_keyboard: bool | None = None
    one_time_keyboard: bool | None = None
    input_field_placeholder: str | None = None


class ReplyKeyboardRemove(TelegramObject, kw_only=True, omit_defaults=False):
    """https://core.telegram.org/bots/api#replykeyboardremove — removes a custom keyboard left over
    from an older version of the bot. ``remove_keyboard`` is required and always True on the wire,
    hence ``omit_defaults=False`` for this one field."""

    remove_keyboard: bool = True

    def __post_init__(self) -> None:
        if self.remove_keyboard is not True:
            raise ValueError("remove_keyboard must be True")


class ForceReply(TelegramObject, kw_only=True, omit_defaults=False):
    """https://core.telegram.org/bots/api#forcereply — ``force_reply`` is always True on the wire."""

    force_reply: bool = True

    def __post_init__(self) -> None:
        if self.force_reply is not True:
            raise ValueError("force_reply must be True")


ReplyMarkup = InlineKeyboardMarkup | ReplyKeyboardMarkup | ReplyKeyboardRemove | ForceReply


# ---------------------------------------------------------------------------------------------
# Payments (Telegram Stars, currency "XTR")


class LabeledPrice(TelegramObject, kw_only=True):
    """https://core.telegram.org/bots/api#labeledprice — for XTR ``amount`` is whole Stars and an
    invoice carries exactly one price."""

    label: str
    amount: int


class Invoice(TelegramObject, kw_only=True):
    """https://core.telegram.org/bots/api#invoice"""

    title: str
    description: str
    start_parameter: str = ""
    currency: str
    total_amount: int


class ShippingAddress(TelegramObject, kw_only=True):
    """https://core.telegram.org/bots/api#shippingaddress"""

    country_code: str = ""
    state: str = ""
    city: str = ""
    street_line1: str = ""
    street_line2: str = ""
    post_code: str = ""


class OrderInfo(TelegramObject, kw_only=True):
    """https://core.telegram.org/bots/api#orderinfo"""

    name: str | None = None
    phone_number: str | None = None
    email: str | None = None
    shipping_address: ShippingAddress | None = None


class PreCheckoutQuery(TelegramObject, kw_only=True):
    """https://core.telegram.org/bots/api#precheckoutquery — must be answered within 10 seconds
    (answerPreCheckoutQuery)."""

    id: str
    from_: User = msgspec.field(name="from")
    currency: str
    total_amount: int
    invoice_payload: str
    shipping_option_id: str | None = None
    order_info: OrderInfo | None = None


class SuccessfulPayment(TelegramObject, kw_only=True):
    """https://core.telegram.org/bots/api#successfulpayment — the only event that credits a balance,
    once per ``telegram_payment_charge_id``. ``provider_payment_charge_id`` is meaningless for Stars."""

    currency: str
    total_amount: int
    invoice_payload: str
    telegram_payment_charge_id: str
    provider_payment_charge_id: str = ""
    subscription_expiration_date: int | None = None
    is_recurring: bool | None = None
    is_first_recurring: bool | None = None
    shipping_option_id: str | None = None
    order_info: OrderInfo | None = None


class RefundedPayment(TelegramObject, kw_only=True):
    """https://core.telegram.org/bots/api#refundedpayment"""

    currency: str
    total_amount: int
    invoice_payload: str
    telegram_payment_charge_id: str
    provider_payment_charge_id: str | None = None


class ShippingQuery(TelegramObject, kw_only=True):
    """https://core.telegram.org/bots/api#shippingquery (flexible-price invoices only; not used)."""

    id: str
    from_: User = msgspec.field(name="from")
    invoice_payload: str = ""
    shipping_address: ShippingAddress | None = None


class TransactionPartner(TelegramObject, kw_only=True):
    """https://core.telegram.org/bots/api#transactionpartner — a loose union of its seven subtypes,
    discriminated by ``type`` (user, chat, affiliate_program, fragment, telegram_ads, telegram_api,
    other). For a Stars payment ``type == "user"`` and ``transaction_type == "invoice_payment"``."""

    type: str
    transaction_type: str | None = None
    user: User | None = None
    chat: Chat | None = None
    invoice_payload: str | None = None
    subscription_period: int | None = None
    paid_media_payload: str | None = None
    premium_subscription_duration: int | None = None
    sponsor_user: User | None = None
    commission_per_mille: int | None = None
    request_count: int | None = None


class StarTransaction(TelegramObject, kw_only=True):
    """https://core.telegram.org/bots/api#startransaction — ``id`` equals
    ``SuccessfulPayment.telegram_payment_charge_id`` for an incoming payment (and for its refund)."""

    id: str
    amount: int
    nanostar_amount: int | None = None
    date: int
    source: TransactionPartner | None = None
    receiver: TransactionPartner | None = None


class StarTransactions(TelegramObject, kw_only=True):
    """https://core.telegram.org/bots/api#startransactions"""

    transactions: list[StarTransaction]


# ---------------------------------------------------------------------------------------------
# Messages


class LinkPreviewOptions(TelegramObject, kw_only=True):
    """https://core.telegram.org/bots/api#linkpreviewoptions (replaces ``disable_web_page_preview``)."""

    is_disabled: bool | None = None
    url: str | None = None
    prefer_small_media: bool | None = None
    prefer_large_media: bool | None = None
    show_above_text: bool | None = None


class ReplyParameters(TelegramObject, kw_only=True):
    """https://core.telegram.org/bots/api#replyparameters (replaces ``reply_to_message_id``)."""

    message_id: int
    chat_id: int | str | None = None
    allow_sending_without_reply: bool | None = None


class Message(TelegramObject, kw_only=True):
    """https://core.telegram.org/bots/api#message

    Also decodes an ``InaccessibleMessage`` (https://core.telegram.org/bots/api#inaccessiblemessage:
    ``chat``, ``message_id`` and ``date == 0``), the other half of ``MaybeInaccessibleMessage`` that
    callback queries on old messages carry; check :attr:`is_accessible`.
    """

    message_id: int
    date: int
    chat: Chat
    from_: User | None = msgspec.field(default=None, name="from")
    sender_chat: Chat | None = None
    message_thread_id: int | None = None
    edit_date: int | None = None
    media_group_id: str | None = None
    reply_to_message: Message | None = None
    text: str | None = None
    entities: list[MessageEntity] | None = None
    caption: str | None = None
    caption_entities: list[MessageEntity] | None = None
    animation: Animation | None = None
    audio: Audio | None = None
    document: Document | None = None
    photo: list[PhotoSize] | None = None
    sticker: Sticker | None = None
    video: Video | None = None
    voice: Voice | None = None
    invoice: Invoice | None = None
    successful_payment: SuccessfulPayment | None = None
    refunded_payment: RefundedPayment | None = None
    migrate_to_chat_id: int | None = None
    migrate_from_chat_id: int | None = None
    reply_markup: InlineKeyboardMarkup | None = None

    @property
    def is_accessible(self) -> bool:
        """False for an InaccessibleMessage (``date == 0``): only chat and message_id are known."""
        return self.date != 0

    @property
    def largest_photo(self) -> PhotoSize | None:
        """The biggest size of an attached photo (Telegram lists several, smallest first)."""
        if not self.photo:
            return None
        return max(self.photo, key=lambda size: (size.width * size.height, size.file_size or 0))


class InlineQuery(TelegramObject, kw_only=True):
    """https://core.telegram.org/bots/api#inlinequery (inline mode is off; decoded for routing only)."""

    id: str
    from_: User = msgspec.field(name="from")
    query: str = ""
    offset: str = ""


class ChosenInlineResult(TelegramObject, kw_only=True):
    """https://core.telegram.org/bots/api#choseninlineresult"""

    result_id: str
    from_: User = msgspec.field(name="from")
    query: str = ""


class CallbackQuery(TelegramObject, kw_only=True):
    """https://core.telegram.org/bots/api#callbackquery — answer it at once (the client shows a
    spinner until answerCallbackQuery; late answers fail with "query is too old").

    ``message`` may be inaccessible (``message.is_accessible`` is False) for messages older than
    48 hours; ``data`` is untrusted input — a client can send any 64 bytes.
    """

    id: str
    from_: User = msgspec.field(name="from")
    message: Message | None = None
    inline_message_id: str | None = None
    chat_instance: str = ""
    data: str | None = None
    game_short_name: str | None = None


class ChatMember(TelegramObject, kw_only=True):
    """https://core.telegram.org/bots/api#chatmember — a loose union of its six subtypes keyed by
    ``status``: creator, administrator, member, restricted, left, kicked."""

    status: str
    user: User
    until_date: int | None = None
    is_member: bool | None = None
    is_anonymous: bool | None = None
    custom_title: str | None = None


class ChatMemberUpdated(TelegramObject, kw_only=True):
    """https://core.telegram.org/bots/api#chatmemberupdated — in private chats a ``my_chat_member``
    update arrives only when the user blocks (``kicked``) or unblocks (``member``) the bot."""

    chat: Chat
    from_: User = msgspec.field(name="from")
    date: int
    old_chat_member: ChatMember
    new_chat_member: ChatMember
    via_join_request: bool | None = None

    @property
    def blocked_bot(self) -> bool:
        """The user blocked the bot (or it was removed from a group)."""
        return self.new_chat_member.status in ("kicked", "left") and self.old_chat_member.status not in (
            "kicked",
            "left",
        )

    @property
    def unblocked_bot(self) -> bool:
        """The user unblocked (restarted) the bot."""
        return self.old_chat_member.status in ("kicked", "left") and self.new_chat_member.status not in (
            "kicked",
            "left",
        )


# ---------------------------------------------------------------------------------------------
# Updates

MESSAGE_KINDS: Final = (
    "message",
    "edited_message",
    "channel_post",
    "edited_channel_post",
    "business_message",
    "edited_business_message",
    "guest_message",
)
"""Update kinds whose payload is a :class:`Message`."""

UPDATE_KINDS: Final = (
    *MESSAGE_KINDS,
    "business_connection",
    "deleted_business_messages",
    "message_reaction",
    "message_reaction_count",
    "inline_query",
    "chosen_inline_result",
    "callback_query",
    "shipping_query",
    "pre_checkout_query",
    "purchased_paid_media",
    "poll",
    "poll_answer",
    "my_chat_member",
    "chat_member",
    "chat_join_request",
    "chat_boost",
    "removed_chat_boost",
    "managed_bot",
)
"""Every optional field of Update in Bot API 10.1, message kinds first (a test keeps the set in sync
with the spec)."""


class Update(TelegramObject, kw_only=True):
    """https://core.telegram.org/bots/api#update — ``update_id`` plus at most one of ~27 payloads.

    An update of a kind newer than this module decodes fine, with :attr:`kind` ``"unknown"``.
    """

    update_id: int
    message: Message | None = None
    edited_message: Message | None = None
    channel_post: Message | None = None
    edited_channel_post: Message | None = None
    business_connection: UnparsedObject | None = None
    business_message: Message | None = None
    edited_business_message: Message | None = None
    deleted_business_messages: UnparsedObject | None = None
    guest_message: Message | None = None
    message_reaction: UnparsedObject | None = None
    message_reaction_count: UnparsedObject | None = None
    inline_query: InlineQuery | None = None
    chosen_inline_result: ChosenInlineResult | None = None
    callback_query: CallbackQuery | None = None
    shipping_query: ShippingQuery | None = None
    pre_checkout_query: PreCheckoutQuery | None = None
    purchased_paid_media: UnparsedObject | None = None
    poll: UnparsedObject | None = None
    poll_answer: UnparsedObject | None = None
    my_chat_member: ChatMemberUpdated | None = None
    chat_member: ChatMemberUpdated | None = None
    chat_join_request: UnparsedObject | None = None
    chat_boost: UnparsedObject | None = None
    removed_chat_boost: UnparsedObject | None = None
    managed_bot: UnparsedObject | None = None

    @property
    def kind(self) -> str:
        """The name of the payload field that is set, or ``"unknown"``."""
        for name in UPDATE_KINDS:
            if getattr(self, name) is not None:
                return name
        return "unknown"

    @property
    def any_message(self) -> Message | None:
        """The Message of a message-like update (message, edited_message, channel_post...)."""
        for name in MESSAGE_KINDS:
            value: Message | None = getattr(self, name)
            if value is not None:
                return value
        return None

    @property
    def user(self) -> User | None:
        """Who caused the update, when Telegram says so."""
        message = self.any_message
        if message is not None:
            return message.from_
        for payload in (
            self.callback_query,
            self.pre_checkout_query,
            self.my_chat_member,
            self.chat_member,
            self.inline_query,
            self.chosen_inline_result,
            self.shipping_query,
        ):
            if payload is not None:
                return payload.from_
        return None

    @property
    def chat_id(self) -> int | None:
        """The key that orders this update among others (DESIGN.md "updates of one chat in order").

        The chat id for messages and for callback queries on a message; the user id for
        pre-checkout queries, ``my_chat_member`` (in a private chat both are the same number) and
        the other user-scoped kinds; ``None`` when the kind is unknown or carries neither.
        """
        message = self.any_message
        if message is not None:
            return message.chat.id
        query = self.callback_query
        if query is not None:
            return query.message.chat.id if query.message is not None else query.from_.id
        user = self.user
        return user.id if user is not None else None


# ---------------------------------------------------------------------------------------------
# Bot settings and webhooks


class BotCommand(TelegramObject, kw_only=True):
    """https://core.telegram.org/bots/api#botcommand — command 1-32 chars of a-z0-9_, description
    1-256 chars."""

    command: str
    description: str


class BotCommandScope(TelegramObject, kw_only=True):
    """https://core.telegram.org/bots/api#botcommandscope — a loose union: ``type`` is default,
    all_private_chats, all_group_chats, all_chat_administrators, chat, chat_administrators or
    chat_member; ``chat_id``/``user_id`` where the type needs them (e.g. admin commands for one chat)."""

    type: str
    chat_id: int | str | None = None
    user_id: int | None = None


class WebhookInfo(TelegramObject, kw_only=True):
    """https://core.telegram.org/bots/api#webhookinfo — ``url`` is empty in polling mode."""

    url: str
    has_custom_certificate: bool = False
    pending_update_count: int = 0
    ip_address: str | None = None
    last_error_date: int | None = None
    last_error_message: str | None = None
    last_synchronization_error_date: int | None = None
    max_connections: int | None = None
    allowed_updates: list[str] | None = None


class ResponseParameters(TelegramObject, kw_only=True):
    """https://core.telegram.org/bots/api#responseparameters — why a request failed."""

    migrate_to_chat_id: int | None = None
    retry_after: int | None = None


# ---------------------------------------------------------------------------------------------
# Outgoing files


@dataclass(frozen=True, slots=True)
class InputFile:
    """Bytes to upload with multipart/form-data (https://core.telegram.org/bots/api#inputfile).

    Our own carrier, not a wire object: the client puts it in the multipart body and refers to it
    by name. Upload limits: 10 MB for photos, 50 MB for other files (``limits.py``). The content is
    ``data`` (bytes) or, for a large file, ``file`` — a seekable binary file object that httpx
    sends in 64 KiB pieces and rewinds for a retry, so it is never held whole in memory. The repr
    shows the size, not the bytes.
    """

    filename: str
    data: bytes = field(default=b"", repr=False)
    mime_type: str = "application/octet-stream"
    file: BinaryIO | None = field(default=None, repr=False)

    @property
    def content(self) -> bytes | BinaryIO:
        """What goes into the multipart body: the file when there is one, else the bytes."""
        return self.file if self.file is not None else self.data

    def __repr__(self) -> str:
        size = "stream" if self.file is not None else len(self.data)
        return f"InputFile(filename={self.filename!r}, size={size}, mime_type={self.mime_type!r})"


class InputMediaPhoto(TelegramObject, kw_only=True, tag_field="type", tag="photo"):
    """https://core.telegram.org/bots/api#inputmediaphoto — ``media`` is a file_id, an HTTP URL or an
    :class:`InputFile` (the client replaces it with ``attach://<name>``)."""

    media: str | InputFile
    caption: str | None = None
    parse_mode: str | None = None
    caption_entities: list[MessageEntity] | None = None
    has_spoiler: bool | None = None


class InputMediaVideo(TelegramObject, kw_only=True, tag_field="type", tag="video"):
    """https://core.telegram.org/bots/api#inputmediavideo"""

    media: str | InputFile
    thumbnail: str | InputFile | None = None
    caption: str | None = None
    parse_mode: str | None = None
    caption_entities: list[MessageEntity] | None = None
    width: int | None = None
    height: int | None = None
    duration: int | None = None
    supports_streaming: bool | None = None
    has_spoiler: bool | None = None


class InputMediaAudio(TelegramObject, kw_only=True, tag_field="type", tag="audio"):
    """https://core.telegram.org/bots/api#inputmediaaudio — audios group only with audios."""

    media: str | InputFile
    thumbnail: str | InputFile | None = None
    caption: str | None = None
    parse_mode: str | None = None
    caption_entities: list[MessageEntity] | None = None
    duration: int | None = None
    performer: str | None = None
    title: str | None = None


class InputMediaDocument(TelegramObject, kw_only=True, tag_field="type", tag="document"):
    """https://core.telegram.org/bots/api#inputmediadocument — documents group only with documents."""

    media: str | InputFile
    thumbnail: str | InputFile | None = None
    caption: str | None = None
    parse_mode: str | None = None
    caption_entities: list[MessageEntity] | None = None
    disable_content_type_detection: bool | None = None


InputMedia = InputMediaPhoto | InputMediaVideo | InputMediaAudio | InputMediaDocument

ChatAction = Literal[
    "typing",
    "upload_photo",
    "record_video",
    "upload_video",
    "record_voice",
    "upload_voice",
    "upload_document",
    "choose_sticker",
    "find_location",
    "record_video_note",
    "upload_video_note",
]
"""https://core.telegram.org/bots/api#sendchataction — shown for 5 s or until the bot's next message."""


# ---------------------------------------------------------------------------------------------
# Module-level decoders: built once, reused for every update (they are the hot path).

update_decoder: Final = msgspec.json.Decoder(Update)
updates_decoder: Final = msgspec.json.Decoder(list[Update])
json_encoder: Final = msgspec.json.Encoder()


def decode_update(data: bytes | str) -> Update:
    """Decode one webhook body. Raises ``msgspec.DecodeError`` (a ``ValueError``) on malformed or
    non-Update JSON, e.g. a body without ``update_id``."""
    return update_decoder.decode(data)


class _UpdateId(msgspec.Struct):
    update_id: int


_update_id_decoder: Final = msgspec.json.Decoder(_UpdateId)


def decode_update_lenient(data: bytes | str) -> Update:
    """Like :func:`decode_update`, but an update whose payload no longer matches these types (a field
    whose type Telegram changed) still yields ``Update(update_id=...)`` with ``kind == "unknown"``,
    so it can be stored and confirmed instead of blocking intake forever. Raises
    ``msgspec.DecodeError`` only for malformed JSON or a missing ``update_id``."""
    try:
        return update_decoder.decode(data)
    except msgspec.ValidationError:
        return Update(update_id=_update_id_decoder.decode(data).update_id)


def encode(obj: object) -> bytes:
    """JSON-encode any wire object (Structs omit unset fields)."""
    return json_encoder.encode(obj)
