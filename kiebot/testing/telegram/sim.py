"""``/_sim/...``: the fake's control API over HTTP (JSON in and out), for the browser sandbox and
for tests in another process — the same actions as the Python API of ``FakeTelegram``.

Modelled on tgfake's ``/sim/`` API: users act (write, send files, tap, pay, block), the transcript
and the records (callback answers, payments, updates, requests) are read, faults are scheduled,
the world is reset, any message's file is downloadable for the page (``/_sim/file/<file_id>``,
without the bot token), and ``/_sim/events`` streams every change as server-sent events. Errors are
``{"ok": false, "error": "..."}`` with 400 or 404. Responses allow any origin, so a page served
elsewhere can call it.

=======================================  =====================================================
``GET  /_sim/state``                     bot, users, chat ids, webhook URL, pending updates
``GET|POST /_sim/users``                 list / add (user_id, first_name, username, language_code, last_name, started)
``POST /_sim/users/<id>/messages``       write text (text, chat_id, reply_to)
``POST /_sim/users/<id>/<kind>``         photo, document, audio, voice, video: multipart ``file`` or
                                         JSON ``data_base64`` (+ caption, file_name, mime_type, duration)
``POST /_sim/users/<id>/tap``            press a button (message_id, callback_data, force)
``POST /_sim/users/<id>/pay``            pay an invoice (message_id or link); waits for the bot
``POST /_sim/users/<id>/block|unblock``  block or unblock the bot
``GET  /_sim/users/<id>/commands``       the command menu this user sees
``GET  /_sim/chats/<id>/transcript``     every message, as ``serialize_message``
``GET  /_sim/callback_answers``          the bot's answers to taps
``GET  /_sim/payments``                  charges and payment attempts
``GET  /_sim/updates``                   created, delivered and pending updates
``POST /_sim/updates/<id>/redeliver``    duplicate delivery (same_id)
``GET  /_sim/requests``                  every Bot API call received
``GET|POST|DELETE /_sim/faults``         list / add (as ``FakeTelegram.inject``) / clear faults
``POST /_sim/reset``                     forget users, chats, updates, payments, faults
``GET  /_sim/file/<file_id>``            a message's file bytes (no token involved)
``GET  /_sim/events``                    server-sent events (``event: <type>``, ``data: <json>``)
=======================================  =====================================================
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import AsyncIterator
from typing import Any

import msgspec
import trio
from quart import Response, request
from quart_trio import QuartTrio

from kiebot.testing.telegram import users
from kiebot.testing.telegram.methods.core import commands_for
from kiebot.testing.telegram.model.state import State
from kiebot.testing.telegram.rules.faults import Fault
from kiebot.testing.telegram.users import SimError

_encode = msgspec.json.encode
KEEPALIVE_SECONDS = 15.0
_MEDIA_KINDS = ("photo", "document", "audio", "voice", "video")


def _json(body: Any, status: int = 200) -> Response:
    return Response(_encode(body), status=status, content_type="application/json")


async def _input() -> dict[str, Any]:
    """The request's fields, from a JSON object or a form."""
    if request.mimetype in ("multipart/form-data", "application/x-www-form-urlencoded"):
        return dict((await request.form).to_dict())
    data = await request.get_data()
    if not data.strip():
        return {}
    try:
        value = msgspec.json.decode(data)
    except msgspec.DecodeError:
        raise SimError("body is not JSON") from None
    if not isinstance(value, dict):
        raise SimError("body must be a JSON object")
    return value


def _field(body: dict[str, Any], name: str, kind: type, default: Any = ...) -> Any:
    value = body.get(name, default)
    if value is ...:
        raise SimError(f'"{name}" is required')
    if value is None or isinstance(value, kind):
        return value
    if kind is int and isinstance(value, str) and value.lstrip("-").isdigit():
        return int(value)
    if kind is float and isinstance(value, int | str):
        try:
            return float(value)
        except ValueError:
            pass
    if kind is bool and isinstance(value, str):
        return value.lower() in ("1", "true", "yes", "on")
    raise SimError(f'"{name}" must be {kind.__name__}')


async def _upload(body: dict[str, Any]) -> tuple[bytes, str | None, str | None]:
    """File bytes from a multipart ``file`` part or from ``data_base64`` in JSON."""
    files = await request.files
    if "file" in files:
        storage = files["file"]
        return storage.read(), storage.filename or None, storage.mimetype or None
    encoded = body.get("data_base64")
    if not isinstance(encoded, str):
        raise SimError('send the file as a multipart "file" part or as "data_base64"')
    try:
        return base64.b64decode(encoded, validate=True), None, None
    except binascii.Error:
        raise SimError('"data_base64" is not base64') from None


def register(app: QuartTrio, state: State) -> None:
    @app.errorhandler(SimError)
    async def sim_error(exc: SimError) -> Response:
        return _json({"ok": False, "error": str(exc)}, exc.status)

    @app.after_request
    async def allow_any_origin(response: Response) -> Response:
        if request.path.startswith("/_sim"):
            response.headers["Access-Control-Allow-Origin"] = "*"
            response.headers["Access-Control-Allow-Headers"] = "Content-Type"
            response.headers["Access-Control-Allow-Methods"] = "GET, POST, DELETE, OPTIONS"
        return response

    @app.route("/_sim/state")
    async def sim_state() -> Response:
        return _json(
            {
                "bot": state.world.bot.to_api(),
                "users": [u.to_api() | {"blocked": u.blocked} for u in state.world.users.values()],
                "chats": sorted(state.world.chats),
                "webhook_url": state.webhook.url if state.webhook else None,
                "pending_update_count": len(state.updates.pending),
            }
        )

    @app.route("/_sim/users", methods=["GET", "POST"])
    async def sim_users() -> Response:
        if request.method == "GET":
            return _json({"users": [u.to_api() | {"blocked": u.blocked} for u in state.world.users.values()]})
        body = await _input()
        user = users.add_user(
            state,
            _field(body, "user_id", int),
            _field(body, "first_name", str),
            username=_field(body, "username", str, None),
            language_code=_field(body, "language_code", str, "ru"),
            last_name=_field(body, "last_name", str, None),
            started=_field(body, "started", bool, True),
        )
        return _json({"ok": True, "user": user.to_api()})

    @app.route("/_sim/users/<int(signed=True):user_id>/messages", methods=["POST"])
    async def sim_text(user_id: int) -> Response:
        body = await _input()
        message = users.send_text(
            state,
            user_id,
            _field(body, "text", str),
            chat_id=_field(body, "chat_id", int, None),
            reply_to=_field(body, "reply_to", int, None),
        )
        return _json({"ok": True, "message": state.serialize_message(message)})

    @app.route("/_sim/users/<int(signed=True):user_id>/<kind>", methods=["POST"])
    async def sim_media_or_block(user_id: int, kind: str) -> Response:
        if kind in ("block", "unblock"):
            users.set_blocked(state, user_id, kind == "block")
            return _json({"ok": True})
        if kind not in _MEDIA_KINDS:
            raise SimError(f"unknown action {kind!r}", 404)
        body = await _input()
        data, file_name, mime_type = await _upload(body)
        message = users.send_file(
            state,
            user_id,
            kind,
            data,
            caption=_field(body, "caption", str, None),
            file_name=_field(body, "file_name", str, None) or file_name,
            mime_type=_field(body, "mime_type", str, None) or mime_type,
            duration=_field(body, "duration", int, 1),
            chat_id=_field(body, "chat_id", int, None),
        )
        return _json({"ok": True, "message": state.serialize_message(message)})

    @app.route("/_sim/users/<int(signed=True):user_id>/tap", methods=["POST"])
    async def sim_tap(user_id: int) -> Response:
        body = await _input()
        query_id = users.tap(
            state,
            user_id,
            _field(body, "message_id", int),
            _field(body, "callback_data", str),
            force=_field(body, "force", bool, False),
            chat_id=_field(body, "chat_id", int, None),
        )
        return _json({"ok": True, "callback_query_id": query_id})

    @app.route("/_sim/users/<int(signed=True):user_id>/pay", methods=["POST"])
    async def sim_pay(user_id: int) -> Response:
        body = await _input()
        link = _field(body, "link", str, None)
        if link is not None:
            invoice = state.stars.links.get(link)
            if invoice is None:
                raise SimError(f"no invoice link {link}", 404)
        else:
            invoice = users.invoice_message(state, user_id, _field(body, "message_id", int))
        result = await users.pay(state, user_id, invoice)
        return _json({"ok": True, "payment": result.to_json()})

    @app.route("/_sim/users/<int(signed=True):user_id>/commands")
    async def sim_commands(user_id: int) -> Response:
        users.user(state, user_id)
        return _json({"commands": commands_for(state, user_id)})

    @app.route("/_sim/chats/<int(signed=True):chat_id>/transcript")
    async def sim_transcript(chat_id: int) -> Response:
        chat = state.world.chats.get(chat_id)
        if chat is None:
            raise SimError(f"no chat {chat_id}", 404)
        return _json({"messages": [state.serialize_message(m) for m in chat.messages.values()]})

    @app.route("/_sim/callback_answers")
    async def sim_callback_answers() -> Response:
        return _json({"callback_answers": [a.to_json() for a in state.callback_answers]})

    @app.route("/_sim/payments")
    async def sim_payments() -> Response:
        return _json(
            {
                "payments": [
                    {
                        "telegram_payment_charge_id": p.telegram_payment_charge_id,
                        "user_id": p.user_id,
                        "amount": p.amount,
                        "payload": p.payload,
                        "status": p.status,
                    }
                    for p in state.stars.payments
                ],
                "attempts": [a.to_json() for a in state.stars.attempts],
            }
        )

    @app.route("/_sim/updates")
    async def sim_updates() -> Response:
        return _json(
            {
                "created": state.updates.created,
                "delivered": state.updates.delivered,
                "pending": [p.payload for p in state.updates.pending],
            }
        )

    @app.route("/_sim/updates/<int:update_id>/redeliver", methods=["POST"])
    async def sim_redeliver(update_id: int) -> Response:
        body = await _input()
        update = users.redeliver(state, update_id, same_id=_field(body, "same_id", bool, False))
        return _json({"ok": True, "update": update})

    @app.route("/_sim/requests")
    async def sim_requests() -> Response:
        return _json({"requests": [vars(r) for r in state.requests]})

    @app.route("/_sim/faults", methods=["GET", "POST", "DELETE"])
    async def sim_faults() -> Response:
        if request.method == "DELETE":
            state.faults.clear()
        elif request.method == "POST":
            body = await _input()
            state.faults.add(
                Fault(
                    method=_field(body, "method", str, None),
                    status=_field(body, "status", int, 429),
                    retry_after=_field(body, "retry_after", int, 1),
                    description=_field(body, "description", str, None),
                    times=_field(body, "times", int, 1),
                    delay=_field(body, "delay", float, 0.0),
                    chat_id=_field(body, "chat_id", int, None),
                    hang=_field(body, "hang", bool, False),
                    after=_field(body, "after", bool, False),
                )
            )
        return _json({"ok": True, "faults": [f.to_json() for f in state.faults.faults]})

    @app.route("/_sim/reset", methods=["POST"])
    async def sim_reset() -> Response:
        state.reset()
        return _json({"ok": True})

    @app.route("/_sim/file/<file_id>")
    async def sim_file(file_id: str) -> Response:
        file = state.world.files.get(file_id)
        if file is None:
            raise SimError(f"no file {file_id}", 404)
        return Response(file.data, status=200, content_type=file.mime_type or _image_type(file.data))

    @app.route("/_sim/events")
    async def sim_events() -> Response:
        channel = state.bus.subscribe()
        response = Response(
            _event_stream(channel),
            status=200,
            content_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )
        response.timeout = None
        return response


def _image_type(data: bytes) -> str:
    if data.startswith(b"\x89PNG"):
        return "image/png"
    if data.startswith(b"\xff\xd8"):
        return "image/jpeg"
    return "application/octet-stream"


async def _event_stream(channel: trio.MemoryReceiveChannel[dict[str, Any]]) -> AsyncIterator[bytes]:
    """Server-sent events: ``event: <type>`` + ``data: <json>``, a comment every 15 s to keep
    proxies from closing an idle stream; ends when the fake drops a subscriber that fell behind."""
    async with channel:
        yield b"retry: 1000\n\n"
        while True:
            event: dict[str, Any] | None = None
            with trio.move_on_after(KEEPALIVE_SECONDS):
                try:
                    event = await channel.receive()
                except trio.EndOfChannel:
                    return
            if event is None:
                yield b": keep-alive\n\n"
                continue
            yield b"event: " + str(event["type"]).encode() + b"\ndata: " + _encode(event) + b"\n\n"
