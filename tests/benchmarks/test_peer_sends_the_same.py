"""The end-to-end benchmark's aiogram peer (benchmarks/peer_aiogram.py) answers /start with what
kiebot sends a new Russian-speaking user — the same welcome, menu text and 6×2 keyboard — so the
fake Telegram, which parses and checks every message, does the same work for both bots. When a
screen changes, this fails until the peer follows."""

from __future__ import annotations

from benchmarks.peer_aiogram import BUTTONS, MENU, WELCOME
from kiebot.chat.callback_data import cb
from kiebot.chat.format import Safe, render, rub


def test_the_peer_welcome_and_menu_are_kiebots() -> None:
    assert WELCOME.format(name="Bench") == render("ru", "menu.welcome", name="Bench") + "\n\n" + render("ru", "menu.how_it_works")
    assert render("ru", "menu.title", balance=Safe(rub(0, "ru"))) == MENU


def test_the_peer_keyboard_is_kiebots() -> None:
    expected = [
        (render("ru", "menu.images"), cb("cat", "image")),
        (render("ru", "menu.video"), cb("cat", "video")),
        (render("ru", "menu.audio"), cb("cat", "audio")),
        (render("ru", "menu.tools"), cb("cat", "tools")),
        (render("ru", "mine.menu_button"), cb("my")),
        (render("ru", "find.menu_button"), cb("find")),
        (render("ru", "menu.popular"), cb("pop", 0)),
        (render("ru", "menu.free", n=5), cb("free")),
        (render("ru", "menu.balance"), cb("bal")),
        (render("ru", "menu.history"), cb("hist", 0)),
        (render("ru", "menu.referral"), cb("ref")),
        (render("ru", "menu.help"), cb("help")),
    ]
    assert list(BUTTONS) == expected
