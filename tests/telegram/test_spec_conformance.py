"""Our types and calls against the Bot API 10.1 spec (tests/data/telegram/bot-api-10.1.json).

* Every field of every wire Struct exists in the spec under the Struct's name (or one of the spec
  type's subtypes, for the loose unions) with a compatible type; a field we made optional is optional
  in the spec, and the spec-required fields we default on purpose are listed here.
* Every method the client calls exists in the spec, and every parameter it sends exists there with a
  compatible JSON type — checked on the wire, by calling each typed method with every option set.
* Every 2017 update sample decodes (see test_types.py for the two files that are not Updates).
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
import trio
from trio.testing import MockClock

from kiebot.telegram import types as tg_types
from kiebot.telegram.client import TelegramClient
from kiebot.telegram.types import (
    BotCommand,
    BotCommandScope,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputFile,
    InputMediaAudio,
    InputMediaDocument,
    InputMediaPhoto,
    InputMediaVideo,
    LabeledPrice,
    MessageEntity,
    TelegramObject,
    UnparsedObject,
)

DATA = Path(__file__).resolve().parents[1] / "data" / "telegram"
SPEC = json.loads((DATA / "bot-api-10.1.json").read_bytes())
TYPES: dict[str, Any] = SPEC["types"]
METHODS: dict[str, Any] = SPEC["methods"]

PRIMITIVES = {"Integer", "String", "Boolean", "Float", "True"}

# Spec-required fields that decode with a default, because real payloads have lacked them
# (2017 captures: no file_unique_id; the official webhook samples: no is_bot, no chat_instance) or
# because Stars payments leave them meaningless. Adding to this list is a conscious decision.
DEFAULTED_REQUIRED = {
    ("User", "is_bot"),
    ("User", "first_name"),
    ("Chat", "type"),
    ("PhotoSize", "file_unique_id"),
    ("PhotoSize", "width"),
    ("PhotoSize", "height"),
    ("Document", "file_unique_id"),
    ("Audio", "file_unique_id"),
    ("Audio", "duration"),
    ("Video", "file_unique_id"),
    ("Video", "width"),
    ("Video", "height"),
    ("Video", "duration"),
    ("Animation", "file_unique_id"),
    ("Animation", "width"),
    ("Animation", "height"),
    ("Animation", "duration"),
    ("Voice", "file_unique_id"),
    ("Voice", "duration"),
    ("Sticker", "file_unique_id"),
    ("Sticker", "width"),
    ("Sticker", "height"),
    ("File", "file_unique_id"),
    ("Invoice", "start_parameter"),
    ("SuccessfulPayment", "provider_payment_charge_id"),
    ("CallbackQuery", "chat_instance"),
    ("ShippingQuery", "invoice_payload"),
    ("ShippingQuery", "shipping_address"),
    ("ShippingAddress", "country_code"),
    ("ShippingAddress", "state"),
    ("ShippingAddress", "city"),
    ("ShippingAddress", "street_line1"),
    ("ShippingAddress", "street_line2"),
    ("ShippingAddress", "post_code"),
    ("InlineQuery", "query"),
    ("InlineQuery", "offset"),
    ("ChosenInlineResult", "query"),
    ("WebhookInfo", "has_custom_certificate"),
    ("WebhookInfo", "pending_update_count"),
    ("ReplyKeyboardRemove", "remove_keyboard"),
    ("ForceReply", "force_reply"),
}


def wire_structs() -> list[type[TelegramObject]]:
    found = [
        obj
        for _, obj in inspect.getmembers(tg_types, inspect.isclass)
        if issubclass(obj, TelegramObject) and obj not in (TelegramObject, UnparsedObject)
    ]
    assert len(found) > 40
    return sorted(found, key=lambda cls: cls.__name__)


def spec_fields(type_name: str) -> dict[str, dict[str, Any]]:
    """Fields of a spec type; for a union type (``subtypes``), the fields of all its subtypes."""
    spec = TYPES[type_name]
    if "subtypes" in spec:
        # A field of the union is required only if every subtype requires it.
        per_subtype = [spec_fields(sub) for sub in spec["subtypes"]]
        merged: dict[str, dict[str, Any]] = {}
        for fields in per_subtype:
            for name, field in fields.items():
                types = set(merged.get(name, {}).get("types", [])) | set(field["types"])
                required = all(name in other and other[name]["required"] for other in per_subtype)
                merged[name] = {**field, "types": sorted(types), "required": required}
        return merged
    return {field["name"]: field for field in spec.get("fields", [])}


def subtypes(type_name: str) -> set[str]:
    spec = TYPES.get(type_name, {})
    names = {type_name}
    for sub in spec.get("subtypes", []):
        names |= subtypes(sub)
    return names


def spec_alternative_ok(info: msgspec.inspect.Type, spec_type: str) -> bool:
    """Does one Python alternative fit one spec alternative ("Integer", "Array of X", "Message"...)?"""
    if spec_type.startswith("Array of "):
        return isinstance(info, msgspec.inspect.ListType) and compatible(
            info.item_type, [spec_type[len("Array of ") :]]
        )
    if isinstance(info, msgspec.inspect.IntType):
        return spec_type in ("Integer", "Float")
    if isinstance(info, msgspec.inspect.FloatType):
        return spec_type == "Float"
    if isinstance(info, msgspec.inspect.StrType):
        return spec_type == "String"
    if isinstance(info, msgspec.inspect.BoolType):
        return spec_type in ("Boolean", "True")
    if isinstance(info, msgspec.inspect.StructType):
        if spec_type in PRIMITIVES:
            return False
        if info.cls is UnparsedObject:
            return True
        return info.cls.__name__ in subtypes(spec_type)
    if isinstance(info, msgspec.inspect.DataclassType) and info.cls is InputFile:
        # Our upload carrier: an InputFile parameter, or a String field that takes "attach://<name>".
        return spec_type in ("InputFile", "String")
    return False


def compatible(info: msgspec.inspect.Type, spec_types: list[str]) -> bool:
    alternatives = info.types if isinstance(info, msgspec.inspect.UnionType) else (info,)
    real = [alt for alt in alternatives if not isinstance(alt, msgspec.inspect.NoneType)]
    return bool(real) and all(any(spec_alternative_ok(alt, s) for s in spec_types) for alt in real)


@pytest.mark.parametrize("cls", wire_structs(), ids=lambda cls: cls.__name__)
def test_struct_fields_exist_in_the_spec_with_compatible_types(cls: type[TelegramObject]) -> None:
    assert cls.__name__ in TYPES, f"{cls.__name__} is not a Bot API type"
    fields = spec_fields(cls.__name__)
    info = msgspec.inspect.type_info(cls)
    assert isinstance(info, msgspec.inspect.StructType)
    if info.tag_field is not None:
        assert info.tag_field in fields
    for field in info.fields:
        spec = fields.get(field.encode_name)
        assert spec is not None, f"{cls.__name__}.{field.encode_name} is not in the spec"
        assert compatible(field.type, spec["types"]), (
            f"{cls.__name__}.{field.encode_name}: {field.type} vs {spec['types']}"
        )
        if field.required:
            assert spec["required"], (
                f"{cls.__name__}.{field.encode_name} is optional in the spec but required here"
            )
        elif spec["required"] and (cls.__name__, field.encode_name) not in DEFAULTED_REQUIRED:
            pytest.fail(
                f"{cls.__name__}.{field.encode_name} is required by the spec; default it on purpose or not at all"
            )


def test_the_defaulted_required_list_has_no_stale_entries() -> None:
    structs = {cls.__name__: cls for cls in wire_structs()}
    for type_name, field_name in DEFAULTED_REQUIRED:
        info = msgspec.inspect.type_info(structs[type_name])
        assert isinstance(info, msgspec.inspect.StructType)
        field = next(f for f in info.fields if f.encode_name == field_name)
        assert not field.required
        assert spec_fields(type_name)[field_name]["required"]


def test_update_kinds_match_the_spec() -> None:
    spec_kinds = [field["name"] for field in TYPES["Update"]["fields"] if field["name"] != "update_id"]
    assert sorted(tg_types.UPDATE_KINDS) == sorted(spec_kinds)
    assert len(set(tg_types.UPDATE_KINDS)) == len(tg_types.UPDATE_KINDS)
    update_fields = {f.encode_name for f in msgspec.structs.fields(tg_types.Update)}
    assert update_fields == {"update_id", *spec_kinds}


@pytest.mark.parametrize("path", sorted((DATA / "updates-2017").glob("*.json")), ids=lambda p: p.name)
def test_2017_samples_decode(path: Path) -> None:
    body = path.read_bytes()
    if path.name == "message_with_invoice.json":  # a bare Message, no update_id
        assert msgspec.json.decode(body, type=tg_types.Message).invoice is not None
    elif path.name == "inline_query.json":  # an empty stub in the source repository
        assert json.loads(body) == {"test": "ok"}
    else:
        assert tg_types.decode_update(body).update_id == json.loads(body)["update_id"]


# ---------------------------------------------------------------------------------------------
# Methods: every parameter the client sends, as seen on the wire.

PNG = InputFile("a.png", b"\x89PNG", "image/png")
MP4 = InputFile("a.mp4", b"mp4", "video/mp4")
JPG = InputFile("t.jpg", b"jpg", "image/jpeg")
MP3 = InputFile("a.mp3", b"mp3", "audio/mpeg")
KB = InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton.callback("a", "b")]])
ENTITIES = [MessageEntity(type="bold", offset=0, length=1)]
PRICES = [LabeledPrice(label="x", amount=1)]
# The options every send_<media> method takes.
MEDIA_OPTIONS: dict[str, Any] = {
    "caption": "c",
    "parse_mode": "HTML",
    "caption_entities": ENTITIES,
    "reply_markup": KB,
    "reply_to_message_id": 2,
    "disable_notification": True,
    "protect_content": True,
}

Invocation = Callable[[TelegramClient], Awaitable[object]]

# Python method → calls with every option set (by file id/URL, so the body is JSON and typed; and
# with uploads, to check the multipart part names).
INVOCATIONS: dict[str, list[Invocation]] = {
    "get_me": [lambda c: c.get_me()],
    "get_updates": [lambda c: c.get_updates(offset=1, limit=10, timeout=5, allowed_updates=["message"])],
    "get_updates_with_raw": [
        lambda c: c.get_updates_with_raw(offset=1, limit=10, timeout=5, allowed_updates=["message"])
    ],
    "set_webhook": [
        lambda c: c.set_webhook(
            "https://x/h",
            secret_token="s",
            allowed_updates=["message"],
            drop_pending_updates=True,
            max_connections=5,
            ip_address="1.2.3.4",
        ),
        lambda c: c.set_webhook("https://x/h", certificate=InputFile("c.pem", b"pem")),
    ],
    "delete_webhook": [lambda c: c.delete_webhook(drop_pending_updates=True)],
    "get_webhook_info": [lambda c: c.get_webhook_info()],
    "set_my_commands": [
        lambda c: c.set_my_commands(
            [BotCommand(command="start", description="d")],
            scope=BotCommandScope(type="chat_member", chat_id=1, user_id=2),
            language_code="ru",
        )
    ],
    "send_message": [
        lambda c: c.send_message(
            1,
            "t",
            parse_mode="HTML",
            entities=ENTITIES,
            reply_markup=KB,
            disable_web_page_preview=True,
            reply_to_message_id=2,
            disable_notification=True,
            protect_content=True,
        )
    ],
    "edit_message_text": [
        lambda c: c.edit_message_text(
            1, 2, "t", parse_mode="HTML", entities=ENTITIES, reply_markup=KB, disable_web_page_preview=True
        )
    ],
    "edit_message_reply_markup": [lambda c: c.edit_message_reply_markup(1, 2, KB)],
    "edit_message_caption": [
        lambda c: c.edit_message_caption(
            1, 2, "c", parse_mode="HTML", caption_entities=ENTITIES, reply_markup=KB
        )
    ],
    "delete_message": [lambda c: c.delete_message(1, 2)],
    "answer_callback_query": [
        lambda c: c.answer_callback_query("q", text="t", show_alert=True, url="https://t.me/x", cache_time=1)
    ],
    "send_chat_action": [lambda c: c.send_chat_action(1, "upload_video")],
    "send_photo": [
        lambda c: c.send_photo(1, "id", has_spoiler=True, **MEDIA_OPTIONS),
        lambda c: c.send_photo(1, PNG),
    ],
    "send_video": [
        lambda c: c.send_video(
            1, "id", duration=3, width=4, height=5, thumbnail="tid", supports_streaming=True, **MEDIA_OPTIONS
        ),
        lambda c: c.send_video(1, MP4, thumbnail=JPG),
    ],
    "send_audio": [
        lambda c: c.send_audio(
            1, "id", duration=3, performer="p", title="t", thumbnail="tid", **MEDIA_OPTIONS
        ),
        lambda c: c.send_audio(1, MP3, thumbnail=JPG),
    ],
    "send_voice": [
        lambda c: c.send_voice(1, "id", duration=3, **MEDIA_OPTIONS),
        lambda c: c.send_voice(1, InputFile("v.ogg", b"ogg", "audio/ogg")),
    ],
    "send_document": [
        lambda c: c.send_document(
            1, "id", thumbnail="tid", disable_content_type_detection=True, **MEDIA_OPTIONS
        ),
        lambda c: c.send_document(1, PNG, thumbnail=JPG),
    ],
    "send_media_group": [
        lambda c: c.send_media_group(
            1,
            [
                InputMediaPhoto(
                    media="id", caption="c", parse_mode="HTML", caption_entities=ENTITIES, has_spoiler=True
                ),
                InputMediaVideo(
                    media="id",
                    thumbnail="t",
                    caption="c",
                    width=1,
                    height=2,
                    duration=3,
                    supports_streaming=True,
                ),
            ],
            reply_to_message_id=2,
            disable_notification=True,
            protect_content=True,
        ),
        lambda c: c.send_media_group(
            1,
            [
                InputMediaAudio(media="id", thumbnail="t", caption="c", duration=1, performer="p", title="t"),
                InputMediaAudio(media=MP3, thumbnail=JPG),
            ],
        ),
        lambda c: c.send_media_group(
            1,
            [
                InputMediaDocument(media=PNG, thumbnail=JPG, disable_content_type_detection=True),
                InputMediaDocument(media="id"),
            ],
        ),
    ],
    "get_file": [lambda c: c.get_file("f")],
    "send_invoice": [
        lambda c: c.send_invoice(
            1,
            "t",
            "d",
            "p",
            PRICES,
            currency="XTR",
            provider_token="",
            start_parameter="s",
            photo_url="https://x/p.png",
            photo_size=1,
            photo_width=2,
            photo_height=3,
            reply_markup=KB,
            reply_to_message_id=2,
            disable_notification=True,
            protect_content=True,
        )
    ],
    "create_invoice_link": [
        lambda c: c.create_invoice_link(
            "t",
            "d",
            "p",
            PRICES,
            currency="XTR",
            provider_token="",
            subscription_period=2592000,
            photo_url="https://x/p.png",
        )
    ],
    "answer_pre_checkout_query": [lambda c: c.answer_pre_checkout_query("q", False, error_message="e")],
    "refund_star_payment": [lambda c: c.refund_star_payment(1, "stx")],
    "get_star_transactions": [lambda c: c.get_star_transactions(offset=0, limit=100)],
}

# Client methods that are not Bot API calls of their own.
NOT_API_METHODS = {"call", "download_file", "download_file_into"}

RESULTS: dict[str, Any] = {
    "getMe": {"id": 1, "is_bot": True, "first_name": "b"},
    "getUpdates": [],
    "getWebhookInfo": {"url": ""},
    "getFile": {"file_id": "f"},
    "createInvoiceLink": "https://t.me/$x",
    "getStarTransactions": {"transactions": []},
    "sendMediaGroup": [{"message_id": 1, "date": 1, "chat": {"id": 1, "type": "private"}}],
}
MESSAGE = {"message_id": 1, "date": 1, "chat": {"id": 1, "type": "private"}}


def test_every_typed_method_is_exercised() -> None:
    public = {
        name
        for name, member in inspect.getmembers(TelegramClient, inspect.iscoroutinefunction)
        if not name.startswith("_")
    }
    assert public - NOT_API_METHODS == set(INVOCATIONS)


def json_type_ok(value: Any, spec_types: list[str]) -> bool:
    """A JSON value against spec types; objects are checked field by field against the spec type."""
    for spec_type in spec_types:
        if spec_type.startswith("Array of "):
            if isinstance(value, list) and all(
                json_type_ok(v, [spec_type[len("Array of ") :]]) for v in value
            ):
                return True
        elif isinstance(value, bool):
            if spec_type in ("Boolean", "True"):
                return True
        elif isinstance(value, int):
            if spec_type in ("Integer", "Float"):
                return True
        elif isinstance(value, float):
            if spec_type == "Float":
                return True
        elif isinstance(value, str):
            if spec_type in ("String", "InputFile"):
                return True
        elif isinstance(value, dict) and spec_type in TYPES and object_ok(value, spec_type):
            return True
    return False


def object_ok(value: dict[str, Any], type_name: str) -> bool:
    candidates = [type_name, *sorted(subtypes(type_name) - {type_name})]
    for candidate in candidates:
        fields = spec_fields(candidate)
        if all(name in fields and json_type_ok(v, fields[name]["types"]) for name, v in value.items()):
            return True
    return False


async def test_every_parameter_sent_exists_in_the_spec(autojump_clock: MockClock) -> None:
    sent: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        method = request.url.path.rsplit("/", 1)[-1]
        result = RESULTS.get(
            method, MESSAGE if method.startswith(("send", "edit")) and method != "sendChatAction" else True
        )
        return httpx.Response(200, json={"ok": True, "result": result})

    client = TelegramClient(httpx.AsyncClient(transport=httpx.MockTransport(handler)), "1:x")
    checked: set[str] = set()
    with trio.fail_after(60):
        for invocations in INVOCATIONS.values():
            for invoke in invocations:
                sent.clear()
                await invoke(client)
                [request] = sent
                checked.add(check_request(request))
    assert checked == {
        "getMe",
        "getUpdates",
        "setWebhook",
        "deleteWebhook",
        "getWebhookInfo",
        "setMyCommands",
        "sendMessage",
        "editMessageText",
        "editMessageReplyMarkup",
        "editMessageCaption",
        "deleteMessage",
        "answerCallbackQuery",
        "sendChatAction",
        "sendPhoto",
        "sendVideo",
        "sendAudio",
        "sendVoice",
        "sendDocument",
        "sendMediaGroup",
        "getFile",
        "sendInvoice",
        "createInvoiceLink",
        "answerPreCheckoutQuery",
        "refundStarPayment",
        "getStarTransactions",
    }


def check_request(request: httpx.Request) -> str:
    method = request.url.path.rsplit("/", 1)[-1]
    assert method in METHODS, f"{method} is not a Bot API method"
    spec = {field["name"]: field for field in METHODS[method].get("fields", [])}
    content_type = request.headers["content-type"]
    if content_type == "application/json":
        params: dict[str, Any] = json.loads(request.content)
        files: set[str] = set()
    else:
        assert content_type.startswith("multipart/form-data")
        params, files = parse_multipart(request)
    for name, value in params.items():
        assert name in spec, f"{method}({name}) is not in the spec"
        assert json_type_ok(value, spec[name]["types"]), (
            f"{method}({name}={value!r}) vs {spec[name]['types']}"
        )
    missing = {name for name, field in spec.items() if field["required"]} - params.keys() - files
    assert not missing, f"{method} misses required {missing}"
    attached = {ref[len("attach://") :] for ref in attach_refs(params)}
    for name in files:
        is_file_param = name in spec and "InputFile" in " ".join(spec[name]["types"])
        assert is_file_param or name in attached, (
            f"{method}: file part {name!r} is neither a parameter nor attached"
        )
    assert attached <= files
    return method


def parse_multipart(request: httpx.Request) -> tuple[dict[str, Any], set[str]]:
    boundary = request.headers["content-type"].split("boundary=", 1)[1].encode()
    params: dict[str, Any] = {}
    files: set[str] = set()
    for part in request.content.split(b"--" + boundary)[1:-1]:
        head, _, body = part.strip(b"\r\n").partition(b"\r\n\r\n")
        disposition = head.split(b"\r\n")[0].decode()
        name = disposition.split('name="', 1)[1].split('"', 1)[0]
        if "filename=" in disposition:
            files.add(name)
            continue
        text = body.decode()
        try:
            params[name] = json.loads(text)
        except ValueError:
            params[name] = text
        if (
            isinstance(params[name], int | float)
            and not isinstance(params[name], bool)
            and not text.lstrip("-").isdigit()
        ):
            params[name] = text  # a string that happens to parse as a number stays a string
    return params, files


def attach_refs(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value] if value.startswith("attach://") else []
    if isinstance(value, list):
        return [ref for item in value for ref in attach_refs(item)]
    if isinstance(value, dict):
        return [ref for item in value.values() for ref in attach_refs(item)]
    return []
