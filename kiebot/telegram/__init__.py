"""A small, typed Telegram Bot API client. Imports nothing from the rest of kiebot.

Modules, each with one job:

* :mod:`~kiebot.telegram.types` — msgspec wire types (``Update``, ``Message``, keyboards, Stars...),
  module-level decoders, ``decode_update``;
* :mod:`~kiebot.telegram.errors` — the error hierarchy and ``error_from_envelope``;
* :mod:`~kiebot.telegram.limits` — Bot API size and rate limits;
* :mod:`~kiebot.telegram.payload` — JSON / multipart request bodies (pure);
* :mod:`~kiebot.telegram.limiter` — ``FloodLimiter`` (per chat, per group, global, bulk; 429 pauses);
* :mod:`~kiebot.telegram.methods` — one typed method per Bot API call the bot makes (what to send);
* :mod:`~kiebot.telegram.client` — ``TelegramClient``: ``call`` (transport, flood control, retries,
  token hygiene) and ``download_file``, with the typed methods of ``methods``;
* :mod:`~kiebot.telegram.polling` — ``Poller`` (fetch, store, then confirm);
* :mod:`~kiebot.telegram.webhook` — secret-token validation and comparison, ``set_webhook``.
"""

from kiebot.telegram.client import TelegramClient
from kiebot.telegram.errors import TelegramError
from kiebot.telegram.limiter import FloodLimiter
from kiebot.telegram.polling import Poller
from kiebot.telegram.types import InputFile, Update, decode_update

__all__ = [
    "FloodLimiter",
    "InputFile",
    "Poller",
    "TelegramClient",
    "TelegramError",
    "Update",
    "decode_update",
]
