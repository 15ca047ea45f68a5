"""The fake's world model: the bot, users, chats, every message both ways, and files.

Plain data, no I/O. Messages are kept with the facts a test asks about — text as Telegram shows it
(after HTML parsing) and as the bot sent it, entities, keyboard, media and its bytes, how many
times it was edited, whether it was deleted — and are rendered into Bot API ``Message`` objects
(https://core.telegram.org/bots/api#message) by :meth:`World.message_to_api`.

Message ids are per chat and only increase, as in Telegram's private chats and supergroups.
"""

from __future__ import annotations

import itertools
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

#: Prefixes real file_ids of each kind start with (opaque to bots; only for realism in logs).
_FILE_ID_PREFIX = {"photo": "AgAC", "video": "BAAC", "audio": "CQAC", "voice": "AwAC", "document": "BQAC"}
_FOLDER = {"photo": "photos", "video": "videos", "audio": "music", "voice": "voice", "document": "documents"}
_EXTENSION = {"photo": "jpg", "video": "mp4", "audio": "mp3", "voice": "oga", "document": "bin"}


def now() -> int:
    return int(time.time())


@dataclass(eq=False)
class SimUser:
    id: int
    first_name: str
    last_name: str | None = None
    username: str | None = None
    language_code: str | None = None
    is_bot: bool = False
    #: The user blocked the bot (sends fail with 403).
    blocked: bool = False
    #: The user has opened the chat with the bot (before that, sends fail with 403).
    started: bool = True

    def to_api(self) -> dict[str, Any]:
        user: dict[str, Any] = {"id": self.id, "is_bot": self.is_bot, "first_name": self.first_name}
        if self.last_name:
            user["last_name"] = self.last_name
        if self.username:
            user["username"] = self.username
        if self.language_code and not self.is_bot:
            user["language_code"] = self.language_code
        return user


@dataclass(eq=False)
class SimFile:
    """Bytes Telegram holds, under a ``file_id`` the bot can re-send and download."""

    file_id: str
    file_unique_id: str
    kind: str
    data: bytes
    file_name: str | None = None
    mime_type: str | None = None
    width: int = 0
    height: int = 0
    duration: int = 0
    title: str | None = None
    performer: str | None = None
    file_path: str | None = None

    @property
    def size(self) -> int:
        return len(self.data)

    def to_api(self) -> Any:
        """The Bot API object for this file: ``PhotoSize[]``, ``Video``, ``Audio``, ``Voice``, ``Document``."""
        base: dict[str, Any] = {"file_id": self.file_id, "file_unique_id": self.file_unique_id}
        if self.kind == "photo":
            return [base | {"width": self.width, "height": self.height, "file_size": self.size}]
        if self.kind == "video":
            base |= {"width": self.width, "height": self.height, "duration": self.duration}
        elif self.kind in ("audio", "voice"):
            base["duration"] = self.duration
        if self.kind == "audio":
            if self.performer:
                base["performer"] = self.performer
            if self.title:
                base["title"] = self.title
        if self.file_name and self.kind != "voice":
            base["file_name"] = self.file_name
        if self.mime_type:
            base["mime_type"] = self.mime_type
        base["file_size"] = self.size
        return base


@dataclass(eq=False)
class SimMessage:
    """One message in a chat, from the bot or from a user, as it is now."""

    chat_id: int
    message_id: int
    date: int
    from_bot: bool
    sender_id: int
    #: text, photo, video, audio, voice, document, invoice, successful_payment, refunded_payment
    kind: str
    text: str | None = None
    entities: list[dict[str, Any]] = field(default_factory=list)
    caption: str | None = None
    caption_entities: list[dict[str, Any]] = field(default_factory=list)
    parse_mode: str | None = None
    #: The text or caption exactly as the bot sent it (HTML before parsing).
    source: str | None = None
    reply_markup: dict[str, Any] | None = None
    file: SimFile | None = None
    media_group_id: str | None = None
    invoice: dict[str, Any] | None = None
    payment: dict[str, Any] | None = None
    reply_to_message_id: int | None = None
    edit_count: int = 0
    edit_date: int | None = None
    deleted: bool = False

    @property
    def content(self) -> str:
        """The text, or the caption, or ``""``: what a reader sees."""
        return self.text if self.text is not None else (self.caption or "")

    @property
    def buttons(self) -> list[list[dict[str, Any]]]:
        """The inline keyboard rows (empty without one)."""
        if not self.reply_markup:
            return []
        rows = self.reply_markup.get("inline_keyboard")
        return rows if isinstance(rows, list) else []

    def callback_data(self) -> list[str]:
        """Every ``callback_data`` on the inline keyboard, row by row."""
        return [
            b["callback_data"]
            for row in self.buttons
            for b in row
            if isinstance(b, dict) and "callback_data" in b
        ]

    def button(self, text_contains: str) -> dict[str, Any]:
        """The first inline button whose text contains ``text_contains`` (KeyError if none)."""
        for row in self.buttons:
            for b in row:
                if isinstance(b, dict) and text_contains in str(b.get("text", "")):
                    return b
        raise KeyError(f"no button containing {text_contains!r} on message {self.message_id}")


@dataclass(eq=False)
class SimChat:
    id: int
    type: str
    title: str | None = None
    messages: dict[int, SimMessage] = field(default_factory=dict)
    next_message_id: int = 1


class FileStore:
    """Files by ``file_id`` and by the ``file_path`` getFile handed out."""

    def __init__(self) -> None:
        self.by_id: dict[str, SimFile] = {}
        self.by_path: dict[str, SimFile] = {}
        self._paths = itertools.count(1)

    def add(self, kind: str, data: bytes, **attrs: Any) -> SimFile:
        file = SimFile(
            file_id=_FILE_ID_PREFIX.get(kind, "BQAC") + "gIAAxkBAA" + secrets.token_urlsafe(24),
            file_unique_id="AQAD" + secrets.token_urlsafe(9),
            kind=kind,
            data=data,
            **attrs,
        )
        self.by_id[file.file_id] = file
        return file

    def get(self, file_id: str) -> SimFile | None:
        return self.by_id.get(file_id)

    def path_for(self, file: SimFile) -> str:
        if file.file_path is None:
            extension = _EXTENSION.get(file.kind, "bin")
            if file.file_name and "." in file.file_name:
                extension = file.file_name.rsplit(".", 1)[1]
            file.file_path = f"{_FOLDER.get(file.kind, 'documents')}/file_{next(self._paths)}.{extension}"
            self.by_path[file.file_path] = file
        return file.file_path


class World:
    def __init__(self, bot: SimUser) -> None:
        self.bot = bot
        self.users: dict[int, SimUser] = {}
        self.chats: dict[int, SimChat] = {}
        self.files = FileStore()

    def add_user(self, user: SimUser) -> SimUser:
        self.users[user.id] = user
        self.chats.setdefault(user.id, SimChat(user.id, "private"))
        return user

    def add_group(self, chat_id: int, title: str, kind: str = "supergroup") -> SimChat:
        chat = self.chats.setdefault(chat_id, SimChat(chat_id, kind, title=title))
        return chat

    def message(self, chat_id: int, message_id: int) -> SimMessage | None:
        chat = self.chats.get(chat_id)
        return chat.messages.get(message_id) if chat else None

    def new_message(
        self, chat_id: int, *, from_bot: bool, sender_id: int, kind: str, **fields: Any
    ) -> SimMessage:
        chat = self.chats[chat_id]
        message = SimMessage(
            chat_id=chat_id,
            message_id=chat.next_message_id,
            date=now(),
            from_bot=from_bot,
            sender_id=sender_id,
            kind=kind,
            **fields,
        )
        chat.next_message_id += 1
        chat.messages[message.message_id] = message
        return message

    def new_bot_message(self, chat_id: int, *, kind: str, **fields: Any) -> SimMessage:
        """A message the bot sent (every ``send*`` method makes one)."""
        return self.new_message(chat_id, from_bot=True, sender_id=self.bot.id, kind=kind, **fields)

    def chat_to_api(self, chat_id: int) -> dict[str, Any]:
        chat = self.chats[chat_id]
        if chat.type == "private":
            user = self.users[chat_id]
            out: dict[str, Any] = {"id": chat_id, "type": "private", "first_name": user.first_name}
            if user.last_name:
                out["last_name"] = user.last_name
            if user.username:
                out["username"] = user.username
            return out
        return {"id": chat_id, "type": chat.type, "title": chat.title or ""}

    def sender_to_api(self, message: SimMessage) -> dict[str, Any]:
        if message.from_bot:
            return self.bot.to_api()
        return self.users[message.sender_id].to_api()

    def message_to_api(self, message: SimMessage, *, with_reply: bool = True) -> dict[str, Any]:
        """The Bot API ``Message`` object (only the fields that are set, as Telegram sends them)."""
        out: dict[str, Any] = {
            "message_id": message.message_id,
            "from": self.sender_to_api(message),
            "chat": self.chat_to_api(message.chat_id),
            "date": message.date,
        }
        if message.edit_date is not None:
            out["edit_date"] = message.edit_date
        if message.media_group_id:
            out["media_group_id"] = message.media_group_id
        if with_reply and message.reply_to_message_id is not None:
            replied = self.message(message.chat_id, message.reply_to_message_id)
            if replied is not None and not replied.deleted:
                out["reply_to_message"] = self.message_to_api(replied, with_reply=False)
        if message.text is not None:
            out["text"] = message.text
            if message.entities:
                out["entities"] = message.entities
        if message.file is not None:
            out[message.file.kind] = message.file.to_api()
        if message.caption:
            out["caption"] = message.caption
            if message.caption_entities:
                out["caption_entities"] = message.caption_entities
        if message.invoice is not None:
            out["invoice"] = message.invoice
        if message.payment is not None:
            out[message.kind] = message.payment
        if message.reply_markup and "inline_keyboard" in message.reply_markup:
            out["reply_markup"] = {"inline_keyboard": message.reply_markup["inline_keyboard"]}
        return out
