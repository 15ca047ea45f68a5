"""What the fake sends is what the Bot API 10.1 spec describes: every object it produces (updates,
messages of each kind, getMe, getFile, getWebhookInfo, StarTransactions) has only fields the spec
defines for its type, all required fields, and the right JSON kinds; and the fake's table of method
parameters is the spec's. Reads the spec copied into ``tests/data/telegram`` (see SOURCE.md)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio

from kiebot.testing.media import MP3, OGG_OPUS, PDF, png
from kiebot.testing.telegram.rules.spec import METHOD_PARAMS
from kiebot.testing.telegram.server import FakeTelegram
from tests.support.cashier import cashier

SPEC = json.loads((Path(__file__).parents[1] / "data" / "telegram" / "bot-api-10.1.json").read_text())
TYPES: dict[str, Any] = SPEC["types"]
USER = 8001
_SCALARS = {"Integer": int, "String": str, "Boolean": bool, "Float": (int, float), "True": bool}


def problems(value: Any, type_names: list[str], path: str) -> list[str]:
    """Why ``value`` is none of ``type_names`` (empty when it is one of them)."""
    found: list[str] = []
    for type_name in type_names:
        errors = _check(value, type_name, path)
        if not errors:
            return []
        found.extend(errors)
    return found


def _check(value: Any, type_name: str, path: str) -> list[str]:
    if type_name.startswith("Array of "):
        if not isinstance(value, list):
            return [f"{path}: expected an array"]
        return [
            e
            for i, item in enumerate(value)
            for e in problems(item, [type_name[len("Array of ") :]], f"{path}[{i}]")
        ]
    if type_name in _SCALARS:
        kind = _SCALARS[type_name]
        ok = isinstance(value, kind) and not (type_name in ("Integer", "Float") and isinstance(value, bool))
        return [] if ok else [f"{path}: {value!r} is not {type_name}"]
    spec = TYPES[type_name]
    if "subtypes" in spec:
        return problems(value, spec["subtypes"], path)
    if not isinstance(value, dict):
        return [f"{path}: expected {type_name} object"]
    fields = {f["name"]: f for f in spec.get("fields", [])}
    errors = [f"{path}.{name}: not a field of {type_name}" for name in value if name not in fields]
    errors += [
        f"{path}: {type_name} lacks required {name}"
        for name, f in fields.items()
        if f["required"] and name not in value
    ]
    for name, item in value.items():
        if name in fields:
            errors += problems(item, fields[name]["types"], f"{path}.{name}")
    return errors


@pytest.fixture
async def fake(nursery: trio.Nursery) -> FakeTelegram:
    server = FakeTelegram(precheckout_timeout=3)
    await nursery.start(server.serve)
    server.add_user(USER, "Polina", last_name="P", username="polina")
    return server


async def call(client: httpx.AsyncClient, fake: FakeTelegram, method: str, **params: Any) -> Any:
    response = await client.post(f"{fake.base_url}/bot{fake.token}/{method}", json=params)
    body = response.json()
    assert body["ok"], body
    return body["result"]


async def upload(
    client: httpx.AsyncClient, fake: FakeTelegram, method: str, field: str, data: bytes, name: str
) -> Any:
    response = await client.post(
        f"{fake.base_url}/bot{fake.token}/{method}",
        data={"chat_id": str(USER), "caption": "c"},
        files={field: (name, data)},
    )
    return response.json()["result"]


def test_the_parameter_table_is_the_specs() -> None:
    for method, (required, optional) in METHOD_PARAMS.items():
        fields = SPEC["methods"][method].get("fields", [])
        assert required == tuple(f["name"] for f in fields if f["required"]), method
        assert optional == tuple(f["name"] for f in fields if not f["required"]), method


async def test_everything_the_fake_produces_matches_the_spec(
    fake: FakeTelegram, client: httpx.AsyncClient
) -> None:
    produced: list[tuple[Any, str]] = []

    with trio.fail_after(10):
        keyboard = {
            "inline_keyboard": [
                [{"text": "Go", "callback_data": "go"}, {"text": "Site", "url": "https://kie.ai"}]
            ]
        }
        text = await call(
            client,
            fake,
            "sendMessage",
            chat_id=USER,
            text="<b>Hi</b> <a href='https://x.test'>x</a>",
            parse_mode="HTML",
            reply_markup=keyboard,
        )
        produced.append((text, "Message"))
        produced.append(
            (
                await call(
                    client,
                    fake,
                    "editMessageText",
                    chat_id=USER,
                    message_id=text["message_id"],
                    text="Edited",
                    reply_markup=keyboard,
                ),
                "Message",
            )
        )
        for method, field, data, name in [
            ("sendPhoto", "photo", png(4, 4), "p.png"),
            ("sendDocument", "document", PDF, "d.pdf"),
            ("sendAudio", "audio", MP3, "a.mp3"),
            ("sendVoice", "voice", OGG_OPUS, "v.ogg"),
            ("sendVideo", "video", b"\x00\x00\x00\x18ftypmp42", "v.mp4"),
        ]:
            produced.append((await upload(client, fake, method, field, data, name), "Message"))
        photo_id = produced[2][0]["photo"][0]["file_id"]
        album = await call(
            client, fake, "sendMediaGroup", chat_id=USER, media=[{"type": "photo", "media": photo_id}] * 2
        )
        produced += [(m, "Message") for m in album]
        produced.append((await call(client, fake, "getFile", file_id=photo_id), "File"))
        produced.append((await call(client, fake, "getMe"), "User"))
        produced.append((await call(client, fake, "getWebhookInfo"), "WebhookInfo"))
        invoice = await call(
            client,
            fake,
            "sendInvoice",
            chat_id=USER,
            title="t",
            description="d",
            payload="p",
            currency="XTR",
            prices=[{"label": "l", "amount": 5}],
        )
        produced.append((invoice, "Message"))
        fake.send_text(USER, "/start ref")
        fake.send_photo(USER, png(), caption="mine")
        fake.send_document(USER, PDF, file_name="x.pdf")
        fake.send_voice(USER, OGG_OPUS)
        fake.send_audio(USER, MP3)
        fake.tap(USER, text["message_id"], "go")
        fake.block_bot(USER)
        fake.unblock_bot(USER)
        async with cashier(client, fake) as updates:
            paid = await fake.pay_invoice(USER, invoice["message_id"])
            await call(
                client,
                fake,
                "refundStarPayment",
                user_id=USER,
                telegram_payment_charge_id=paid.telegram_payment_charge_id,
            )
            await fake.wait_for(lambda: any("refunded_payment" in u.get("message", {}) for u in updates))
        produced += [(u, "Update") for u in updates]
        produced.append((await call(client, fake, "getStarTransactions"), "StarTransactions"))
    kinds = {next(k for k in u if k != "update_id") for u, t in produced if t == "Update"}
    assert kinds == {"message", "callback_query", "my_chat_member", "pre_checkout_query"}
    errors = [e for value, type_name in produced for e in problems(value, [type_name], type_name)]
    assert errors == []
