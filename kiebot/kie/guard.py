"""Refuse to send a Telegram file URL to Kie (a belt-and-braces check before every request).

``https://api.telegram.org/file/bot<token>/<path>`` embeds the bot token (Bot API ``File``:
https://core.telegram.org/bots/api#file), so handing one to Kie would leak the token to a third
party, its logs and its workers. User media goes to Kie as bytes through the upload API instead.
The error names the offending field, never the URL.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Final

_MARKERS: Final = ("api.telegram.org/file/", "/file/bot")


def is_telegram_file_url(value: str) -> bool:
    lowered = value.lower()
    return any(marker in lowered for marker in _MARKERS)


def find_telegram_file_url(value: object, path: str = "body") -> str | None:
    """The dotted path of the first string in ``value`` that is a Telegram file URL, if any."""
    if isinstance(value, str):
        return path if is_telegram_file_url(value) else None
    if isinstance(value, Mapping):
        for key, item in value.items():
            found = find_telegram_file_url(item, f"{path}.{key}")
            if found:
                return found
    elif isinstance(value, Sequence) and not isinstance(value, bytes | bytearray):
        for index, item in enumerate(value):
            found = find_telegram_file_url(item, f"{path}[{index}]")
            if found:
                return found
    return None


def refuse_telegram_file_urls(value: object, path: str = "body") -> None:
    """Raise ValueError (naming the field, not the URL) if ``value`` holds a Telegram file URL."""
    found = find_telegram_file_url(value, path)
    if found:
        raise ValueError(
            f"refusing to send a Telegram file URL to Kie (in {found}); upload the bytes instead"
        )
