"""Bot API methods about the bot itself and how it gets updates: getMe, getUpdates, setWebhook,
deleteWebhook, getWebhookInfo, setMyCommands, getMyCommands, deleteMyCommands.

https://core.telegram.org/bots/api#getting-updates and #setmycommands. setWebhook checks what the
server checks (``Client::do_set_webhook``): an http(s) URL; HTTPS on ports 80, 88, 443 or 8443 —
relaxed for loopback hosts so a test receiver on 127.0.0.1:<any port> works; a secret token of
1–256 characters from ``A-Z a-z 0-9 _ -``; ``max_connections`` clamped to 1–100.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from kiebot.testing.telegram.model.state import Ok, State, WebhookConfig, WebhookStatus
from kiebot.testing.telegram.rules import errors as E
from kiebot.testing.telegram.rules.errors import api_error, bad_request
from kiebot.testing.telegram.rules.params import Params, missing

_SECRET_CHARS = re.compile(r"[A-Za-z0-9_-]*")
_COMMAND = re.compile(r"[a-z0-9_]{1,32}")
_LOOPBACK = {"127.0.0.1", "localhost", "::1"}
_SCOPES = {
    "default",
    "all_private_chats",
    "all_group_chats",
    "all_chat_administrators",
    "chat",
    "chat_administrators",
    "chat_member",
}


async def get_me(state: State, params: Params) -> dict[str, Any]:
    return state.world.bot.to_api() | {
        "can_join_groups": False,
        "can_read_all_group_messages": False,
        "supports_inline_queries": False,
        "can_connect_to_business": False,
        "has_main_web_app": False,
    }


def _allowed_updates(params: Params) -> list[str] | None:
    value = params.json("allowed_updates")
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise bad_request("can't parse allowed_updates JSON object")
    return list(value)


async def get_updates(state: State, params: Params) -> list[dict[str, Any]]:
    if state.webhook is not None:
        raise api_error(409, E.WEBHOOK_ACTIVE)
    state.updates.set_allowed(_allowed_updates(params))
    timeout = params.integer("timeout")
    return await state.updates.get_updates(
        params.integer("offset"), params.integer("limit"), float(timeout) if timeout is not None else None
    )


def _check_webhook_url(url: str) -> None:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise bad_request(E.BAD_WEBHOOK_URL) from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise bad_request(E.BAD_WEBHOOK_URL)
    if parts.hostname in _LOOPBACK:
        return
    if parts.scheme != "https":
        raise bad_request(E.WEBHOOK_HTTPS)
    if port not in (None, 80, 88, 443, 8443):
        raise bad_request(E.WEBHOOK_PORT)


async def set_webhook(state: State, params: Params) -> Ok:
    url = params.text("url")
    if url is None:
        raise missing("url")
    if url == "":
        return await delete_webhook(state, params)
    _check_webhook_url(url)
    secret = params.text("secret_token") or None
    if secret is not None:
        if len(secret) > 256:
            raise bad_request(E.SECRET_TOO_LONG)
        if not _SECRET_CHARS.fullmatch(secret):
            raise bad_request(E.SECRET_BAD_CHARS)
    connections = params.integer("max_connections")
    config = WebhookConfig(
        url=url,
        secret_token=secret,
        max_connections=40 if connections is None else min(max(connections, 1), 100),
        ip_address=params.text("ip_address") or None,
        allowed_updates=_allowed_updates(params),
    )
    drop = params.flag("drop_pending_updates")
    if drop:
        state.updates.drop_pending()
    if state.webhook == config:
        return Ok(True, "Webhook is already set")
    state.updates.abort_poll(E.TERMINATED_BY_WEBHOOK)
    state.updates.set_allowed(config.allowed_updates)
    state.webhook = config
    state.webhook_status = WebhookStatus()
    state.on_webhook_change()
    state.publish("webhook_set", url=url, max_connections=config.max_connections)
    return Ok(True, "Webhook was set")


async def delete_webhook(state: State, params: Params) -> Ok:
    if params.flag("drop_pending_updates"):
        state.updates.drop_pending()
    if state.webhook is None:
        return Ok(True, "Webhook is already deleted")
    state.webhook = None
    state.on_webhook_change()
    state.publish("webhook_deleted")
    return Ok(True, "Webhook was deleted")


async def get_webhook_info(state: State, params: Params) -> dict[str, Any]:
    state.updates.expire()
    config = state.webhook
    info: dict[str, Any] = {
        "url": config.url if config else "",
        "has_custom_certificate": False,
        "pending_update_count": len(state.updates.pending),
    }
    if config is not None:
        info["max_connections"] = config.max_connections
        if config.ip_address:
            info["ip_address"] = config.ip_address
        if config.allowed_updates is not None:
            info["allowed_updates"] = sorted(state.updates.allowed)
    status = state.webhook_status
    if status.last_error_date is not None:
        info["last_error_date"] = status.last_error_date
        info["last_error_message"] = status.last_error_message
    return info


def scope_key(scope: Any) -> str:
    """``{"type": "chat", "chat_id": 5}`` → ``"chat:5"``; absent → ``"default"``."""
    if scope is None:
        return "default"
    if not isinstance(scope, dict) or scope.get("type") not in _SCOPES:
        raise bad_request("can't parse BotCommandScope JSON object")
    parts = [str(scope["type"])]
    for name in ("chat_id", "user_id"):
        if name in scope:
            parts.append(str(scope[name]))
    return ":".join(parts)


def _language(params: Params) -> str:
    code = params.text("language_code") or ""
    if code and not re.fullmatch(r"[a-z]{2}", code):
        raise bad_request("invalid language code specified")
    return code


async def set_my_commands(state: State, params: Params) -> bool:
    commands = params.json("commands")
    if commands is None:
        raise missing("commands")
    if not isinstance(commands, list):
        raise bad_request("can't parse commands JSON object")
    if len(commands) > 100:
        raise bad_request("BOT_COMMANDS_TOO_MUCH")
    clean = []
    for command in commands:
        if not isinstance(command, dict):
            raise bad_request("can't parse BotCommand JSON object")
        name, description = command.get("command"), command.get("description")
        if not isinstance(name, str) or not _COMMAND.fullmatch(name):
            raise bad_request(E.BOT_COMMAND_INVALID)
        if not isinstance(description, str) or not 1 <= len(description.strip()) <= 256:
            raise bad_request(E.BOT_COMMAND_DESCRIPTION_INVALID)
        clean.append({"command": name, "description": description})
    key = (scope_key(params.json("scope")), _language(params))
    state.commands[key] = clean
    state.publish("commands_set", scope=key[0], language_code=key[1], commands=clean)
    return True


async def get_my_commands(state: State, params: Params) -> list[dict[str, Any]]:
    return list(state.commands.get((scope_key(params.json("scope")), _language(params)), []))


async def delete_my_commands(state: State, params: Params) -> bool:
    state.commands.pop((scope_key(params.json("scope")), _language(params)), None)
    return True


def commands_for(state: State, user_id: int) -> list[dict[str, Any]]:
    """The menu a user's Telegram app shows in the private chat, resolved in the documented order
    (https://core.telegram.org/bots/api#determining-list-of-commands)."""
    user = state.world.users.get(user_id)
    language = (user.language_code or "")[:2] if user else ""
    for scope in (f"chat:{user_id}", "all_private_chats", "default"):
        for code in (language, ""):
            commands = state.commands.get((scope, code))
            if commands:
                return list(commands)
    return []


HANDLERS = {
    "getMe": get_me,
    "getUpdates": get_updates,
    "setWebhook": set_webhook,
    "deleteWebhook": delete_webhook,
    "getWebhookInfo": get_webhook_info,
    "setMyCommands": set_my_commands,
    "getMyCommands": get_my_commands,
    "deleteMyCommands": delete_my_commands,
}
