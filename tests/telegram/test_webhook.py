"""Webhook helpers: secret-token rules, constant-time header check, registration."""

from __future__ import annotations

from typing import Any

import pytest
import trio

from kiebot.telegram.client import TelegramClient
from kiebot.telegram.webhook import SECRET_HEADER, secret_token_matches, set_webhook, validate_secret_token


@pytest.mark.parametrize("token", ["a", "A-Z_a-z_0-9", "x" * 256, "-_-"])
def test_valid_secret_tokens(token: str) -> None:
    assert validate_secret_token(token) == token


@pytest.mark.parametrize(
    "token", ["", "x" * 257, "with space", "slash/", "plus+", "точка", "tab\t", "new\nline"]
)
def test_invalid_secret_tokens_are_refused_without_echo(token: str) -> None:
    with pytest.raises(ValueError, match="1-256 characters") as caught:
        validate_secret_token(token)
    if token:
        assert token not in str(caught.value)


def test_secret_header_comparison() -> None:
    assert SECRET_HEADER == "X-Telegram-Bot-Api-Secret-Token"
    assert secret_token_matches("s3cret", "s3cret")
    assert not secret_token_matches("s3cret", "s3creT")
    assert not secret_token_matches("s3cret", "")
    assert not secret_token_matches("s3cret", None)
    assert not secret_token_matches("s3cret", "s3cret-and-more")
    assert not secret_token_matches("s3cret", "пароль")  # non-ASCII header values do not crash


async def test_set_webhook_helper_sends_secret_and_allowed_updates(bot_api: Any, tg: TelegramClient) -> None:
    with trio.fail_after(10):
        assert await set_webhook(
            tg, "https://bot.example/telegram/webhook", "Secret_1", ["message", "pre_checkout_query"]
        )
        assert await set_webhook(
            tg,
            "https://bot.example/telegram/webhook",
            "Secret_1",
            [],
            drop_pending_updates=True,
            max_connections=10,
        )
    first, second = bot_api.calls("setWebhook")
    assert first.json == {
        "url": "https://bot.example/telegram/webhook",
        "secret_token": "Secret_1",
        "allowed_updates": ["message", "pre_checkout_query"],
        "drop_pending_updates": False,
    }
    assert second.json == {
        "url": "https://bot.example/telegram/webhook",
        "secret_token": "Secret_1",
        "allowed_updates": [],
        "drop_pending_updates": True,
        "max_connections": 10,
    }


async def test_set_webhook_helper_validates_before_calling(bot_api: Any, tg: TelegramClient) -> None:
    with trio.fail_after(10):
        with pytest.raises(ValueError, match="1-256"):
            await set_webhook(tg, "https://bot.example/hook", "bad token!", ["message"])
        with pytest.raises(ValueError, match="delete_webhook"):
            await set_webhook(tg, "", "Secret_1", ["message"])
    assert bot_api.requests == []
