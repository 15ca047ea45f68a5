"""Every typed client method over real HTTP (a scripted server on 127.0.0.1): what the server
receives (encoding, parameter names and values, files) and how the result is decoded."""

from __future__ import annotations

from typing import Any

import pytest
import trio

from kiebot.telegram import errors
from kiebot.telegram.client import TelegramClient
from kiebot.telegram.types import (
    BotCommand,
    BotCommandScope,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputFile,
    InputMediaPhoto,
    InputMediaVideo,
    LabeledPrice,
    LinkPreviewOptions,
    ReplyKeyboardRemove,
)

KEYBOARD = InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton.callback("Ок", "ok:1")]])
KEYBOARD_JSON = {"inline_keyboard": [[{"text": "Ок", "callback_data": "ok:1"}]]}
PNG = InputFile("result.png", b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4, "image/png")


def only(api: Any, method: str) -> Any:
    calls = api.calls(method)
    assert len(calls) == 1, calls
    return calls[0]


async def test_get_me(bot_api: Any, tg: TelegramClient) -> None:
    with trio.fail_after(10):
        bot_api.reply(
            "getMe", bot_api.ok({"id": 123456789, "is_bot": True, "first_name": "Kie", "username": "kie_bot"})
        )
        me = await tg.get_me()
    assert (me.id, me.is_bot, me.username) == (123456789, True, "kie_bot")
    request = only(bot_api, "getMe")
    assert request.token == bot_api.token
    assert request.json == {}


async def test_get_updates_sends_offset_limit_timeout_allowed(bot_api: Any, tg: TelegramClient) -> None:
    update = {"update_id": 10, "message": bot_api.message(chat_id=5, message_id=3, text="hi")}
    with trio.fail_after(10):
        bot_api.reply("getUpdates", bot_api.ok([update, {"update_id": 11, "brand_new_kind": {}}]))
        updates = await tg.get_updates(
            offset=10, limit=5, timeout=0, allowed_updates=["message", "callback_query"]
        )
    assert [(u.update_id, u.kind) for u in updates] == [(10, "message"), (11, "unknown")]
    assert only(bot_api, "getUpdates").json == {
        "offset": 10,
        "limit": 5,
        "timeout": 0,
        "allowed_updates": ["message", "callback_query"],
    }


async def test_get_updates_keeps_each_raw_update(bot_api: Any, tg: TelegramClient) -> None:
    with trio.fail_after(10):
        bot_api.reply("getUpdates", bot_api.ok([{"update_id": 1, "future_field": [1, 2]}]))
        [(update, raw)] = await tg.get_updates_with_raw(timeout=0)
    assert update.update_id == 1
    assert raw == b'{"update_id": 1, "future_field": [1, 2]}'


async def test_get_updates_timeout_is_clamped_to_50(bot_api: Any, tg: TelegramClient) -> None:
    with trio.fail_after(10):
        bot_api.reply("getUpdates", bot_api.ok([]))
        assert await tg.get_updates(timeout=600) == []
    assert only(bot_api, "getUpdates").json == {"timeout": 50}


async def test_set_webhook(bot_api: Any, tg: TelegramClient) -> None:
    with trio.fail_after(10):
        assert await tg.set_webhook(
            "https://bot.example/tg/hook",
            secret_token="s3cr3t_-X",
            allowed_updates=["message", "pre_checkout_query"],
            drop_pending_updates=True,
            max_connections=40,
        )
    assert only(bot_api, "setWebhook").json == {
        "url": "https://bot.example/tg/hook",
        "secret_token": "s3cr3t_-X",
        "allowed_updates": ["message", "pre_checkout_query"],
        "drop_pending_updates": True,
        "max_connections": 40,
    }


async def test_set_webhook_refuses_a_bad_secret_before_calling(bot_api: Any, tg: TelegramClient) -> None:
    with trio.fail_after(10):
        for bad in ("", "has space", "x" * 257, "ünïcode"):
            with pytest.raises(ValueError, match="1-256") as caught:
                await tg.set_webhook("https://bot.example/hook", secret_token=bad)
            assert bad not in str(caught.value) or bad == ""
    assert bot_api.requests == []


async def test_set_webhook_with_a_certificate_uploads_it(bot_api: Any, tg: TelegramClient) -> None:
    cert = InputFile("cert.pem", b"-----BEGIN CERTIFICATE-----\n...", "application/x-pem-file")
    with trio.fail_after(10):
        await tg.set_webhook("https://1.2.3.4:8443/hook", certificate=cert)
    request = only(bot_api, "setWebhook")
    assert request.content_type.startswith("multipart/form-data")
    assert request.form == {"url": "https://1.2.3.4:8443/hook"}
    assert request.files["certificate"] == ("cert.pem", "application/x-pem-file", cert.data)


async def test_delete_webhook_and_info(bot_api: Any, tg: TelegramClient) -> None:
    with trio.fail_after(10):
        bot_api.reply(
            "getWebhookInfo",
            bot_api.ok({"url": "", "has_custom_certificate": False, "pending_update_count": 3}),
        )
        assert await tg.delete_webhook(drop_pending_updates=False)
        info = await tg.get_webhook_info()
    assert only(bot_api, "deleteWebhook").json == {"drop_pending_updates": False}
    assert (info.url, info.pending_update_count) == ("", 3)


async def test_set_my_commands_per_language(bot_api: Any, tg: TelegramClient) -> None:
    with trio.fail_after(10):
        await tg.set_my_commands([BotCommand(command="start", description="Начать")], language_code="ru")
        await tg.set_my_commands(
            [BotCommand(command="admin", description="Admin panel")],
            scope=BotCommandScope(type="chat", chat_id=77),
        )
    first, second = bot_api.calls("setMyCommands")
    assert first.json == {"commands": [{"command": "start", "description": "Начать"}], "language_code": "ru"}
    assert second.json == {
        "commands": [{"command": "admin", "description": "Admin panel"}],
        "scope": {"type": "chat", "chat_id": 77},
    }


async def test_send_message(bot_api: Any, tg: TelegramClient) -> None:
    with trio.fail_after(10):
        bot_api.reply(
            "sendMessage", bot_api.ok(bot_api.message(chat_id=42, message_id=9, text="<b>Баланс</b>"))
        )
        message = await tg.send_message(
            42,
            "<b>Баланс</b>",
            parse_mode="HTML",
            reply_markup=KEYBOARD,
            disable_web_page_preview=True,
            reply_to_message_id=5,
            disable_notification=True,
            protect_content=False,
        )
    assert (message.message_id, message.chat.id) == (9, 42)
    request = only(bot_api, "sendMessage")
    assert request.content_type == "application/json"
    assert request.json == {
        "chat_id": 42,
        "text": "<b>Баланс</b>",
        "parse_mode": "HTML",
        "link_preview_options": {"is_disabled": True},
        "reply_parameters": {"message_id": 5, "allow_sending_without_reply": True},
        "reply_markup": KEYBOARD_JSON,
        "disable_notification": True,
        "protect_content": False,
    }


async def test_send_message_with_other_keyboards_and_preview_options(
    bot_api: Any, tg: TelegramClient
) -> None:
    with trio.fail_after(10):
        bot_api.reply("sendMessage", bot_api.ok(bot_api.message()), bot_api.ok(bot_api.message()))
        await tg.send_message("@channel", "x", reply_markup=ReplyKeyboardRemove())
        await tg.send_message(
            1, "see https://kie.ai", link_preview_options=LinkPreviewOptions(prefer_small_media=True)
        )
    first, second = bot_api.calls("sendMessage")
    assert first.json == {"chat_id": "@channel", "text": "x", "reply_markup": {"remove_keyboard": True}}
    assert second.json["link_preview_options"] == {"prefer_small_media": True}


async def test_edit_message_text_and_not_modified(bot_api: Any, tg: TelegramClient) -> None:
    with trio.fail_after(10):
        bot_api.reply(
            "editMessageText",
            bot_api.ok(bot_api.message(message_id=3, text="v2")),
            bot_api.fail(
                400,
                "Bad Request: message is not modified: specified new message content and reply markup are"
                " exactly the same as a current content and reply markup of the message",
            ),
        )
        edited = await tg.edit_message_text(42, 3, "v2", parse_mode="HTML", reply_markup=KEYBOARD)
        unchanged = await tg.edit_message_text(42, 3, "v2")
    assert edited is not None
    assert edited.text == "v2"
    assert unchanged is None
    first = bot_api.calls("editMessageText")[0]
    assert first.json == {
        "chat_id": 42,
        "message_id": 3,
        "text": "v2",
        "parse_mode": "HTML",
        "reply_markup": KEYBOARD_JSON,
    }


async def test_edit_message_errors_other_than_not_modified_raise(bot_api: Any, tg: TelegramClient) -> None:
    with trio.fail_after(10):
        bot_api.reply("editMessageText", bot_api.fail(400, "Bad Request: message to edit not found"))
        with pytest.raises(errors.MessageToEditNotFound):
            await tg.edit_message_text(42, 3, "v2")


async def test_edit_reply_markup_and_caption(bot_api: Any, tg: TelegramClient) -> None:
    with trio.fail_after(10):
        bot_api.reply(
            "editMessageReplyMarkup",
            bot_api.ok(bot_api.message()),
            bot_api.fail(400, "Bad Request: message is not modified"),
        )
        bot_api.reply("editMessageCaption", bot_api.ok(bot_api.message(caption="new")))
        assert await tg.edit_message_reply_markup(42, 3, KEYBOARD) is not None
        assert await tg.edit_message_reply_markup(42, 3) is None  # removing an absent keyboard: not modified
        captioned = await tg.edit_message_caption(42, 4, "new", parse_mode="HTML")
    assert captioned is not None
    assert captioned.caption == "new"
    first, second = bot_api.calls("editMessageReplyMarkup")
    assert first.json == {"chat_id": 42, "message_id": 3, "reply_markup": KEYBOARD_JSON}
    assert second.json == {"chat_id": 42, "message_id": 3}
    assert only(bot_api, "editMessageCaption").json == {
        "chat_id": 42,
        "message_id": 4,
        "caption": "new",
        "parse_mode": "HTML",
    }


async def test_delete_message(bot_api: Any, tg: TelegramClient) -> None:
    with trio.fail_after(10):
        bot_api.reply(
            "deleteMessage",
            bot_api.ok(True),
            bot_api.fail(400, "Bad Request: message to delete not found"),
            bot_api.fail(400, "Bad Request: message can't be deleted"),
        )
        assert await tg.delete_message(42, 3) is True
        assert await tg.delete_message(42, 3) is False
        with pytest.raises(errors.MessageCantBeDeleted):
            await tg.delete_message(42, 1)
    assert bot_api.calls("deleteMessage")[0].json == {"chat_id": 42, "message_id": 3}


async def test_answer_callback_query(bot_api: Any, tg: TelegramClient) -> None:
    with trio.fail_after(10):
        assert await tg.answer_callback_query("q1", text="Готово", show_alert=True, cache_time=0)
        bot_api.reply(
            "answerCallbackQuery",
            bot_api.fail(
                400, "Bad Request: query is too old and response timeout expired or query ID is invalid"
            ),
        )
        with pytest.raises(errors.QueryTooOld):
            await tg.answer_callback_query("q2")
    first = bot_api.calls("answerCallbackQuery")[0]
    assert first.json == {"callback_query_id": "q1", "text": "Готово", "show_alert": True, "cache_time": 0}


async def test_send_chat_action(bot_api: Any, tg: TelegramClient) -> None:
    with trio.fail_after(10):
        assert await tg.send_chat_action(42, "upload_photo")
        assert await tg.send_chat_action(42)
    assert [r.json for r in bot_api.calls("sendChatAction")] == [
        {"chat_id": 42, "action": "upload_photo"},
        {"chat_id": 42, "action": "typing"},
    ]


async def test_send_photo_by_file_id_is_json(bot_api: Any, tg: TelegramClient) -> None:
    with trio.fail_after(10):
        bot_api.reply(
            "sendPhoto",
            bot_api.ok(
                bot_api.message(photo=[{"file_id": "F", "file_unique_id": "U", "width": 1, "height": 1}])
            ),
        )
        message = await tg.send_photo(42, "AgACAgIAAx-file-id", caption="готово", has_spoiler=True)
    assert message.largest_photo is not None
    assert only(bot_api, "sendPhoto").json == {
        "chat_id": 42,
        "photo": "AgACAgIAAx-file-id",
        "caption": "готово",
        "has_spoiler": True,
    }


async def test_send_photo_upload_is_multipart(bot_api: Any, tg: TelegramClient) -> None:
    with trio.fail_after(10):
        bot_api.reply("sendPhoto", bot_api.ok(bot_api.message()))
        await tg.send_photo(
            42, PNG, caption="<i>арт</i>", parse_mode="HTML", reply_markup=KEYBOARD, reply_to_message_id=7
        )
    request = only(bot_api, "sendPhoto")
    assert request.content_type.startswith("multipart/form-data")
    assert request.json is None
    assert request.form == {
        "chat_id": "42",
        "caption": "<i>арт</i>",
        "parse_mode": "HTML",
        "reply_parameters": '{"message_id":7,"allow_sending_without_reply":true}',
        "reply_markup": '{"inline_keyboard":[[{"text":"Ок","callback_data":"ok:1"}]]}',
    }
    assert request.files == {"photo": ("result.png", "image/png", PNG.data)}


async def test_send_video_with_uploaded_thumbnail(bot_api: Any, tg: TelegramClient) -> None:
    video = InputFile("clip.mp4", b"\x00\x00\x00\x18ftypmp42" * 100, "video/mp4")
    thumb = InputFile("thumb.jpg", b"\xff\xd8\xff\xe0thumb", "image/jpeg")
    with trio.fail_after(10):
        bot_api.reply(
            "sendVideo",
            bot_api.ok(bot_api.message(video={"file_id": "V", "width": 1, "height": 1, "duration": 5})),
        )
        message = await tg.send_video(
            42, video, thumbnail=thumb, duration=5, width=1280, height=720, supports_streaming=True
        )
    assert message.video is not None
    request = only(bot_api, "sendVideo")
    assert request.form == {
        "chat_id": "42",
        "thumbnail": "attach://thumbnail_file",
        "duration": "5",
        "width": "1280",
        "height": "720",
        "supports_streaming": "true",
    }
    assert request.files == {
        "video": ("clip.mp4", "video/mp4", video.data),
        "thumbnail_file": ("thumb.jpg", "image/jpeg", thumb.data),
    }


async def test_send_video_by_url(bot_api: Any, tg: TelegramClient) -> None:
    with trio.fail_after(10):
        bot_api.reply("sendVideo", bot_api.ok(bot_api.message()))
        await tg.send_video(42, "https://cdn.example/v.mp4", caption="c")
    assert only(bot_api, "sendVideo").json == {
        "chat_id": 42,
        "video": "https://cdn.example/v.mp4",
        "caption": "c",
    }


async def test_send_audio_voice_document(bot_api: Any, tg: TelegramClient) -> None:
    mp3 = InputFile("song.mp3", b"ID3" + b"\x00" * 300, "audio/mpeg")
    ogg = InputFile("voice.ogg", b"OggS" + b"\x00" * 100, "audio/ogg")
    with trio.fail_after(10):
        for method in ("sendAudio", "sendVoice", "sendDocument"):
            bot_api.reply(method, bot_api.ok(bot_api.message()))
        await tg.send_audio(42, mp3, title="Трек", performer="Suno", duration=30, caption="🎵")
        await tg.send_voice(42, ogg, duration=3)
        await tg.send_document(
            42, "BQACAgIAAx-doc-id", caption="оригинал", disable_content_type_detection=True
        )
    audio = only(bot_api, "sendAudio")
    assert audio.form == {
        "chat_id": "42",
        "caption": "🎵",
        "duration": "30",
        "performer": "Suno",
        "title": "Трек",
    }
    assert audio.files == {"audio": ("song.mp3", "audio/mpeg", mp3.data)}
    voice = only(bot_api, "sendVoice")
    assert voice.form == {"chat_id": "42", "duration": "3"}
    assert voice.files == {"voice": ("voice.ogg", "audio/ogg", ogg.data)}
    assert only(bot_api, "sendDocument").json == {
        "chat_id": 42,
        "document": "BQACAgIAAx-doc-id",
        "caption": "оригинал",
        "disable_content_type_detection": True,
    }


async def test_send_document_upload(bot_api: Any, tg: TelegramClient) -> None:
    with trio.fail_after(10):
        bot_api.reply(
            "sendDocument", bot_api.ok(bot_api.message(document={"file_id": "D", "file_name": "result.png"}))
        )
        message = await tg.send_document(42, PNG)
    assert message.document is not None
    assert message.document.file_name == "result.png"
    assert only(bot_api, "sendDocument").files == {"document": ("result.png", "image/png", PNG.data)}


async def test_send_media_group_mixes_uploads_and_file_ids(bot_api: Any, tg: TelegramClient) -> None:
    second = InputFile("b.png", b"\x89PNG-second", "image/png")
    clip = InputFile("c.mp4", b"mp4-bytes", "video/mp4")
    with trio.fail_after(10):
        bot_api.reply(
            "sendMediaGroup",
            bot_api.ok([bot_api.message(message_id=i, media_group_id="g") for i in (1, 2, 3, 4)]),
        )
        messages = await tg.send_media_group(
            42,
            [
                InputMediaPhoto(media=PNG, caption="1/4"),
                InputMediaPhoto(media="AgAC-existing"),
                InputMediaPhoto(media=second),
                InputMediaVideo(media=clip),
            ],
            reply_to_message_id=8,
        )
    assert [m.message_id for m in messages] == [1, 2, 3, 4]
    request = only(bot_api, "sendMediaGroup")
    assert request.params == {
        "chat_id": 42,
        "media": [
            {"type": "photo", "media": "attach://file0", "caption": "1/4"},
            {"type": "photo", "media": "AgAC-existing"},
            {"type": "photo", "media": "attach://file1"},
            {"type": "video", "media": "attach://file2"},
        ],
        "reply_parameters": {"message_id": 8, "allow_sending_without_reply": True},
    }
    assert request.files == {
        "file0": ("result.png", "image/png", PNG.data),
        "file1": ("b.png", "image/png", second.data),
        "file2": ("c.mp4", "video/mp4", clip.data),
    }


async def test_send_media_group_by_file_ids_is_json(bot_api: Any, tg: TelegramClient) -> None:
    with trio.fail_after(10):
        bot_api.reply(
            "sendMediaGroup", bot_api.ok([bot_api.message(message_id=1), bot_api.message(message_id=2)])
        )
        await tg.send_media_group(42, [InputMediaPhoto(media="A"), InputMediaPhoto(media="B")])
    assert only(bot_api, "sendMediaGroup").json == {
        "chat_id": 42,
        "media": [{"type": "photo", "media": "A"}, {"type": "photo", "media": "B"}],
    }


async def test_send_media_group_size_is_checked(bot_api: Any, tg: TelegramClient) -> None:
    with trio.fail_after(10):
        for count in (1, 11):
            with pytest.raises(ValueError, match="2-10"):
                await tg.send_media_group(42, [InputMediaPhoto(media="A")] * count)
    assert bot_api.requests == []


async def test_get_file(bot_api: Any, tg: TelegramClient) -> None:
    with trio.fail_after(10):
        bot_api.reply(
            "getFile",
            bot_api.ok(
                {"file_id": "F", "file_unique_id": "U", "file_size": 10, "file_path": "photos/file_1.jpg"}
            ),
        )
        file = await tg.get_file("F")
    assert file.file_path == "photos/file_1.jpg"
    assert only(bot_api, "getFile").json == {"file_id": "F"}


async def test_send_invoice_for_stars(bot_api: Any, tg: TelegramClient) -> None:
    pay = InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton.pay_button("Оплатить ⭐50")]])
    invoice = {
        "title": "Пополнение",
        "description": "100 ₽",
        "start_parameter": "",
        "currency": "XTR",
        "total_amount": 50,
    }
    with trio.fail_after(10):
        bot_api.reply("sendInvoice", bot_api.ok(bot_api.message(message_id=12, invoice=invoice)))
        message = await tg.send_invoice(
            42,
            "Пополнение",
            "100 ₽",
            "topup:9f1c",
            [LabeledPrice(label="100 ₽", amount=50)],
            reply_markup=pay,
            photo_url="https://kie.ai/logo.png",
        )
    assert message.invoice is not None
    assert message.invoice.total_amount == 50
    assert only(bot_api, "sendInvoice").json == {
        "chat_id": 42,
        "title": "Пополнение",
        "description": "100 ₽",
        "payload": "topup:9f1c",
        "currency": "XTR",
        "prices": [{"label": "100 ₽", "amount": 50}],
        "photo_url": "https://kie.ai/logo.png",
        "reply_markup": {"inline_keyboard": [[{"text": "Оплатить ⭐50", "pay": True}]]},
    }


async def test_create_invoice_link(bot_api: Any, tg: TelegramClient) -> None:
    with trio.fail_after(10):
        bot_api.reply("createInvoiceLink", bot_api.ok("https://t.me/$AbCdEf"))
        link = await tg.create_invoice_link(
            "Пополнение", "100 ₽", "topup:1", [LabeledPrice(label="x", amount=50)]
        )
    assert link == "https://t.me/$AbCdEf"
    assert only(bot_api, "createInvoiceLink").json == {
        "title": "Пополнение",
        "description": "100 ₽",
        "payload": "topup:1",
        "currency": "XTR",
        "prices": [{"label": "x", "amount": 50}],
    }


async def test_answer_pre_checkout_query(bot_api: Any, tg: TelegramClient) -> None:
    with trio.fail_after(10):
        assert await tg.answer_pre_checkout_query("pcq1", True)
        assert await tg.answer_pre_checkout_query("pcq2", False, error_message="Счёт устарел")
        with pytest.raises(ValueError, match="error_message"):
            await tg.answer_pre_checkout_query("pcq3", False)
    assert [r.json for r in bot_api.calls("answerPreCheckoutQuery")] == [
        {"pre_checkout_query_id": "pcq1", "ok": True},
        {"pre_checkout_query_id": "pcq2", "ok": False, "error_message": "Счёт устарел"},
    ]


async def test_refund_star_payment(bot_api: Any, tg: TelegramClient) -> None:
    with trio.fail_after(10):
        bot_api.reply(
            "refundStarPayment", bot_api.ok(True), bot_api.fail(400, "Bad Request: CHARGE_ALREADY_REFUNDED")
        )
        assert await tg.refund_star_payment(42, "stx1")
        with pytest.raises(errors.ChargeAlreadyRefunded):
            await tg.refund_star_payment(42, "stx1")
    assert bot_api.calls("refundStarPayment")[0].json == {"user_id": 42, "telegram_payment_charge_id": "stx1"}


async def test_get_star_transactions(bot_api: Any, tg: TelegramClient) -> None:
    with trio.fail_after(10):
        bot_api.reply(
            "getStarTransactions",
            bot_api.ok(
                {
                    "transactions": [
                        {
                            "id": "stx1",
                            "amount": 50,
                            "date": 1760000030,
                            "source": {
                                "type": "user",
                                "transaction_type": "invoice_payment",
                                "user": {"id": 42, "is_bot": False, "first_name": "A"},
                                "invoice_payload": "topup:1",
                            },
                        },
                    ]
                }
            ),
        )
        page = await tg.get_star_transactions(offset=0, limit=100)
    assert page.transactions[0].id == "stx1"
    assert only(bot_api, "getStarTransactions").json == {"offset": 0, "limit": 100}


async def test_generic_call_for_a_method_without_a_helper(bot_api: Any, tg: TelegramClient) -> None:
    with trio.fail_after(10):
        bot_api.reply("getMyCommands", bot_api.ok([{"command": "start", "description": "Go"}]))
        commands = await tg.call(
            "getMyCommands", {"language_code": "en"}, list[BotCommand], safe_to_retry=True
        )
    assert commands == [BotCommand(command="start", description="Go")]


async def test_error_envelope_over_http_maps_to_class(bot_api: Any, tg: TelegramClient) -> None:
    with trio.fail_after(10):
        bot_api.reply("sendMessage", bot_api.fail(403, "Forbidden: bot was blocked by the user"))
        with pytest.raises(errors.BotBlocked) as caught:
            await tg.send_message(42, "hi")
    assert caught.value.method == "sendMessage"
    assert caught.value.error_code == 403
