"""The peer of the end-to-end benchmark: a minimal aiogram 3 webhook bot that answers ``/start``.

It does what kiebot does for ``/start`` as far as Telegram can see — a welcome message, then a
menu message with a 6×2 inline keyboard, the same texts and buttons — and nothing else: no
database, no update log, aiogram's defaults (aiohttp server, ``SimpleRequestHandler`` with
``handle_in_background=True``, which answers Telegram *before* the update is handled, so an update
in flight is lost if the process dies; kiebot answers only after the update is stored).

Run by :mod:`benchmarks.e2e` as ``python -m benchmarks.peer_aiogram`` with ``TELEGRAM_BOT_TOKEN``,
``TELEGRAM_API_URL`` (the fake Telegram), ``PORT`` and ``WEBHOOK_SECRET``. ``GET /readyz`` answers
200 once the server listens. Needs the ``bench`` extra (``pip install -e '.[bench]'``).
"""

from __future__ import annotations

import os
import sys

# Exactly what kiebot sends a new Russian-speaking user for /start (its locale files, welcome
# balance 0): the welcome, then the menu with its 6x2 keyboard. The fake Telegram parses and
# checks every message, so equal texts mean equal work on the harness's side.
WELCOME = (
    "👋 {name}, добро пожаловать!\nЗдесь нейросети рисуют картинки, снимают видео, озвучивают текст и пишут музыку."
    "\n\n"
    "Как это работает:\n1. Выберите раздел и модель.\n2. Настройте параметры кнопками и отправьте описание "
    "(и фото, если нужно).\n3. Увидите точную цену — подтвердите, и результат придёт сюда.\n"
    "Если генерация не удалась, деньги сразу вернутся на баланс."
)
MENU = "🏠 <b>Главное меню</b>\nБаланс: 0\u00a0₽\n\nВыберите раздел:"
BUTTONS = (
    ("🖼 Изображения", "cat:image"),
    ("🎬 Видео", "cat:video"),
    ("🎵 Аудио и музыка", "cat:audio"),
    ("🛠 Инструменты", "cat:tools"),
    ("⭐ Мои модели", "my"),
    ("🔎 Найти модель", "find"),
    ("🔥 Популярное", "pop:0"),
    ("🎁 Бесплатно: 5 генераций", "free"),
    ("💰 Баланс", "bal"),
    ("📜 История", "hist:0"),
    ("👥 Пригласить друга", "ref"),
    ("🆘 Помощь", "help"),
)


def main() -> int:
    from aiogram import Bot, Dispatcher, Router
    from aiogram.client.default import DefaultBotProperties
    from aiogram.client.session.aiohttp import AiohttpSession
    from aiogram.client.telegram import TelegramAPIServer
    from aiogram.filters import CommandStart
    from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup, Message
    from aiogram.webhook.aiohttp_server import SimpleRequestHandler, setup_application
    from aiohttp import web

    keyboard = InlineKeyboardMarkup(
        inline_keyboard=[
            [InlineKeyboardButton(text=text, callback_data=data) for text, data in BUTTONS[i : i + 2]]
            for i in range(0, len(BUTTONS), 2)
        ]
    )
    router = Router()

    @router.message(CommandStart())
    async def start(message: Message) -> None:
        name = message.from_user.first_name if message.from_user else ""
        await message.answer(WELCOME.format(name=name))
        await message.answer(MENU, reply_markup=keyboard)

    session = AiohttpSession(api=TelegramAPIServer.from_base(os.environ["TELEGRAM_API_URL"]))
    bot = Bot(os.environ["TELEGRAM_BOT_TOKEN"], session=session, default=DefaultBotProperties(parse_mode="HTML"))
    dispatcher = Dispatcher()
    dispatcher.include_router(router)
    app = web.Application()
    SimpleRequestHandler(dispatcher=dispatcher, bot=bot, secret_token=os.environ["WEBHOOK_SECRET"]).register(
        app, path="/webhook"
    )
    setup_application(app, dispatcher, bot=bot)

    async def readyz(_: web.Request) -> web.Response:
        return web.json_response({"ready": True})

    app.router.add_get("/readyz", readyz)
    web.run_app(app, host="127.0.0.1", port=int(os.environ["PORT"]), print=None, access_log=None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
