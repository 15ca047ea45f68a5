"""Messages, keyboards, edits, deletes, callback queries, chat actions, commands and blocking,
driven over real HTTP with plain httpx."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import trio

from kiebot.testing.media import png
from kiebot.testing.telegram.server import FakeTelegram, SimError

USER = 2001


@pytest.fixture
async def fake(nursery: trio.Nursery) -> FakeTelegram:
    server = FakeTelegram(callback_timeout=0.5)
    await nursery.start(server.serve)
    server.add_user(USER, "Boris", language_code="en")
    return server


async def call(client: httpx.AsyncClient, fake: FakeTelegram, method: str, **params: Any) -> tuple[int, dict[str, Any]]:
    return await fake.call_raw(client, method, **params)


def keyboard(*rows: list[dict[str, Any]]) -> dict[str, Any]:
    return {"inline_keyboard": list(rows)}


async def pick(client: httpx.AsyncClient, fake: FakeTelegram, text: str, data: str) -> int:
    """A "pick" message to USER with one callback button; its message id."""
    button = {"text": text, "callback_data": data}
    _, sent = await call(client, fake, "sendMessage", chat_id=USER, text="pick", reply_markup=keyboard([button]))
    message_id: int = sent["result"]["message_id"]
    return message_id


async def test_text_limits_count_characters_after_entity_parsing(
    fake: FakeTelegram, client: httpx.AsyncClient
) -> None:
    with trio.fail_after(5):
        fits = await call(
            client, fake, "sendMessage", chat_id=USER, text="<b>" + "я" * 4096 + "</b>", parse_mode="HTML"
        )
        too_long = await call(client, fake, "sendMessage", chat_id=USER, text="x" * 4097)
        entities = await call(
            client, fake, "sendMessage", chat_id=USER, text="&lt;" * 4096, parse_mode="HTML"
        )
        blank = await call(client, fake, "sendMessage", chat_id=USER, text="<b> </b>", parse_mode="HTML")
        broken = await call(client, fake, "sendMessage", chat_id=USER, text="a <br> b", parse_mode="HTML")
    assert fits[0] == 200
    assert fits[1]["result"]["entities"] == [{"type": "bold", "offset": 0, "length": 4096}]
    assert too_long == (
        400,
        {"ok": False, "error_code": 400, "description": "Bad Request: message is too long"},
    )
    assert entities[0] == 200
    assert entities[1]["result"]["text"] == "<" * 4096
    assert blank[1]["description"] == "Bad Request: message text is empty"
    assert (
        broken[1]["description"]
        == 'Bad Request: can\'t parse entities: Unsupported start tag "br" at byte offset 2'
    )
    assert len(fake.transcript(USER)) == 2
    assert fake.transcript(USER)[0].source == "<b>" + "я" * 4096 + "</b>"


async def test_captions_are_limited_to_1024(fake: FakeTelegram, client: httpx.AsyncClient) -> None:
    photo = fake.send_photo(USER, png())["photo"][0]["file_id"]
    with trio.fail_after(5):
        status, body = await call(client, fake, "sendPhoto", chat_id=USER, photo=photo, caption="c" * 1025)
        ok, _ = await call(client, fake, "sendPhoto", chat_id=USER, photo=photo, caption="c" * 1024)
    assert (status, body["description"]) == (400, "Bad Request: message caption is too long")
    assert ok == 200


@pytest.mark.parametrize(
    ("markup", "description"),
    [
        (keyboard([{"text": "x", "callback_data": ""}]), "Bad Request: BUTTON_DATA_INVALID"),
        (keyboard([{"text": "x", "callback_data": "я" * 33}]), "Bad Request: BUTTON_DATA_INVALID"),
        (keyboard([{"text": "x", "url": "not a url"}]), "Bad Request: BUTTON_URL_INVALID"),
        (
            keyboard([{"text": "x"}]),
            "Bad Request: can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard",
        ),
        (
            keyboard([{"text": "x", "callback_data": "a", "url": "https://a.test"}]),
            "Bad Request: BUTTON_TYPE_INVALID",
        ),
        (
            keyboard([{"text": str(i), "callback_data": str(i)} for i in range(9)]),
            "Bad Request: reply markup is too long",
        ),
        (
            keyboard(
                *[[{"text": str(i * 8 + j), "callback_data": "d"} for j in range(8)] for i in range(13)]
            ),
            "Bad Request: reply markup is too long",
        ),
        (
            {"inline_keyboard": [{"text": "row is not a list"}]},
            'Bad Request: field "inline_keyboard" of the InlineKeyboardMarkup must be an Array of Arrays',
        ),
        (keyboard([{"text": "Pay", "pay": True}]), "Bad Request: BUTTON_TYPE_INVALID"),
    ],
)
async def test_inline_keyboards_are_checked_like_telegram(
    fake: FakeTelegram, client: httpx.AsyncClient, markup: dict[str, Any], description: str
) -> None:
    with trio.fail_after(5):
        status, body = await call(client, fake, "sendMessage", chat_id=USER, text="menu", reply_markup=markup)
    assert (status, body["description"]) == (400, description)
    assert fake.transcript(USER) == []


async def test_a_64_byte_callback_data_and_100_buttons_are_fine(
    fake: FakeTelegram, client: httpx.AsyncClient
) -> None:
    rows = [[{"text": str(i * 8 + j), "callback_data": "d" * 64} for j in range(8)] for i in range(12)]
    rows.append([{"text": "last", "callback_data": "я" * 32}] * 4)
    with trio.fail_after(5):
        status, body = await call(
            client, fake, "sendMessage", chat_id=USER, text="menu", reply_markup=keyboard(*rows)
        )
    assert status == 200, body
    assert len(fake.last_bot_message(USER).callback_data()) == 100  # type: ignore[union-attr]


async def test_edits_keep_count_and_refuse_no_op_edits(fake: FakeTelegram, client: httpx.AsyncClient) -> None:
    menu = keyboard([{"text": "A", "callback_data": "a"}])
    with trio.fail_after(5):
        _, sent = await call(client, fake, "sendMessage", chat_id=USER, text="step 1", reply_markup=menu)
        message_id = sent["result"]["message_id"]
        same_markup = await call(
            client, fake, "editMessageReplyMarkup", chat_id=USER, message_id=message_id, reply_markup=menu
        )
        step_2 = {"chat_id": USER, "message_id": message_id, "text": "step 2", "reply_markup": menu}
        edited, again = [await call(client, fake, "editMessageText", **step_2) for _ in range(2)]
        dropped = await call(
            client, fake, "editMessageText", chat_id=USER, message_id=message_id, text="step 2"
        )
        no_keyboard = await call(client, fake, "editMessageReplyMarkup", chat_id=USER, message_id=message_id)
        no_caption = await call(
            client, fake, "editMessageCaption", chat_id=USER, message_id=message_id, caption="c"
        )
        no_id = await call(client, fake, "editMessageText", chat_id=USER, text="x")
    assert same_markup[1]["description"].startswith("Bad Request: message is not modified")
    assert edited[0] == 200
    assert edited[1]["result"]["text"] == "step 2"
    assert "edit_date" in edited[1]["result"]
    assert again[1]["description"].startswith("Bad Request: message is not modified")
    assert dropped[0] == 200
    assert "reply_markup" not in dropped[1]["result"]
    assert no_keyboard[1]["description"].startswith("Bad Request: message is not modified")
    assert no_caption[1]["description"] == "Bad Request: there is no caption in the message to edit"
    assert no_id[1]["description"] == "Bad Request: message identifier is not specified"
    message = fake.message(USER, message_id)
    assert (message.text, message.edit_count, message.reply_markup) == ("step 2", 2, None)


async def test_deleted_messages_stay_in_the_transcript_marked(
    fake: FakeTelegram, client: httpx.AsyncClient
) -> None:
    with trio.fail_after(5):
        _, sent = await call(client, fake, "sendMessage", chat_id=USER, text="bye")
        message_id = sent["result"]["message_id"]
        first = await call(client, fake, "deleteMessage", chat_id=USER, message_id=message_id)
        second = await call(client, fake, "deleteMessage", chat_id=USER, message_id=message_id)
        edit = await call(client, fake, "editMessageText", chat_id=USER, message_id=message_id, text="x")
    assert first == (200, {"ok": True, "result": True})
    assert second[1]["description"] == "Bad Request: message to delete not found"
    assert edit[1]["description"] == "Bad Request: message to edit not found"
    assert fake.transcript(USER)[0].deleted
    assert fake.transcript(USER, include_deleted=False) == []
    assert fake.last_bot_message(USER) is None


async def test_message_ids_increase_per_chat_both_ways(fake: FakeTelegram, client: httpx.AsyncClient) -> None:
    fake.add_user(2002, "Other")
    first = fake.send_text(USER, "hi")["message_id"]
    with trio.fail_after(5):
        _, reply = await call(
            client, fake, "sendMessage", chat_id=USER, text="hello", reply_parameters={"message_id": first}
        )
        _, other = await call(client, fake, "sendMessage", chat_id=2002, text="hello")
    assert first == 1
    assert reply["result"]["message_id"] == 2
    assert reply["result"]["reply_to_message"]["text"] == "hi"
    assert other["result"]["message_id"] == 1


async def test_a_tap_is_a_callback_query_answered_once(fake: FakeTelegram, client: httpx.AsyncClient) -> None:
    with trio.fail_after(5):
        message_id = await pick(client, fake, "Buy", "buy:1")
        query_id = fake.tap(USER, message_id, "buy:1")
        _, updates = await call(client, fake, "getUpdates")
        first = await call(
            client, fake, "answerCallbackQuery", callback_query_id=query_id, text="Done", show_alert=True
        )
        second = await call(client, fake, "answerCallbackQuery", callback_query_id=query_id)
        unknown = await call(client, fake, "answerCallbackQuery", callback_query_id="123")
    query = updates["result"][0]["callback_query"]
    assert (query["id"], query["data"], query["from"]["id"]) == (query_id, "buy:1", USER)
    assert query["message"]["message_id"] == message_id
    assert "chat_instance" in query
    assert first == (200, {"ok": True, "result": True})
    too_old = "Bad Request: query is too old and response timeout expired or query ID is invalid"
    assert second[1]["description"] == too_old
    assert unknown[1]["description"] == too_old
    [answer] = fake.callback_answers
    assert (answer.callback_query_id, answer.text, answer.show_alert, answer.data) == (
        query_id,
        "Done",
        True,
        "buy:1",
    )


async def test_late_callback_answers_are_too_old(fake: FakeTelegram, client: httpx.AsyncClient) -> None:
    with trio.fail_after(5):
        query_id = fake.tap(USER, await pick(client, fake, "A", "a"), "a")
        await trio.sleep(0.6)
        status, body = await call(client, fake, "answerCallbackQuery", callback_query_id=query_id)
    assert (status, body["description"]) == (
        400,
        "Bad Request: query is too old and response timeout expired or query ID is invalid",
    )
    assert fake.callback_answers == []


async def test_taps_on_missing_buttons_need_force(fake: FakeTelegram, client: httpx.AsyncClient) -> None:
    with trio.fail_after(5):
        message_id = await pick(client, fake, "A", "a")
    with pytest.raises(SimError, match="not on message"):
        fake.tap(USER, message_id, "admin:grant")
    query_id = fake.tap(USER, message_id, "admin:grant", force=True)
    assert fake.updates[-1]["callback_query"]["data"] == "admin:grant"
    assert fake.updates[-1]["callback_query"]["id"] == query_id
    assert fake.tap_button(USER, message_id, "A") != query_id


async def test_blocking_sends_my_chat_member_and_403s(fake: FakeTelegram, client: httpx.AsyncClient) -> None:
    fake.block_bot(USER)
    with trio.fail_after(5):
        text = await call(client, fake, "sendMessage", chat_id=USER, text="hi")
        action = await call(client, fake, "sendChatAction", chat_id=USER, action="typing")
        fake.unblock_bot(USER)
        after = await call(client, fake, "sendMessage", chat_id=USER, text="welcome back")
        _, updates = await call(client, fake, "getUpdates")
    forbidden = {"ok": False, "error_code": 403, "description": "Forbidden: bot was blocked by the user"}
    assert text == (403, forbidden)
    assert action == (403, forbidden)
    assert after[0] == 200
    members = [u["my_chat_member"]["new_chat_member"]["status"] for u in updates["result"]]
    assert members == ["kicked", "member"]
    fake.block_bot(USER)
    with pytest.raises(SimError, match="has blocked the bot"):
        fake.send_text(USER, "a blocked chat has no input field")


async def test_chat_actions_are_recorded_and_checked(fake: FakeTelegram, client: httpx.AsyncClient) -> None:
    with trio.fail_after(5):
        ok = await call(client, fake, "sendChatAction", chat_id=USER, action="upload_photo")
        unknown_chat = await call(client, fake, "sendChatAction", chat_id=9, action="typing")
    assert ok == (200, {"ok": True, "result": True})
    assert unknown_chat[1]["description"] == "Bad Request: chat not found"
    assert [(a["chat_id"], a["action"]) for a in fake.chat_actions] == [(USER, "upload_photo")]


async def test_commands_per_language_and_scope(fake: FakeTelegram, client: httpx.AsyncClient) -> None:
    ru = [
        {"command": "start", "description": "Начать"},
        {"command": "paysupport", "description": "Помощь с оплатой"},
    ]
    en = [{"command": "start", "description": "Start"}]
    with trio.fail_after(5):
        await call(client, fake, "setMyCommands", commands=ru)
        await call(client, fake, "setMyCommands", commands=en, language_code="en")
        bad = await call(client, fake, "setMyCommands", commands=[{"command": "Start!", "description": "x"}])
        _, got_en = await call(client, fake, "getMyCommands", language_code="en")
        _, got_private = await call(client, fake, "getMyCommands", scope={"type": "all_private_chats"})
    assert bad[1]["description"] == "Bad Request: BOT_COMMAND_INVALID"
    assert got_en["result"] == en
    assert got_private["result"] == []
    assert fake.commands() == ru
    assert fake.commands("en") == en
    fake.add_user(2003, "Vera", language_code="ru")
    fake.add_user(2004, "Dieter", language_code="de")
    assert fake.menu_for(USER) == en
    assert fake.menu_for(2003) == ru
    assert fake.menu_for(2004) == ru


async def test_wait_for_message_wakes_on_sends_and_edits(
    fake: FakeTelegram, client: httpx.AsyncClient
) -> None:
    async def bot(task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        _, sent = await call(client, fake, "sendMessage", chat_id=USER, text="Generating… 10%")
        await trio.sleep(0.05)
        await call(
            client,
            fake,
            "editMessageText",
            chat_id=USER,
            message_id=sent["result"]["message_id"],
            text="Done ✅",
        )

    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            await nursery.start(bot)
            progress = await fake.wait_for_message(USER, contains="Generating")
            done = await fake.wait_for_message(USER, contains="Done")
    assert progress is done
    assert done.edit_count == 1
    with trio.fail_after(5), pytest.raises(AssertionError, match="no bot message in chat 2001"):
        await fake.wait_for_message(USER, contains="never", timeout=0.1)


async def test_group_chats_carry_messages_both_ways(fake: FakeTelegram, client: httpx.AsyncClient) -> None:
    fake.add_group(-1001234, "Kie fans")
    fake.send_text(USER, "/start@kiebot_test_bot", chat_id=-1001234)
    with trio.fail_after(5):
        _, updates = await call(client, fake, "getUpdates")
        status, reply = await call(client, fake, "sendMessage", chat_id=-1001234, text="Hi group")
    message = updates["result"][0]["message"]
    assert message["chat"] == {"id": -1001234, "type": "supergroup", "title": "Kie fans"}
    assert message["from"]["id"] == USER
    assert message["entities"] == [{"type": "bot_command", "offset": 0, "length": 22}]
    assert status == 200
    assert reply["result"]["chat"]["id"] == -1001234
    assert [m.content for m in fake.transcript(-1001234)] == ["/start@kiebot_test_bot", "Hi group"]
