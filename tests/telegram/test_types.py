"""Decoding real and synthetic updates, the routing helpers and the encoding of outgoing objects."""

from __future__ import annotations

import json
from pathlib import Path

import msgspec
import pytest

from kiebot.telegram.types import (
    UPDATE_KINDS,
    CallbackQuery,
    ForceReply,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputFile,
    InputMediaDocument,
    InputMediaPhoto,
    LabeledPrice,
    Message,
    ReplyKeyboardRemove,
    StarTransactions,
    Update,
    User,
    decode_update,
    decode_update_lenient,
    encode,
)

DATA = Path(__file__).resolve().parents[1] / "data" / "telegram"
OLD = DATA / "updates-2017"
MODERN = DATA / "updates-modern"

# The two files of the 2017 set that are not Updates (see tests/data/telegram/SOURCE.md).
NOT_UPDATES = {"inline_query.json", "message_with_invoice.json"}

EXPECTED_2017 = {
    "edited_message.json": "edited_message",
    "forwarded_message.json": "message",
    "message.json": "message",
    "message_with_audio.json": "message",
    "message_with_document.json": "message",
    "message_with_game.json": "message",
    "message_with_location.json": "message",
    "message_with_photo.json": "message",
    "message_with_sticker.json": "message",
    "message_with_successful_payment.json": "message",
    "message_with_video.json": "message",
    "message_with_voice.json": "message",
    "pre_checkout_query.json": "pre_checkout_query",
    "reply_message.json": "message",
    "shipping_query.json": "shipping_query",
}

EXPECTED_MODERN = {
    # file: (kind, chat_id, user id)
    "start_command.json": ("message", 5012345678, 5012345678),
    "callback_query.json": ("callback_query", 5012345678, 5012345678),
    "callback_query_inaccessible.json": ("callback_query", 5012345678, 5012345678),
    "photo_message.json": ("message", 5012345678, 5012345678),
    "document_message.json": ("message", 5012345678, 5012345678),
    "voice_message.json": ("message", 5012345678, 5012345678),
    "pre_checkout_query_xtr.json": ("pre_checkout_query", 5012345678, 5012345678),
    "successful_payment_xtr.json": ("message", 5012345678, 5012345678),
    "refunded_payment_xtr.json": ("message", 5012345678, 5012345678),
    "my_chat_member_kicked.json": ("my_chat_member", 5012345678, 5012345678),
    "my_chat_member_member.json": ("my_chat_member", 5012345678, 5012345678),
    "unknown_kind.json": ("unknown", None, None),
    "explicit_nulls.json": ("message", 5012345678, 5012345678),
    "group_message.json": ("message", -1001234567890, 5012345678),
}


def _load(path: Path) -> Update:
    return decode_update(path.read_bytes())


def test_every_2017_file_is_accounted_for() -> None:
    names = {p.name for p in OLD.glob("*.json")}
    assert names == set(EXPECTED_2017) | NOT_UPDATES


@pytest.mark.parametrize("name", sorted(EXPECTED_2017))
def test_2017_update_decodes(name: str) -> None:
    raw = json.loads((OLD / name).read_bytes())
    update = _load(OLD / name)
    assert update.update_id == raw["update_id"]
    assert update.kind == EXPECTED_2017[name]
    user = update.user
    assert user is not None
    assert user.id == 12345678
    assert update.chat_id == 12345678


def test_2017_invoice_sample_is_a_bare_message() -> None:
    """It has no update_id: an Update decoder must refuse it, a Message decoder reads it."""
    body = (OLD / "message_with_invoice.json").read_bytes()
    with pytest.raises(msgspec.ValidationError, match="update_id"):
        decode_update(body)
    message = msgspec.json.decode(body, type=Message)
    assert message.invoice is not None
    assert (message.invoice.currency, message.invoice.total_amount) == ("USD", 6250)


def test_an_object_without_update_id_is_refused() -> None:
    with pytest.raises(msgspec.ValidationError, match="update_id"):
        decode_update((OLD / "inline_query.json").read_bytes())
    with pytest.raises(msgspec.DecodeError):
        decode_update(b"{not json")


def test_old_payloads_get_defaults_for_fields_required_today() -> None:
    photo = _load(OLD / "message_with_photo.json").message
    assert photo is not None
    assert photo.photo is not None
    assert [p.file_unique_id for p in photo.photo] == ["", "", "", ""]
    largest = photo.largest_photo
    assert largest is not None
    assert (largest.width, largest.height) == (950, 320)
    payment = _load(OLD / "message_with_successful_payment.json").message
    assert payment is not None
    assert payment.successful_payment is not None
    assert payment.successful_payment.telegram_payment_charge_id == "_"
    video = _load(OLD / "message_with_video.json").message
    assert video is not None
    assert video.video is not None
    assert video.video.duration == 52
    voice = _load(OLD / "message_with_voice.json").message
    assert voice is not None
    assert voice.voice is not None
    assert voice.voice.mime_type == "audio/ogg"
    audio = _load(OLD / "message_with_audio.json").message
    assert audio is not None
    assert audio.audio is not None
    assert audio.audio.file_size == 12345678
    doc = _load(OLD / "message_with_document.json").message
    assert doc is not None
    assert doc.document is not None
    assert doc.caption == "doc description"
    reply = _load(OLD / "reply_message.json").message
    assert reply is not None
    assert reply.reply_to_message is not None
    assert reply.reply_to_message.text == "Quoted message"
    shipping = _load(OLD / "shipping_query.json").shipping_query
    assert shipping is not None
    assert shipping.shipping_address is not None
    assert shipping.shipping_address.city == "DefaultCity"


@pytest.mark.parametrize("name", sorted(EXPECTED_MODERN))
def test_modern_update_kind_and_routing(name: str) -> None:
    update = _load(MODERN / name)
    kind, chat_id, user_id = EXPECTED_MODERN[name]
    assert update.kind == kind
    assert update.chat_id == chat_id
    assert (update.user.id if update.user else None) == user_id


def test_every_modern_file_is_checked() -> None:
    assert {p.name for p in MODERN.glob("*.json")} == set(EXPECTED_MODERN)


def test_start_command_fields() -> None:
    message = _load(MODERN / "start_command.json").message
    assert message is not None
    assert message.from_ is not None
    assert message.text == "/start ref_42"
    assert message.from_.language_code == "ru"
    assert message.from_.is_premium is True
    assert message.entities is not None
    assert message.entities[0].type == "bot_command"


def test_callback_query_keeps_its_keyboard() -> None:
    query = _load(MODERN / "callback_query.json").callback_query
    assert query is not None
    assert query.message is not None
    assert query.data == "m:flux"
    assert query.chat_instance == "-8412345678901234567"
    assert query.message.is_accessible
    markup = query.message.reply_markup
    assert markup is not None
    assert [b.callback_data for b in markup.inline_keyboard[0]] == ["m:flux", "m:veo3"]
    assert markup.inline_keyboard[1][0].url == "https://kie.ai"
    copy = markup.inline_keyboard[1][1].copy_text
    assert copy is not None
    assert copy.text == "ABC"


def test_callback_query_on_an_inaccessible_message() -> None:
    query = _load(MODERN / "callback_query_inaccessible.json").callback_query
    assert query is not None
    assert query.message is not None
    assert not query.message.is_accessible
    assert query.message.chat.id == 5012345678
    assert query.message.message_id == 1


def test_callback_query_from_an_inline_message_routes_by_user() -> None:
    update = msgspec.json.decode(
        b'{"update_id": 5, "callback_query": {"id": "1", "from": {"id": 42, "first_name": "A"},'
        b' "inline_message_id": "AAA", "chat_instance": "1", "data": "x"}}',
        type=Update,
    )
    assert update.chat_id == 42


def test_stars_payment_flow_objects() -> None:
    query = _load(MODERN / "pre_checkout_query_xtr.json").pre_checkout_query
    assert query is not None
    assert (query.currency, query.total_amount, query.invoice_payload) == ("XTR", 50, "topup:9f1c2a")
    paid = _load(MODERN / "successful_payment_xtr.json").message
    assert paid is not None
    assert paid.successful_payment is not None
    assert paid.successful_payment.telegram_payment_charge_id == "stxAbCdEf0123456789"
    assert paid.successful_payment.provider_payment_charge_id == ""
    refunded = _load(MODERN / "refunded_payment_xtr.json").message
    assert refunded is not None
    assert refunded.refunded_payment is not None
    assert refunded.refunded_payment.provider_payment_charge_id is None


def test_my_chat_member_block_and_unblock() -> None:
    kicked = _load(MODERN / "my_chat_member_kicked.json").my_chat_member
    member = _load(MODERN / "my_chat_member_member.json").my_chat_member
    assert kicked is not None
    assert member is not None
    assert kicked.blocked_bot
    assert not kicked.unblocked_bot
    assert member.unblocked_bot
    assert not member.blocked_bot
    assert kicked.new_chat_member.user.is_bot


def test_explicit_nulls_are_accepted() -> None:
    message = _load(MODERN / "explicit_nulls.json").message
    assert message is not None
    assert message.from_ is not None
    assert message.from_.last_name is None
    assert message.entities is None
    assert message.reply_markup is None


def test_unknown_fields_and_kinds_are_ignored() -> None:
    update = _load(MODERN / "unknown_kind.json")
    assert update.update_id == 700000012
    assert update.kind == "unknown"
    assert update.user is None
    assert update.any_message is None


@pytest.mark.parametrize("kind", UPDATE_KINDS)
def test_every_kind_is_recognised(kind: str) -> None:
    """Each payload kind sets ``kind``; those we do not model decode from any object."""
    payloads = {
        "callback_query": {"id": "1", "from": {"id": 7, "first_name": "A"}, "chat_instance": "1"},
        "pre_checkout_query": {
            "id": "1",
            "from": {"id": 7},
            "currency": "XTR",
            "total_amount": 1,
            "invoice_payload": "p",
        },
        "shipping_query": {"id": "1", "from": {"id": 7}, "invoice_payload": "p"},
        "inline_query": {"id": "1", "from": {"id": 7}, "query": "q", "offset": ""},
        "chosen_inline_result": {"result_id": "1", "from": {"id": 7}, "query": "q"},
    }
    member = {
        "chat": {"id": 7, "type": "private"},
        "from": {"id": 7},
        "date": 1,
        "old_chat_member": {"status": "member", "user": {"id": 1}},
        "new_chat_member": {"status": "kicked", "user": {"id": 1}},
    }
    message = {"message_id": 1, "date": 1, "chat": {"id": 7, "type": "private"}, "from": {"id": 7}}
    if kind in ("my_chat_member", "chat_member"):
        payload: object = member
    elif kind.endswith(("message", "channel_post")):
        payload = message
    else:
        payload = payloads.get(kind, {"anything": [1, {"x": None}]})
    update = msgspec.json.decode(json.dumps({"update_id": 1, kind: payload}), type=Update)
    assert update.kind == kind


def test_from_is_renamed_on_the_wire() -> None:
    user = User(id=1, first_name="A")
    query = CallbackQuery(id="q", from_=user, chat_instance="c", data="d")
    wire = json.loads(encode(query))
    assert wire["from"] == {"id": 1, "first_name": "A"}
    assert "from_" not in wire
    assert msgspec.json.decode(encode(query), type=CallbackQuery) == query


def test_outgoing_objects_omit_unset_fields() -> None:
    keyboard = InlineKeyboardMarkup(
        inline_keyboard=[
            [InlineKeyboardButton.pay_button("Оплатить ⭐50")],
            [
                InlineKeyboardButton.callback("Назад", "back"),
                InlineKeyboardButton.link("Сайт", "https://kie.ai"),
            ],
        ]
    )
    assert json.loads(encode(keyboard)) == {
        "inline_keyboard": [
            [{"text": "Оплатить ⭐50", "pay": True}],
            [{"text": "Назад", "callback_data": "back"}, {"text": "Сайт", "url": "https://kie.ai"}],
        ]
    }
    assert json.loads(encode(LabeledPrice(label="50 ⭐", amount=50))) == {"label": "50 ⭐", "amount": 50}
    assert json.loads(encode(ReplyKeyboardRemove())) == {"remove_keyboard": True}
    assert json.loads(encode(ForceReply())) == {"force_reply": True}


def test_input_media_carries_its_type_tag() -> None:
    assert json.loads(encode(InputMediaPhoto(media="AgAC", caption="c"))) == {
        "type": "photo",
        "media": "AgAC",
        "caption": "c",
    }
    assert json.loads(encode(InputMediaDocument(media="https://x/y.pdf"))) == {
        "type": "document",
        "media": "https://x/y.pdf",
    }


def test_callback_data_is_limited_to_64_bytes_not_characters() -> None:
    InlineKeyboardButton.callback("ok", "x" * 64)
    InlineKeyboardButton.callback("ok", "я" * 32)  # 64 bytes
    with pytest.raises(ValueError, match="1-64 bytes"):
        InlineKeyboardButton.callback("too long", "я" * 33)  # 33 characters, 66 bytes
    with pytest.raises(ValueError, match="1-64 bytes"):
        InlineKeyboardButton.callback("empty", "")


def test_input_file_repr_hides_the_bytes() -> None:
    upload = InputFile("a.png", b"\x89PNG" + b"\x00" * 1000, "image/png")
    assert repr(upload) == "InputFile(filename='a.png', size=1004, mime_type='image/png')"


def test_star_transactions_decode_with_loose_partners() -> None:
    body = json.dumps(
        {
            "transactions": [
                {
                    "id": "stx1",
                    "amount": 50,
                    "date": 1760000030,
                    "source": {
                        "type": "user",
                        "transaction_type": "invoice_payment",
                        "user": {"id": 7, "first_name": "A"},
                        "invoice_payload": "topup:1",
                    },
                },
                {
                    "id": "stx1",
                    "amount": 50,
                    "date": 1760000090,
                    "receiver": {"type": "user", "user": {"id": 7}},
                },
                {
                    "id": "ads",
                    "amount": 3,
                    "nanostar_amount": 5,
                    "date": 1,
                    "receiver": {"type": "telegram_ads"},
                },
                {
                    "id": "new",
                    "amount": 1,
                    "date": 2,
                    "source": {"type": "some_future_partner", "extra": {"a": 1}},
                },
            ]
        }
    )
    result = msgspec.json.decode(body, type=StarTransactions)
    first = result.transactions[0]
    assert first.source is not None
    assert first.source.user is not None
    assert (first.source.type, first.source.transaction_type, first.source.invoice_payload) == (
        "user",
        "invoice_payment",
        "topup:1",
    )
    assert result.transactions[1].receiver is not None
    assert result.transactions[1].receiver.user is not None
    assert result.transactions[3].source is not None
    assert result.transactions[3].source.type == "some_future_partner"


def test_lenient_decoding_keeps_the_update_id() -> None:
    odd = b'{"update_id": 9, "message": {"message_id": "x", "date": 1, "chat": {"id": 1}}}'
    with pytest.raises(msgspec.ValidationError):
        decode_update(odd)
    update = decode_update_lenient(odd)
    assert (update.update_id, update.kind) == (9, "unknown")
    assert decode_update_lenient((MODERN / "start_command.json").read_bytes()).kind == "message"
    with pytest.raises(msgspec.DecodeError):
        decode_update_lenient(b'{"message": {}}')
    with pytest.raises(msgspec.DecodeError):
        decode_update_lenient(b"[oops")
