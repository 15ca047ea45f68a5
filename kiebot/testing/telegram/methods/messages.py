"""Bot API methods on text messages and taps: sendMessage, editMessageText,
editMessageReplyMarkup, editMessageCaption, deleteMessage, answerCallbackQuery, sendChatAction.

Telegram's rules kept here (https://core.telegram.org/bots/api#updating-messages): an edit that
changes neither content nor keyboard fails with "message is not modified"; omitting
``reply_markup`` in an edit removes the keyboard; a bot edits only its own messages; a message can
be deleted only within 48 hours; a callback query is answered once, and only within the deadline
("query is too old and response timeout expired or query ID is invalid").
"""

from __future__ import annotations

from typing import Any, NamedTuple

import trio

from kiebot.testing.telegram.model.state import CallbackAnswer, State
from kiebot.testing.telegram.model.world import SimChat, SimMessage, now
from kiebot.testing.telegram.rules import errors as E
from kiebot.testing.telegram.rules.errors import api_error, bad_request
from kiebot.testing.telegram.rules.params import Params
from kiebot.testing.telegram.rules.validate import formatted, known_chat, reply_markup, writable_chat

DELETE_WINDOW = 48 * 3600
CHAT_ACTIONS = frozenset(
    {
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
    }
)


def reply_target(state: State, chat: SimChat, params: Params) -> int | None:
    """``reply_parameters.message_id`` (or the legacy ``reply_to_message_id``), checked."""
    reply = params.json("reply_parameters")
    allow_missing = params.flag("allow_sending_without_reply")
    message_id: int | None
    if isinstance(reply, dict):
        message_id = reply.get("message_id") if isinstance(reply.get("message_id"), int) else None
        allow_missing = bool(reply.get("allow_sending_without_reply", allow_missing))
    elif reply is not None:
        raise bad_request("can't parse reply parameters JSON object")
    else:
        message_id = params.integer("reply_to_message_id")
    if not message_id or message_id <= 0:
        return None
    replied = chat.messages.get(message_id)
    if replied is None or replied.deleted:
        if allow_missing:
            return None
        raise bad_request("reply message not found")
    return message_id


def sent(state: State, message: SimMessage) -> dict[str, Any]:
    state.publish("message_sent", chat_id=message.chat_id, message=state.serialize_message(message))
    return state.message_to_api(message)


class Formatted(NamedTuple):
    """A method's ``text`` or ``caption`` argument: as the bot sent it (``raw``, kept as the
    message's source) and as Telegram stores it (``text`` and ``entities``)."""

    raw: str | None
    parse_mode: str | None
    text: str
    entities: list[dict[str, Any]]


def formatted_param(params: Params, *, caption: bool) -> Formatted:
    """``caption`` (with ``caption_entities``) or ``text`` (with ``entities``), parsed and checked
    by :func:`formatted`; raises Telegram's errors."""
    field, entities_field = ("caption", "caption_entities") if caption else ("text", "entities")
    raw = params.text(field)
    parse_mode = params.text("parse_mode")
    text, entities = formatted(raw, parse_mode, params.json(entities_field), caption=caption)
    return Formatted(raw, parse_mode, text, entities)


async def send_message(state: State, params: Params) -> dict[str, Any]:
    chat_id = params.chat_id()
    raw, parse_mode, text, entities = formatted_param(params, caption=False)
    markup = reply_markup(params.json("reply_markup", "reply keyboard markup"))
    chat = writable_chat(state.world, chat_id)
    message = state.world.new_bot_message(
        chat.id,
        kind="text",
        text=text,
        entities=entities,
        parse_mode=parse_mode,
        source=raw,
        reply_markup=markup,
        reply_to_message_id=reply_target(state, chat, params),
    )
    return sent(state, message)


def editable(state: State, params: Params) -> SimMessage:
    """The bot message an edit targets, or Telegram's reason why it cannot be edited."""
    if params.has("inline_message_id"):
        raise bad_request("the fake Telegram server has no inline messages; edit by chat_id and message_id")
    if not params.has("chat_id") or not params.has("message_id"):
        raise bad_request(E.MESSAGE_ID_MISSING)
    chat = known_chat(state.world, params.chat_id())
    message = chat.messages.get(params.integer("message_id") or 0)
    if message is None or message.deleted:
        raise bad_request(E.EDIT_NOT_FOUND)
    if not message.from_bot:
        raise bad_request(E.CANT_BE_EDITED)
    return message


def _keyboard(markup: dict[str, Any] | None) -> list[Any] | None:
    """An inline keyboard normalised for comparison: none and an empty one are the same."""
    rows = (markup or {}).get("inline_keyboard") or None
    return rows if isinstance(rows, list) else None


def edited(state: State, message: SimMessage, markup: dict[str, Any] | None) -> dict[str, Any]:
    message.reply_markup = markup if _keyboard(markup) else None
    message.edit_count += 1
    message.edit_date = now()
    state.publish("message_edited", chat_id=message.chat_id, message=state.serialize_message(message))
    return state.message_to_api(message)


async def edit_message_text(state: State, params: Params) -> dict[str, Any]:
    message = editable(state, params)
    raw, parse_mode, text, entities = formatted_param(params, caption=False)
    markup = reply_markup(params.json("reply_markup", "reply keyboard markup"), inline_only=True)
    if message.kind != "text":
        raise bad_request(E.NO_TEXT_TO_EDIT)
    if (text, entities, _keyboard(markup)) == (
        message.text,
        message.entities,
        _keyboard(message.reply_markup),
    ):
        raise bad_request(E.NOT_MODIFIED)
    message.text, message.entities, message.parse_mode, message.source = text, entities, parse_mode, raw
    return edited(state, message, markup)


async def edit_message_caption(state: State, params: Params) -> dict[str, Any]:
    message = editable(state, params)
    raw, parse_mode, caption, entities = formatted_param(params, caption=True)
    markup = reply_markup(params.json("reply_markup", "reply keyboard markup"), inline_only=True)
    if message.file is None:
        raise bad_request(E.NO_CAPTION_TO_EDIT)
    current = (message.caption or "", message.caption_entities, _keyboard(message.reply_markup))
    if (caption, entities, _keyboard(markup)) == current:
        raise bad_request(E.NOT_MODIFIED)
    message.caption, message.caption_entities = caption or None, entities
    message.parse_mode, message.source = parse_mode, raw
    return edited(state, message, markup)


async def edit_message_reply_markup(state: State, params: Params) -> dict[str, Any]:
    message = editable(state, params)
    markup = reply_markup(params.json("reply_markup", "reply keyboard markup"), inline_only=True)
    if _keyboard(markup) == _keyboard(message.reply_markup):
        raise bad_request(E.NOT_MODIFIED)
    return edited(state, message, markup)


async def delete_message(state: State, params: Params) -> bool:
    chat = known_chat(state.world, params.chat_id())
    message = chat.messages.get(params.integer("message_id", required=True) or 0)
    if message is None or message.deleted:
        raise bad_request(E.DELETE_NOT_FOUND)
    if now() - message.date > DELETE_WINDOW:
        raise bad_request(E.CANT_BE_DELETED)
    message.deleted = True
    state.publish("message_deleted", chat_id=chat.id, message_id=message.message_id)
    return True


async def answer_callback_query(state: State, params: Params) -> bool:
    query_id = params.text("callback_query_id", required=True) or ""
    record = state.callbacks.get(query_id)
    age = trio.current_time() - record.created_at if record else 0.0
    if record is None or record.answer is not None or age > state.config.callback_timeout:
        raise bad_request(E.QUERY_TOO_OLD)
    text = params.text("text")
    if text is not None and len(text) > 200:
        raise bad_request("MESSAGE_TOO_LONG")
    answer = CallbackAnswer(
        callback_query_id=query_id,
        user_id=record.user_id,
        chat_id=record.chat_id,
        message_id=record.message_id,
        data=record.data,
        text=text or None,
        show_alert=params.flag("show_alert"),
        url=params.text("url") or None,
        cache_time=params.integer("cache_time") or 0,
        latency=age,
    )
    record.answer = answer
    state.callback_answers.append(answer)
    state.publish("callback_answered", chat_id=record.chat_id, answer=answer.to_json())
    return True


async def send_chat_action(state: State, params: Params) -> bool:
    chat = writable_chat(state.world, params.chat_id())
    action = params.text("action", required=True)
    if action not in CHAT_ACTIONS:
        raise api_error(400, E.WRONG_ACTION)
    state.chat_actions.append({"chat_id": chat.id, "action": action, "at": trio.current_time()})
    state.publish("chat_action", chat_id=chat.id, action=action)
    return True


HANDLERS = {
    "sendMessage": send_message,
    "editMessageText": edit_message_text,
    "editMessageCaption": edit_message_caption,
    "editMessageReplyMarkup": edit_message_reply_markup,
    "deleteMessage": delete_message,
    "answerCallbackQuery": answer_callback_query,
    "sendChatAction": send_chat_action,
}
