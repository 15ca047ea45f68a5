"""Bot API size and rate limits in one place (reference/telegram.md §1.1, §1.5, §1.6).

Each constant names its source; the client and the limiter use them, and the bot may too (to split
long texts or refuse an oversized upload before Telegram does).
"""

from __future__ import annotations

from typing import Final

MAX_TEXT_CHARS: Final = 4096
"""sendMessage/editMessageText text, after entity parsing. https://core.telegram.org/bots/api#sendmessage"""

MAX_CAPTION_CHARS: Final = 1024
"""Media captions, after entity parsing. https://core.telegram.org/bots/api#sendphoto"""

MAX_CALLBACK_DATA_BYTES: Final = 64
"""InlineKeyboardButton.callback_data: 1-64 *bytes*. https://core.telegram.org/bots/api#inlinekeyboardbutton"""

MAX_CALLBACK_ANSWER_CHARS: Final = 200
"""answerCallbackQuery text. https://core.telegram.org/bots/api#answercallbackquery"""

MEDIA_GROUP_MIN: Final = 2
MEDIA_GROUP_MAX: Final = 10
"""sendMediaGroup takes 2-10 items. https://core.telegram.org/bots/api#sendmediagroup"""

MAX_DOWNLOAD_BYTES: Final = 20_000_000
"""getFile: bots download files up to 20 MB. https://core.telegram.org/bots/api#getfile"""

MAX_PHOTO_UPLOAD_BYTES: Final = 10_000_000
MAX_UPLOAD_BYTES: Final = 50_000_000
"""Multipart uploads: 10 MB for photos, 50 MB for other files. https://core.telegram.org/bots/api#sending-files"""

MAX_POLL_TIMEOUT: Final = 50
"""The Bot API server clamps getUpdates' timeout to 50 s (tdlib/telegram-bot-api LONG_POLL_MAX_TIMEOUT)."""

MAX_UPDATES_LIMIT: Final = 100
"""getUpdates limit: 1-100. https://core.telegram.org/bots/api#getupdates"""

MAX_SECRET_TOKEN_CHARS: Final = 256
"""setWebhook secret_token: 1-256 of A-Z a-z 0-9 _ -. https://core.telegram.org/bots/api#setwebhook"""

MESSAGES_PER_SECOND_PER_CHAT: Final = 1.0
MESSAGES_PER_MINUTE_PER_GROUP: Final = 20
MESSAGES_PER_SECOND: Final = 30
"""Flood limits from https://core.telegram.org/bots/faq#my-bot-is-hitting-limits-how-do-i-avoid-this"""
