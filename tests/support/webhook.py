"""What a webhook test sends: the settings of an app in webhook mode on a free loopback port, and
the JSON of a private message as Telegram would post it (defined once for every test folder)."""

from __future__ import annotations

from typing import Any

from kiebot.testing.harness import free_port


def webhook_env(**extra: str) -> dict[str, str]:
    """Webhook mode on a free port of 127.0.0.1, with ``extra`` settings on top."""
    port = free_port()
    return {"BOT_MODE": "webhook", "PORT": str(port), "WEBHOOK_BASE_URL": f"http://127.0.0.1:{port}", **extra}


def private_message(
    update_id: int,
    user_id: int,
    *,
    first_name: str = "U",
    language_code: str = "en",
    message_id: int | None = None,
    **content: Any,
) -> dict[str, Any]:
    """An update with a message from ``user_id`` in its private chat; ``content`` is the message's
    text, entities, payment...; the message id is the update id unless given."""
    return {
        "update_id": update_id,
        "message": {
            "message_id": update_id if message_id is None else message_id,
            "date": 1_700_000_000,
            "chat": {"id": user_id, "type": "private", "first_name": first_name},
            "from": {"id": user_id, "is_bot": False, "first_name": first_name, "language_code": language_code},
            **content,
        },
    }


def command(update_id: int, user_id: int, text: str = "/start", **sender: Any) -> dict[str, Any]:
    """A private message holding one bot command (``/start``, ``/help``...), marked as Telegram marks it."""
    entities = [{"type": "bot_command", "offset": 0, "length": len(text)}]
    return private_message(update_id, user_id, text=text, entities=entities, **sender)
