"""Telegram's error envelopes, word for word, for the fake Bot API server.

Every failure the fake answers is a :class:`BotApiError`; the HTTP layer turns it into
``{"ok": false, "error_code": N, "description": "...", "parameters": {...}}`` with HTTP status N,
exactly as the official server does (``Client::fail_query_with_error`` in tdlib/telegram-bot-api:
the description is ``"<Prefix>: <message>"`` with the prefixes ``Bad Request`` (400),
``Unauthorized`` (401), ``Forbidden`` (403), ``Not Found`` (404), ``Conflict`` (409),
``Too Many Requests`` (429), ``Internal Server Error`` (500)). See
https://core.telegram.org/bots/api#making-requests.

Wording follows the sample envelopes in ``tests/data/telegram/errors/`` (TelegramBotAPI/errors;
``tests/testing/test_fake_telegram_basics.py`` compares them) where one exists, except two that the
current server words differently (tdlib/telegram-bot-api ``Client.cpp``): "message is not
modified" now carries a long suffix, and a poller pushed out by another one gets "terminated by
other getUpdates request". Where neither a sample nor the server source was at hand — the Stars
invoice names (``TITLE_INVALID``, ``DESCRIPTION_INVALID``), ``BUTTON_TYPE_INVALID`` for a button
with two actions, "media must include 2-10 items" for a one-item album, parameter-shape messages —
the text is a Telegram-style best guess. Clients should classify by ``error_code`` and
``parameters`` first and match descriptions by prefix, never by equality.
"""

from __future__ import annotations

from typing import Any

_PREFIX = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    409: "Conflict",
    413: "Request Entity Too Large",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


class BotApiError(Exception):
    """One failed Bot API call: HTTP status = ``error_code``, the exact ``description``, and the
    optional ``parameters`` (``retry_after``, ``migrate_to_chat_id``)."""

    def __init__(self, error_code: int, description: str, parameters: dict[str, Any] | None = None) -> None:
        super().__init__(description)
        self.error_code = error_code
        self.description = description
        self.parameters = parameters

    def envelope(self) -> dict[str, Any]:
        body: dict[str, Any] = {"ok": False, "error_code": self.error_code, "description": self.description}
        if self.parameters:
            body["parameters"] = self.parameters
        return body

    def __repr__(self) -> str:
        return f"BotApiError({self.error_code}, {self.description!r})"


def api_error(code: int, message: str = "", parameters: dict[str, Any] | None = None) -> BotApiError:
    """``api_error(400, "chat not found")`` → ``Bad Request: chat not found``."""
    prefix = _PREFIX.get(code, "Error")
    return BotApiError(code, f"{prefix}: {message}" if message else prefix, parameters)


def bad_request(message: str) -> BotApiError:
    return api_error(400, message)


def too_many_requests(retry_after: int) -> BotApiError:
    """The only 429 shape the server produces (``Query::set_retry_after_error``)."""
    return BotApiError(429, f"Too Many Requests: retry after {retry_after}", {"retry_after": retry_after})


METHOD_NOT_FOUND = "method not found"

CHAT_NOT_FOUND = "chat not found"
TEXT_EMPTY = "message text is empty"
TEXT_TOO_LONG = "message is too long"
CAPTION_TOO_LONG = "message caption is too long"
NOT_MODIFIED = (
    "message is not modified: specified new message content and reply markup are exactly the same "
    "as a current content and reply markup of the message"
)
EDIT_NOT_FOUND = "message to edit not found"
CANT_BE_EDITED = "message can't be edited"
NO_TEXT_TO_EDIT = "there is no text in the message to edit"
NO_CAPTION_TO_EDIT = "there is no caption in the message to edit"
MESSAGE_ID_MISSING = "message identifier is not specified"
DELETE_NOT_FOUND = "message to delete not found"
CANT_BE_DELETED = "message can't be deleted"
QUERY_TOO_OLD = "query is too old and response timeout expired or query ID is invalid"
BOT_BLOCKED = "bot was blocked by the user"
CANT_INITIATE = "bot can't initiate conversation with a user"
WRONG_ACTION = "wrong parameter action in request"
BUTTON_DATA_INVALID = "BUTTON_DATA_INVALID"
BUTTON_URL_INVALID = "BUTTON_URL_INVALID"
BUTTON_TYPE_INVALID = "BUTTON_TYPE_INVALID"
MARKUP_TOO_LONG = "reply markup is too long"
TEXT_BUTTONS_UNALLOWED = (
    "can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard"
)
INVALID_FILE_ID = "invalid file id"
WRONG_FILE_ID = "wrong file identifier/HTTP URL specified"
FILE_TOO_BIG = "file is too big"
FILE_EMPTY = "file must be non-empty"
IMAGE_PROCESS_FAILED = "IMAGE_PROCESS_FAILED"
PHOTO_INVALID_DIMENSIONS = "PHOTO_INVALID_DIMENSIONS"
URL_CONTENT_FAILED = "failed to get HTTP URL content"
NO_MEDIA = "there are no messages to send"
TOO_MANY_MEDIA = "too many messages to send as an album"
WEBHOOK_ACTIVE = (
    "can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first"
)
TERMINATED_BY_POLL = "terminated by other getUpdates request; make sure that only one bot instance is running"
TERMINATED_BY_WEBHOOK = "terminated by setWebhook request"
BAD_WEBHOOK_URL = "invalid webhook URL specified"
WEBHOOK_HTTPS = "bad webhook: An HTTPS URL must be provided for webhook"
WEBHOOK_PORT = "bad webhook: Webhook can be set up only on ports 80, 88, 443 or 8443"
SECRET_TOO_LONG = "secret token is too long"
SECRET_BAD_CHARS = "secret token contains unallowed characters"
CHARGE_NOT_FOUND = "CHARGE_NOT_FOUND"
CHARGE_ALREADY_REFUNDED = "CHARGE_ALREADY_REFUNDED"
CHARGE_ID_EMPTY = "CHARGE_ID_EMPTY"
INVALID_USER_ID = "invalid user_id specified"
STARS_INVOICE_INVALID = "STARS_INVOICE_INVALID"
PAYMENT_PROVIDER_INVALID = "PAYMENT_PROVIDER_INVALID"
INVOICE_PAYLOAD_INVALID = "INVOICE_PAYLOAD_INVALID"
INVOICE_TITLE_INVALID = "TITLE_INVALID"
INVOICE_DESCRIPTION_INVALID = "DESCRIPTION_INVALID"
CURRENCY_TOTAL_AMOUNT_INVALID = "CURRENCY_TOTAL_AMOUNT_INVALID"
ERROR_MESSAGE_EMPTY = "ERROR_MESSAGE_EMPTY"
BOT_COMMAND_INVALID = "BOT_COMMAND_INVALID"
BOT_COMMAND_DESCRIPTION_INVALID = "BOT_COMMAND_DESCRIPTION_INVALID"
