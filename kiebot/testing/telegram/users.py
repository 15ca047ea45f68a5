"""What simulated users do: write, send files, tap buttons, pay, block the bot.

Each action changes the world and produces the update Telegram would send the bot
(https://core.telegram.org/bots/api#update): ``message`` (with a ``bot_command`` entity for
commands), ``edited_message``, ``callback_query``, ``pre_checkout_query`` then a
``successful_payment`` message, and ``my_chat_member`` (``kicked``/``member``) when the bot is
blocked or unblocked. Misuse by the test (an unknown user, a button that is not there) raises
:class:`SimError` instead of quietly inventing something Telegram would never send.
"""

from __future__ import annotations

import hashlib
import mimetypes
from typing import Any

import trio

from kiebot.testing.media import image_size
from kiebot.testing.telegram.html import detect_bot_commands
from kiebot.testing.telegram.model.stars import Invoice, Payment, PaymentResult, PreCheckout
from kiebot.testing.telegram.model.state import CallbackQueryRecord, State
from kiebot.testing.telegram.model.world import SimMessage, SimUser, now


class SimError(Exception):
    """A control-API call that cannot happen in Telegram (the ``/_sim`` API answers 400/404)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def add_user(
    state: State,
    user_id: int,
    first_name: str,
    *,
    username: str | None = None,
    language_code: str | None = "ru",
    last_name: str | None = None,
    started: bool = True,
) -> SimUser:
    if user_id <= 0:
        raise SimError("user ids are positive")
    if user_id == state.world.bot.id:
        raise SimError("that id is the bot's")
    user = state.world.add_user(
        SimUser(
            user_id,
            first_name,
            last_name=last_name,
            username=username,
            language_code=language_code,
            started=started,
        )
    )
    state.publish("user_added", user=user.to_api())
    return user


def add_group(state: State, chat_id: int, title: str) -> None:
    if chat_id >= 0:
        raise SimError("group chat ids are negative")
    state.world.add_group(chat_id, title)
    state.publish("group_added", chat_id=chat_id, title=title)


def user(state: State, user_id: int) -> SimUser:
    found = state.world.users.get(user_id)
    if found is None:
        raise SimError(f"no user {user_id}; add_user first", 404)
    return found


def _speaker(state: State, user_id: int, chat_id: int | None) -> tuple[SimUser, int]:
    who = user(state, user_id)
    if who.blocked:
        raise SimError(f"user {user_id} has blocked the bot; unblock_bot first")
    chat = chat_id if chat_id is not None else user_id
    if chat not in state.world.chats:
        raise SimError(f"no chat {chat}", 404)
    return who, chat


def _post(state: State, who: SimUser, chat_id: int, kind: str, **fields: Any) -> SimMessage:
    who.started = True
    message = state.world.new_message(chat_id, from_bot=False, sender_id=who.id, kind=kind, **fields)
    state.publish("message_received", chat_id=chat_id, message=state.serialize_message(message))
    state.emit("message", state.message_to_api(message))
    return message


def send_text(
    state: State, user_id: int, text: str, *, chat_id: int | None = None, reply_to: int | None = None
) -> SimMessage:
    if not text.strip():
        raise SimError("Telegram clients do not send empty messages")
    who, chat = _speaker(state, user_id, chat_id)
    return _post(
        state, who, chat, "text", text=text, entities=detect_bot_commands(text), reply_to_message_id=reply_to
    )


def send_file(
    state: State,
    user_id: int,
    kind: str,
    data: bytes,
    *,
    caption: str | None = None,
    file_name: str | None = None,
    mime_type: str | None = None,
    duration: int = 1,
    chat_id: int | None = None,
) -> SimMessage:
    """A photo, document, audio, voice note or video from the user; the bytes get a file_id the
    bot can download with getFile."""
    if kind not in ("photo", "document", "audio", "voice", "video"):
        raise SimError(f"unknown media kind {kind!r}")
    if not data:
        raise SimError("empty file")
    who, chat = _speaker(state, user_id, chat_id)
    attrs: dict[str, Any] = {}
    if kind == "photo":
        size = image_size(data)
        if size is None:
            raise SimError("a photo must be a PNG, JPEG, GIF or WebP image")
        attrs["width"], attrs["height"] = size
    else:
        if kind in ("audio", "voice", "video"):
            attrs["duration"] = duration
        if kind != "voice":
            attrs["file_name"] = file_name
        attrs["mime_type"] = mime_type or (mimetypes.guess_type(file_name)[0] if file_name else None)
        if kind == "voice" and attrs["mime_type"] is None:
            attrs["mime_type"] = "audio/ogg"
    file = state.world.files.add(kind, data, **attrs)
    return _post(state, who, chat, kind, file=file, caption=caption or None)


def edit_text(
    state: State, user_id: int, message_id: int, text: str, *, chat_id: int | None = None
) -> SimMessage:
    who, chat = _speaker(state, user_id, chat_id)
    message = state.world.message(chat, message_id)
    if (
        message is None
        or message.deleted
        or message.from_bot
        or message.sender_id != who.id
        or message.kind != "text"
    ):
        raise SimError(f"user {user_id} has no text message {message_id} in chat {chat}", 404)
    message.text = text
    message.entities = detect_bot_commands(text)
    message.edit_count += 1
    message.edit_date = now()
    state.publish("message_edited", chat_id=chat, message=state.serialize_message(message))
    state.emit("edited_message", state.message_to_api(message))
    return message


def tap(
    state: State,
    user_id: int,
    message_id: int,
    callback_data: str,
    *,
    force: bool = False,
    chat_id: int | None = None,
) -> str:
    """Press an inline button: returns the ``callback_query`` id. Data that is not on the
    message's keyboard is refused unless ``force`` (for tests of tampered callback data)."""
    who, chat = _speaker(state, user_id, chat_id)
    message = state.world.message(chat, message_id)
    if message is None or message.deleted:
        raise SimError(f"no message {message_id} in chat {chat}", 404)
    if not force and callback_data not in message.callback_data():
        raise SimError(
            f"callback_data {callback_data!r} is not on message {message_id}'s keyboard "
            f"(it has {message.callback_data()!r}); pass force=True to send it anyway"
        )
    query_id = state.new_callback_id()
    body = {
        "id": query_id,
        "from": who.to_api(),
        "message": state.message_to_api(message),
        "chat_instance": str(int(hashlib.sha256(f"{chat}".encode()).hexdigest()[:15], 16)),
        "data": callback_data,
    }
    record = CallbackQueryRecord(query_id, who.id, chat, message_id, callback_data, trio.current_time())
    state.callbacks[query_id] = record
    state.publish(
        "callback_query", chat_id=chat, message_id=message_id, callback_query_id=query_id, data=callback_data
    )
    record.update = state.emit("callback_query", body)
    return query_id


def set_blocked(state: State, user_id: int, blocked: bool) -> None:
    """The user blocks (or unblocks) the bot: a ``my_chat_member`` update, then 403s (or not)."""
    who = user(state, user_id)
    if who.blocked == blocked:
        return
    who.blocked = blocked
    bot = state.world.bot.to_api()
    member: dict[str, Any] = {"status": "member", "user": bot}
    kicked: dict[str, Any] = {"status": "kicked", "user": bot, "until_date": 0}
    old, new = (member, kicked) if blocked else (kicked, member)
    if not blocked:
        who.started = True
    body = {
        "chat": state.world.chat_to_api(user_id),
        "from": who.to_api(),
        "date": now(),
        "old_chat_member": old,
        "new_chat_member": new,
    }
    state.publish("bot_blocked" if blocked else "bot_unblocked", chat_id=user_id)
    state.emit("my_chat_member", body)


def invoice_message(state: State, user_id: int, message_id: int, chat_id: int | None = None) -> Invoice:
    chat = chat_id if chat_id is not None else user_id
    message = state.world.message(chat, message_id)
    invoice = state.stars.by_message.get((chat, message_id))
    if message is None or message.deleted or invoice is None:
        raise SimError(f"message {message_id} in chat {chat} is not an invoice", 404)
    return invoice


async def pay(state: State, user_id: int, invoice: Invoice) -> PaymentResult:
    """The user presses Pay: a ``pre_checkout_query``, then — if the bot answers ok within
    ``precheckout_timeout`` — a ``successful_payment`` message with a fresh charge id."""
    who = user(state, user_id)
    if who.blocked:
        raise SimError(f"user {user_id} has blocked the bot; unblock_bot first")
    if invoice.message_id is not None and any(
        p.invoice is invoice and p.user_id == user_id and p.status == "paid" for p in state.stars.payments
    ):
        raise SimError("this invoice is already paid")
    query = PreCheckout(
        state.stars.new_query_id(), user_id, invoice, trio.current_time() + state.config.precheckout_timeout
    )
    state.stars.precheckouts[query.id] = query
    body = {
        "id": query.id,
        "from": who.to_api(),
        "currency": invoice.currency,
        "total_amount": invoice.amount,
        "invoice_payload": invoice.payload,
    }
    state.publish(
        "pre_checkout_query", user_id=user_id, pre_checkout_query_id=query.id, amount=invoice.amount
    )
    state.emit("pre_checkout_query", body)
    with trio.move_on_at(query.deadline):
        await query.answered.wait()
    if not query.answered.is_set():
        query.expired = True
        result = PaymentResult("timeout", query.id, user_id, invoice.amount, invoice.payload)
    elif not query.ok:
        result = PaymentResult(
            "declined", query.id, user_id, invoice.amount, invoice.payload, error_message=query.error_message
        )
    else:
        result = _charge(state, who, invoice, query.id)
    state.stars.attempts.append(result)
    state.publish("payment", result=result.to_json())
    return result


def _charge(state: State, who: SimUser, invoice: Invoice, query_id: str) -> PaymentResult:
    charge_id = state.stars.new_charge_id()
    chat = invoice.chat_id if invoice.chat_id is not None else who.id
    paid = {
        "currency": invoice.currency,
        "total_amount": invoice.amount,
        "invoice_payload": invoice.payload,
        "telegram_payment_charge_id": charge_id,
        "provider_payment_charge_id": "",
    }
    if invoice.subscription_period:
        paid |= {
            "subscription_expiration_date": now() + invoice.subscription_period,
            "is_recurring": True,
            "is_first_recurring": True,
        }
    message = state.world.new_message(
        chat, from_bot=False, sender_id=who.id, kind="successful_payment", payment=paid
    )
    state.publish("message_received", chat_id=chat, message=state.serialize_message(message))
    update = state.emit("message", state.message_to_api(message))
    payment = Payment(
        charge_id,
        who.id,
        invoice.amount,
        invoice.currency,
        invoice.payload,
        message.date,
        invoice,
        message,
        update,
    )
    state.stars.record(payment, who.to_api())
    return PaymentResult(
        "paid",
        query_id,
        who.id,
        invoice.amount,
        invoice.payload,
        telegram_payment_charge_id=charge_id,
        message=message,
    )


def redeliver(state: State, update_id: int, *, same_id: bool = False) -> dict[str, Any]:
    """Deliver an update again: a duplicate, as after a lost webhook answer (``same_id=True``,
    meaningful in webhook mode) or a re-sent event under a new ``update_id`` (the default)."""
    update = state.updates.find(update_id)
    if update is None:
        raise SimError(f"no update {update_id}", 404)
    copy = state.updates.requeue(update, same_id=same_id)
    state.publish("update", update_type="redelivery", update_id=copy["update_id"], queued=True)
    return copy


def redeliver_payment(
    state: State, telegram_payment_charge_id: str, *, same_id: bool = False
) -> dict[str, Any]:
    payment = state.stars.by_charge.get(telegram_payment_charge_id)
    if payment is None or payment.update is None:
        raise SimError(f"no delivered payment {telegram_payment_charge_id}", 404)
    return redeliver(state, payment.update["update_id"], same_id=same_id)
