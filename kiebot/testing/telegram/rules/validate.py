"""Telegram's checks on what a bot sends: text and caption limits, parse modes, keyboards, chats.

Limits (https://core.telegram.org/bots/api): message text 1–4096 characters and captions 0–1024
*after entity parsing*; ``callback_data`` 1–64 bytes; an inline button has exactly one action
field; at most 100 buttons and 8 per row (undocumented, python-telegram-bot's
``InlineKeyboardMarkupLimit``; the server says "reply markup is too long"). A private chat refuses
messages once the user blocked the bot (403) or before the user ever opened it (403).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from kiebot.testing.telegram.html import HtmlParseError, parse_html, utf16_len
from kiebot.testing.telegram.model.world import SimChat, World
from kiebot.testing.telegram.rules import errors as E
from kiebot.testing.telegram.rules.errors import api_error, bad_request

TEXT_LIMIT = 4096
CAPTION_LIMIT = 1024
CALLBACK_DATA_LIMIT = 64
MAX_BUTTONS = 100
MAX_BUTTONS_PER_ROW = 8
ACTION_FIELDS = (
    "url",
    "callback_data",
    "web_app",
    "login_url",
    "switch_inline_query",
    "switch_inline_query_current_chat",
    "switch_inline_query_chosen_chat",
    "copy_text",
    "callback_game",
    "pay",
)


def formatted(
    raw: str | None, parse_mode: str | None, entities: Any, *, caption: bool
) -> tuple[str, list[dict[str, Any]]]:
    """Text or caption as Telegram stores it, with its entities; raises Telegram's errors."""
    limit = CAPTION_LIMIT if caption else TEXT_LIMIT
    if raw is None or raw == "":
        if caption:
            return "", []
        raise bad_request(E.TEXT_EMPTY)
    mode = (parse_mode or "").strip().lower()
    if mode == "html":
        try:
            text, found = parse_html(raw)
        except HtmlParseError as exc:
            raise bad_request(f"can't parse entities: {exc}") from None
    elif mode in ("markdown", "markdownv2"):
        raise bad_request(f"the fake Telegram server does not parse {parse_mode}; use HTML")
    elif mode in ("", "none"):
        text, found = raw, explicit_entities(raw, entities)
    else:
        raise bad_request("unsupported parse_mode")
    if not caption and not text.strip():
        raise bad_request(E.TEXT_EMPTY)
    if len(text) > limit:
        raise bad_request(E.CAPTION_TOO_LONG if caption else E.TEXT_TOO_LONG)
    return text, found


def explicit_entities(text: str, entities: Any) -> list[dict[str, Any]]:
    """``entities`` / ``caption_entities`` given as a list of MessageEntity."""
    if entities is None:
        return []
    if not isinstance(entities, list):
        raise bad_request("can't parse entities JSON object")
    size = utf16_len(text)
    out = []
    for entity in entities:
        if (
            not isinstance(entity, dict)
            or not isinstance(entity.get("type"), str)
            or not isinstance(entity.get("offset"), int)
            or not isinstance(entity.get("length"), int)
        ):
            raise bad_request('can\'t parse MessageEntity: Field "type", "offset" and "length" are required')
        if entity["offset"] < 0 or entity["length"] <= 0 or entity["offset"] + entity["length"] > size:
            continue  # Telegram silently drops entities outside the text
        out.append(dict(entity))
    return out


def reply_markup(value: Any, *, inline_only: bool = False, allow_pay: bool = False) -> dict[str, Any] | None:
    """A validated ``reply_markup`` object, or None when absent."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise bad_request("object expected as reply markup")
    if "inline_keyboard" in value:
        inline_keyboard(value["inline_keyboard"], allow_pay=allow_pay)
        return value
    if inline_only:
        raise bad_request("inline keyboard expected")
    if "keyboard" in value:
        rows = value["keyboard"]
        if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
            raise bad_request('field "keyboard" of the ReplyKeyboardMarkup must be an Array of Arrays')
        return value
    if value.get("remove_keyboard") is True or value.get("force_reply") is True:
        return value
    raise bad_request("can't parse reply keyboard markup JSON object")


def inline_keyboard(rows: Any, *, allow_pay: bool) -> None:
    if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
        raise bad_request('field "inline_keyboard" of the InlineKeyboardMarkup must be an Array of Arrays')
    if sum(len(r) for r in rows) > MAX_BUTTONS or any(len(r) > MAX_BUTTONS_PER_ROW for r in rows):
        raise bad_request(E.MARKUP_TOO_LONG)
    for y, row in enumerate(rows):
        for x, button in enumerate(row):
            _button(button, first=(x, y) == (0, 0), allow_pay=allow_pay)


def _button(button: Any, *, first: bool, allow_pay: bool) -> None:
    if not isinstance(button, dict):
        raise bad_request("can't parse inline keyboard button: InlineKeyboardButton must be an Object")
    if not isinstance(button.get("text"), str):
        raise bad_request('can\'t parse inline keyboard button: Field "text" must be of type String')
    actions = [name for name in ACTION_FIELDS if name in button]
    if not actions:
        raise bad_request(E.TEXT_BUTTONS_UNALLOWED)
    if len(actions) > 1:
        raise bad_request(E.BUTTON_TYPE_INVALID)
    action = actions[0]
    if action == "callback_data":
        data = button["callback_data"]
        if not isinstance(data, str) or not 1 <= len(data.encode("utf-8")) <= CALLBACK_DATA_LIMIT:
            raise bad_request(E.BUTTON_DATA_INVALID)
    elif action == "url":
        if not _valid_button_url(button["url"]):
            raise bad_request(E.BUTTON_URL_INVALID)
    elif action == "pay" and not (allow_pay and first):
        raise bad_request(E.BUTTON_TYPE_INVALID)


def _valid_button_url(url: Any) -> bool:
    if not isinstance(url, str) or not url:
        return False
    parts = urlsplit(url)
    if parts.scheme == "tg":
        return True
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def writable_chat(world: World, chat_id: int | str) -> SimChat:
    """The chat a bot may send to, or Telegram's reason why not."""
    if isinstance(chat_id, str):
        raise bad_request(E.CHAT_NOT_FOUND)
    chat = world.chats.get(chat_id)
    if chat is None:
        raise bad_request(E.CHAT_NOT_FOUND)
    if chat.type == "private":
        user = world.users[chat_id]
        if user.blocked:
            raise api_error(403, E.BOT_BLOCKED)
        if not user.started:
            raise api_error(403, E.CANT_INITIATE)
    return chat


def known_chat(world: World, chat_id: int | str) -> SimChat:
    """A chat the bot knows (for edits and deletes, which blocking does not stop)."""
    chat = world.chats.get(chat_id) if isinstance(chat_id, int) else None
    if chat is None:
        raise bad_request(E.CHAT_NOT_FOUND)
    return chat
