"""Webhook helpers: registering the webhook and checking Telegram's secret header.

https://core.telegram.org/bots/api#setwebhook: ``secret_token`` is 1-256 characters of
``A-Z a-z 0-9 _ -``; Telegram sends it back in ``X-Telegram-Bot-Api-Secret-Token`` on every webhook
request, and it is the only proof that a request comes from Telegram (payloads are not signed).
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Final

from kiebot.telegram.limits import MAX_SECRET_TOKEN_CHARS

if TYPE_CHECKING:
    from kiebot.telegram.client import TelegramClient

SECRET_HEADER: Final = "X-Telegram-Bot-Api-Secret-Token"

_SECRET_RE: Final = re.compile(rf"[A-Za-z0-9_-]{{1,{MAX_SECRET_TOKEN_CHARS}}}")


def validate_secret_token(secret_token: str) -> str:
    """``secret_token`` itself when Telegram would accept it; ValueError otherwise. The message
    never contains the token itself (it is a secret)."""
    if not _SECRET_RE.fullmatch(secret_token):
        raise ValueError(
            f"the webhook secret token must be 1-{MAX_SECRET_TOKEN_CHARS} characters of A-Z, a-z, 0-9, _ and - "
            f"(got {len(secret_token)} characters)"
        )
    return secret_token


def secret_token_matches(expected: str, received: str | None) -> bool:
    """Constant-time comparison of the ``X-Telegram-Bot-Api-Secret-Token`` header with ours."""
    if received is None:
        return False
    return hmac.compare_digest(expected.encode(), received.encode())


async def set_webhook(
    client: TelegramClient,
    url: str,
    secret_token: str,
    allowed_updates: Sequence[str],
    drop_pending_updates: bool = False,
    *,
    max_connections: int | None = None,
) -> bool:
    """Register ``url`` as the webhook, always with a secret token and an explicit
    ``allowed_updates`` (omitting it would silently keep a previous, possibly narrower, list — and a
    missing ``pre_checkout_query`` makes every Stars checkout time out). Validates before calling."""
    validate_secret_token(secret_token)
    if not url:
        raise ValueError("an empty URL removes the webhook; call delete_webhook instead")
    return await client.set_webhook(
        url,
        secret_token=secret_token,
        allowed_updates=allowed_updates,
        drop_pending_updates=drop_pending_updates,
        max_connections=max_connections,
    )
