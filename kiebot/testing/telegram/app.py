"""The HTTP face of the fake Bot API: ``/bot<token>/<method>`` and ``/file/bot<token>/<path>``.

Answers exactly as https://core.telegram.org/bots/api#making-requests describes: any of GET/POST
with a query string, form, JSON or multipart body; method names case-insensitive;
``{"ok": true, "result": ...}`` or ``{"ok": false, "error_code": N, "description": ...}`` with HTTP
status N. A wrong token is 401 ``Unauthorized``, an unknown method 404 ``Not Found: method not
found``, a body over 50 MB 413. Each call is recorded (``State.requests``) so client tests can
check the wire format, and may be hit by an injected fault first (or after it took effect).
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any

import msgspec
import trio
from quart import Response, has_request_context, request
from quart_trio import QuartTrio
from werkzeug.exceptions import HTTPException

from kiebot.testing.telegram.methods import core as fake_telegram_methods_core
from kiebot.testing.telegram.methods import media as fake_telegram_methods_media
from kiebot.testing.telegram.methods import messages as fake_telegram_methods_messages
from kiebot.testing.telegram.methods import payments as fake_telegram_methods_payments
from kiebot.testing.telegram.methods.media import UPLOAD_LIMIT
from kiebot.testing.telegram.model.state import Ok, RequestRecord, State
from kiebot.testing.telegram.rules.errors import (
    METHOD_NOT_FOUND,
    BotApiError,
    api_error,
    bad_request,
    too_many_requests,
)
from kiebot.testing.telegram.rules.faults import Fault
from kiebot.testing.telegram.rules.flood import COUNTED_METHODS
from kiebot.testing.telegram.rules.params import Params, Upload, parse_body, unknown_parameters
from kiebot.testing.telegram.rules.spec import BOT_API_VERSION

Handler = Callable[[State, Params], Awaitable[Any]]

HANDLERS: dict[str, Handler] = {
    **fake_telegram_methods_core.HANDLERS,
    **fake_telegram_methods_messages.HANDLERS,
    **fake_telegram_methods_media.HANDLERS,
    **fake_telegram_methods_payments.HANDLERS,
}
_CANONICAL = {name.lower(): name for name in HANDLERS}
_encode = msgspec.json.encode


def json_response(body: Any, status: int = 200) -> Response:
    return Response(_encode(body), status=status, content_type="application/json")


async def read_params() -> Params:
    """The call's parameters from the query string and whichever body encoding was used."""
    values: dict[str, Any] = dict(request.args.items())
    files: dict[str, Upload] = {}
    native = False
    mimetype = request.mimetype
    if request.method == "POST":
        if mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
            form = await request.form
            values.update(form.to_dict())
            for name, storage in (await request.files).items():
                files[name] = Upload(storage.read(), storage.filename or "", storage.mimetype or "")
        else:
            body = await request.get_data(as_text=False)
            assert isinstance(body, bytes)
            if mimetype == "application/json" or body.strip():
                values.update(parse_body(body))
                native = True
    return Params(values, files, native, mimetype)


def _record(method: str, params: Params) -> RequestRecord:
    return RequestRecord(
        method=method,
        http_method=request.method,
        content_type=params.content_type,
        params=dict(params.values),
        files={name: (upload.filename, len(upload.data)) for name, upload in params.files.items()},
        at=trio.current_time(),
    )


async def _stall(fault: Fault) -> None:
    if fault.delay > 0:
        await trio.sleep(fault.delay)
    if fault.hang:
        await trio.sleep_forever()


class _FakeApp(QuartTrio):
    def log_exception(
        self, exception_info: tuple[type, BaseException, TracebackType] | tuple[None, None, None]
    ) -> None:
        """Quart logs the request path, which carries the bot token; log the method only."""
        name = request.path.rsplit("/", 1)[-1] if has_request_context() else "?"
        self.logger.error(
            "unhandled error in the fake Telegram server (%s)", name[:64], exc_info=exception_info
        )


def create_app(state: State) -> QuartTrio:
    app = _FakeApp("kiebot.testing.telegram.server")
    app.config["MAX_CONTENT_LENGTH"] = UPLOAD_LIMIT + 1024 * 1024
    app.config["MAX_FORM_MEMORY_SIZE"] = 4 * 1024 * 1024

    @app.route("/bot<token>/<method>", methods=["GET", "POST"])
    async def bot_api(token: str, method: str) -> Response:
        if not secrets.compare_digest(token.encode(), state.config.token.encode()):
            return json_response(api_error(401).envelope(), 401)
        name = _CANONICAL.get(method.lower())
        if name is None:
            return json_response(api_error(404, METHOD_NOT_FOUND).envelope(), 404)
        record: RequestRecord | None = None
        try:
            params = await read_params()
            record = _record(name, params)
            state.requests.append(record)
            state.bus.touch()
            body = await _call(state, name, params)
            status = 200
        except BotApiError as exc:
            body, status = exc.envelope(), exc.error_code
        if record is not None:
            record.status, record.description = status, body.get("description")
            state.bus.touch()
        return json_response(body, status)

    @app.route("/file/bot<token>/<path:file_path>")
    async def download(token: str, file_path: str) -> Response:
        if not secrets.compare_digest(token.encode(), state.config.token.encode()):
            return json_response(api_error(401).envelope(), 401)
        file = state.world.files.by_path.get(file_path)
        if file is None:
            return json_response(api_error(404).envelope(), 404)
        return Response(file.data, status=200, content_type="application/octet-stream")

    @app.errorhandler(HTTPException)
    async def http_error(exc: HTTPException) -> Response:
        code = exc.code or 500
        return json_response(api_error(code).envelope(), code)

    return app


def _flood_check(state: State, name: str, params: Params) -> None:
    if state.flood is None or name not in COUNTED_METHODS:
        return
    try:
        chat_id = params.chat_id()
    except BotApiError:
        return  # the method itself will refuse the chat
    chat = state.world.chats.get(chat_id) if isinstance(chat_id, int) else None
    if chat is None:
        return
    retry_after = state.flood.take(chat.id, chat.type != "private", trio.current_time())
    if retry_after is not None:
        raise too_many_requests(retry_after)


async def _call(state: State, name: str, params: Params) -> dict[str, Any]:
    fault = state.faults.take(name, params.raw("chat_id"))
    if fault is not None and not fault.after:
        await _stall(fault)
        error = fault.error()
        if error is not None:
            raise error
    _flood_check(state, name, params)
    if state.config.strict_params:
        unknown = unknown_parameters(name, params)
        if unknown:
            raise bad_request(
                f'unknown parameter "{unknown[0]}" for {name} (not in {BOT_API_VERSION}; refused by the fake only)'
            )
    result = await HANDLERS[name](state, params)
    if fault is not None and fault.after:
        await _stall(fault)
        error = fault.error()
        if error is not None:
            raise error
    if isinstance(result, Ok):
        return {"ok": True, "result": result.result, "description": result.description}
    return {"ok": True, "result": result}
