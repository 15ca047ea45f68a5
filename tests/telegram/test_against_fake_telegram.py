"""The client and the Poller against the project's fake Bot API server (kiebot/testing/fake_telegram.py,
real HTTP on 127.0.0.1, strict about parameters): the two sides were written independently from the
spec, so these tests check our wire format against a second reading of it."""

from __future__ import annotations

import httpx
import pytest
import trio

from kiebot.telegram import errors
from kiebot.telegram.client import TelegramClient
from kiebot.telegram.limiter import FloodLimiter
from kiebot.telegram.polling import Poller
from kiebot.telegram.types import (
    BotCommand,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputFile,
    InputMediaPhoto,
    LabeledPrice,
    Update,
)
from kiebot.telegram.webhook import set_webhook
from kiebot.testing.media import png
from kiebot.testing.telegram.server import FakeTelegram, FloodRules

ANNA = 1001
ALLOWED = ["message", "edited_message", "callback_query", "pre_checkout_query", "my_chat_member"]


@pytest.fixture
async def fake(nursery: trio.Nursery) -> FakeTelegram:
    server = FakeTelegram(precheckout_timeout=5)
    await nursery.start(server.serve)
    server.add_user(ANNA, "Анна", username="anna", language_code="ru")
    return server


@pytest.fixture
def bot(fake: FakeTelegram, http: httpx.AsyncClient) -> TelegramClient:
    assert fake.base_url is not None
    return TelegramClient(http, fake.token, base_url=fake.base_url)


async def poll_one(poller: Poller, kind: str) -> Update:
    """Poll until an update of ``kind`` arrives; confirm everything seen."""
    while True:
        batch = await poller.next_batch()
        poller.confirm(batch)
        for update in batch:
            if update.kind == kind:
                return update


async def test_get_me_and_commands(fake: FakeTelegram, bot: TelegramClient) -> None:
    with trio.fail_after(10):
        me = await bot.get_me()
        assert await bot.set_my_commands(
            [BotCommand(command="start", description="Начать")], language_code="ru"
        )
        assert await bot.set_my_commands(
            [BotCommand(command="start", description="Start")], language_code="en"
        )
        info = await bot.get_webhook_info()
    assert me.is_bot
    assert me.username == "kiebot_test_bot"
    assert fake.commands("ru") == [{"command": "start", "description": "Начать"}]
    assert fake.commands("en") == [{"command": "start", "description": "Start"}]
    assert info.url == ""


async def test_poll_a_command_and_answer_with_a_keyboard_then_a_tap(
    fake: FakeTelegram, bot: TelegramClient
) -> None:
    poller = Poller(bot, timeout=5, allowed_updates=ALLOWED)
    keyboard = InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton.callback("Картинки", "cat:image")]]
    )
    with trio.fail_after(15):
        fake.send_text(ANNA, "/start ref_7")
        start = await poll_one(poller, "message")
        assert start.message is not None
        assert start.message.text == "/start ref_7"
        assert start.chat_id == ANNA
        assert poller.raw(start).startswith(b"{")
        menu = await bot.send_message(
            ANNA, "<b>Выберите</b> раздел", parse_mode="HTML", reply_markup=keyboard
        )
        query_id = fake.tap(ANNA, menu.message_id, "cat:image")
        tap = await poll_one(poller, "callback_query")
        assert tap.callback_query is not None
        assert (tap.callback_query.id, tap.callback_query.data, tap.chat_id) == (query_id, "cat:image", ANNA)
        assert await bot.answer_callback_query(query_id, text="Открываю")
        with pytest.raises(errors.QueryTooOld):
            await bot.answer_callback_query(query_id)
    shown = fake.last_bot_message(ANNA)
    assert shown is not None
    assert shown.text == "Выберите раздел"
    assert shown.callback_data() == ["cat:image"]
    assert [(a.callback_query_id, a.text) for a in fake.callback_answers] == [(query_id, "Открываю")]


async def test_unconfirmed_batches_come_again(fake: FakeTelegram, bot: TelegramClient) -> None:
    poller = Poller(bot, timeout=0, allowed_updates=ALLOWED)
    with trio.fail_after(10):
        fake.send_text(ANNA, "one")
        fake.send_text(ANNA, "two")
        first = await poller.next_batch()
        again = await poller.next_batch()
        poller.confirm(again)
        after = await poller.next_batch()
    assert [u.update_id for u in first] == [u.update_id for u in again]
    assert len(first) == 2
    assert after == []


@pytest.mark.slow
async def test_edits_not_modified_and_deletes(fake: FakeTelegram, bot: TelegramClient) -> None:
    keyboard = InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton.callback("Отмена", "cancel")]])
    with trio.fail_after(10):
        sent = await bot.send_message(ANNA, "Генерация: 10%", reply_markup=keyboard)
        edited = await bot.edit_message_text(ANNA, sent.message_id, "Генерация: 50%", reply_markup=keyboard)
        same = await bot.edit_message_text(ANNA, sent.message_id, "Генерация: 50%", reply_markup=keyboard)
        removed = await bot.edit_message_reply_markup(ANNA, sent.message_id)
        assert await bot.delete_message(ANNA, sent.message_id) is True
        assert await bot.delete_message(ANNA, sent.message_id) is False
        with pytest.raises(errors.MessageToEditNotFound):
            await bot.edit_message_text(ANNA, sent.message_id, "gone")
    assert edited is not None
    assert edited.text == "Генерация: 50%"
    assert same is None
    assert removed is not None
    message = fake.message(ANNA, sent.message_id)
    assert message.deleted
    assert message.reply_markup is None


async def test_uploads_media_group_and_file_ids(fake: FakeTelegram, bot: TelegramClient) -> None:
    first = png(8, 8, (10, 200, 10))
    second = png(4, 6, (10, 10, 200))
    with trio.fail_after(10):
        photo = await bot.send_photo(
            ANNA, InputFile("a.png", first, "image/png"), caption="<i>готово</i>", parse_mode="HTML"
        )
        assert photo.largest_photo is not None
        again = await bot.send_photo(ANNA, photo.largest_photo.file_id)
        album = await bot.send_media_group(
            ANNA,
            [
                InputMediaPhoto(media=InputFile("b.png", second, "image/png"), caption="1"),
                InputMediaPhoto(media=photo.largest_photo.file_id),
            ],
        )
        document = await bot.send_document(
            ANNA, InputFile("full.png", first, "image/png"), caption="оригинал"
        )
        await bot.send_chat_action(ANNA, "upload_document")
    assert photo.caption == "готово"
    assert again.largest_photo is not None
    assert fake.file_bytes(again.largest_photo.file_id) == first
    assert len(album) == 2
    assert album[0].media_group_id is not None
    assert album[0].media_group_id == album[1].media_group_id
    assert album[0].largest_photo is not None
    assert fake.file_bytes(album[0].largest_photo.file_id) == second
    assert document.document is not None
    assert document.document.file_name == "full.png"
    assert fake.chat_actions[-1]["action"] == "upload_document"


async def test_audio_voice_video_uploads(fake: FakeTelegram, bot: TelegramClient) -> None:
    with trio.fail_after(10):
        audio = await bot.send_audio(
            ANNA, InputFile("song.mp3", b"ID3" + bytes(500), "audio/mpeg"), title="Трек", duration=3
        )
        voice = await bot.send_voice(
            ANNA, InputFile("speech.ogg", b"OggS" + bytes(200), "audio/ogg"), duration=2
        )
        video = await bot.send_video(
            ANNA, InputFile("clip.mp4", bytes(1000), "video/mp4"), supports_streaming=True
        )
    assert audio.audio is not None
    assert voice.voice is not None
    assert video.video is not None


async def test_user_photo_is_downloadable(fake: FakeTelegram, bot: TelegramClient) -> None:
    picture = png(16, 16)
    poller = Poller(bot, timeout=5, allowed_updates=ALLOWED)
    with trio.fail_after(10):
        fake.send_photo(ANNA, picture, caption="в стиле аниме")
        update = await poll_one(poller, "message")
        assert update.message is not None
        largest = update.message.largest_photo
        assert largest is not None
        file = await bot.get_file(largest.file_id)
        assert file.file_path is not None
        data = await bot.download_file(file.file_path)
        with pytest.raises(errors.FileTooLarge):
            await bot.download_file(file.file_path, max_bytes=len(picture) - 1)
    assert data == picture


async def test_stars_invoice_pay_refund_and_transactions(fake: FakeTelegram, bot: TelegramClient) -> None:
    poller = Poller(bot, timeout=5, allowed_updates=ALLOWED)
    results = []
    with trio.fail_after(20):
        invoice = await bot.send_invoice(
            ANNA, "Пополнение", "Баланс +100 ₽", "topup:abc", [LabeledPrice(label="100 ₽", amount=50)]
        )
        assert invoice.invoice is not None
        assert (invoice.invoice.currency, invoice.invoice.total_amount) == ("XTR", 50)

        async def pay() -> None:
            results.append(await fake.pay_invoice(ANNA, invoice.message_id))

        async with trio.open_nursery() as nursery:
            nursery.start_soon(pay)
            checkout = await poll_one(poller, "pre_checkout_query")
            query = checkout.pre_checkout_query
            assert query is not None
            assert (query.invoice_payload, query.total_amount, checkout.chat_id) == ("topup:abc", 50, ANNA)
            assert await bot.answer_pre_checkout_query(query.id, True)
        paid = await poll_one(poller, "message")
        assert paid.message is not None
        payment = paid.message.successful_payment
        assert payment is not None
        assert (payment.currency, payment.total_amount, payment.invoice_payload) == ("XTR", 50, "topup:abc")
        assert await bot.refund_star_payment(ANNA, payment.telegram_payment_charge_id)
        with pytest.raises(errors.ChargeAlreadyRefunded):
            await bot.refund_star_payment(ANNA, payment.telegram_payment_charge_id)
        refunded = await poll_one(poller, "message")
        page = await bot.get_star_transactions(limit=100)
        link = await bot.create_invoice_link(
            "Пополнение", "Баланс", "topup:def", [LabeledPrice(label="x", amount=10)]
        )
    assert [r.status for r in results] == ["paid"]
    assert refunded.message is not None
    assert refunded.message.refunded_payment is not None
    assert {t.id for t in page.transactions} == {payment.telegram_payment_charge_id}
    assert link.startswith("https://")


async def test_declined_checkout(fake: FakeTelegram, bot: TelegramClient) -> None:
    poller = Poller(bot, timeout=5, allowed_updates=ALLOWED)
    results = []
    with trio.fail_after(20):
        invoice = await bot.send_invoice(
            ANNA, "Пополнение", "Баланс", "topup:old", [LabeledPrice(label="x", amount=5)]
        )

        async def pay() -> None:
            results.append(await fake.pay_invoice(ANNA, invoice.message_id))

        async with trio.open_nursery() as nursery:
            nursery.start_soon(pay)
            checkout = await poll_one(poller, "pre_checkout_query")
            assert checkout.pre_checkout_query is not None
            await bot.answer_pre_checkout_query(
                checkout.pre_checkout_query.id, False, error_message="Счёт устарел"
            )
    assert [(r.status, r.error_message) for r in results] == [("declined", "Счёт устарел")]


async def test_blocked_user(fake: FakeTelegram, bot: TelegramClient) -> None:
    poller = Poller(bot, timeout=5, allowed_updates=ALLOWED)
    with trio.fail_after(10):
        fake.block_bot(ANNA)
        update = await poll_one(poller, "my_chat_member")
        with pytest.raises(errors.BotBlocked):
            await bot.send_message(ANNA, "hello?")
        fake.unblock_bot(ANNA)
        back = await poll_one(poller, "my_chat_member")
    assert update.my_chat_member is not None
    assert update.my_chat_member.blocked_bot
    assert update.chat_id == ANNA
    assert back.my_chat_member is not None
    assert back.my_chat_member.unblocked_bot


async def test_webhook_blocks_polling_until_deleted(fake: FakeTelegram, bot: TelegramClient) -> None:
    poller = Poller(bot, timeout=0, allowed_updates=ALLOWED)
    with trio.fail_after(10):
        assert await set_webhook(bot, "http://127.0.0.1:9/telegram/webhook", "Secret_123", ALLOWED)
        info = await bot.get_webhook_info()
        with pytest.raises(errors.WebhookIsActive):
            await poller.next_batch()
        assert await bot.delete_webhook()
        assert await poller.next_batch() == []
    assert info.url == "http://127.0.0.1:9/telegram/webhook"
    assert sorted(info.allowed_updates or []) == sorted(ALLOWED)


async def test_second_poller_terminates_the_first(fake: FakeTelegram, bot: TelegramClient) -> None:
    first = Poller(bot, timeout=10, allowed_updates=ALLOWED)
    second = Poller(bot, timeout=1, allowed_updates=ALLOWED)
    outcome: list[str] = []

    async def run_first() -> None:
        try:
            await first.next_batch()
            outcome.append("returned")
        except errors.TerminatedByOtherPoll:
            outcome.append("terminated")

    with trio.fail_after(15):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(run_first)
            await fake.wait_for(lambda: fake.calls("getUpdates"), what="the first long poll")
            await second.next_batch()
    assert outcome == ["terminated"]


async def test_injected_faults(fake: FakeTelegram, bot: TelegramClient) -> None:
    with trio.fail_after(15):
        fake.inject("getMe", status=500)
        assert (await bot.get_me()).is_bot  # retried: a read is safe to repeat
        fake.inject("sendMessage", status=502)
        with pytest.raises(errors.ServerError):
            await bot.send_message(ANNA, "maybe delivered")  # not repeated: could duplicate
        fake.inject("sendMessage", status=429, retry_after=1)
        started = trio.current_time()
        sent = await bot.send_message(ANNA, "after the pause")
        waited = trio.current_time() - started
    assert sent.text == "after the pause"
    assert waited >= 1
    assert [r.status for r in fake.calls("getMe")] == [500, 200]
    assert [r.status for r in fake.calls("sendMessage")] == [502, 429, 200]


@pytest.mark.slow
async def test_the_limiter_keeps_the_fakes_flood_control_quiet(
    nursery: trio.Nursery, http: httpx.AsyncClient
) -> None:
    """With Telegram-like flood rules on, a burst through our limiter never meets a 429: five
    messages to one chat (three at once, then one a second) and 35 to different chats (30 in the
    first second)."""
    fake = FakeTelegram(flood_rules=FloodRules())
    await nursery.start(fake.serve)
    assert fake.base_url is not None
    for user_id in range(2000, 2036):
        fake.add_user(user_id, f"U{user_id}")
    bot = TelegramClient(http, fake.token, base_url=fake.base_url, limiter=FloodLimiter())

    async def send(chat_id: int, text: str) -> None:
        await bot.send_message(chat_id, text)

    with trio.fail_after(20):
        async with trio.open_nursery() as senders:
            for i in range(5):
                senders.start_soon(send, 2000, f"same chat {i}")
            for user_id in range(2001, 2036):
                senders.start_soon(send, user_id, "broadcast")
    statuses = [r.status for r in fake.calls("sendMessage")]
    assert statuses == [200] * 40


@pytest.mark.slow
async def test_without_our_limiter_the_fake_floods_and_the_client_recovers(
    nursery: trio.Nursery, http: httpx.AsyncClient
) -> None:
    """The negative control: a limiter that lets everything through meets the fake's 429s, and the
    client still delivers every message exactly once by honouring retry_after."""
    fake = FakeTelegram(flood_rules=FloodRules())
    await nursery.start(fake.serve)
    assert fake.base_url is not None
    fake.add_user(3000, "Flooded")
    permissive = FloodLimiter(per_chat_rate=1000, per_chat_burst=1000, global_per_second=1000)
    bot = TelegramClient(http, fake.token, base_url=fake.base_url, limiter=permissive, max_retries=10)
    with trio.fail_after(20):
        async with trio.open_nursery() as senders:
            for i in range(6):
                senders.start_soon(bot.send_message, 3000, f"m{i}")
    statuses = [r.status for r in fake.calls("sendMessage")]
    assert 429 in statuses
    assert statuses.count(200) == 6
    assert sorted(m.text or "" for m in fake.bot_messages(3000)) == [f"m{i}" for i in range(6)]
