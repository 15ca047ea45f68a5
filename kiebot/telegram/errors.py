"""Bot API failures as a small exception hierarchy.

https://core.telegram.org/bots/api#making-requests: a failed request answers
``{"ok": false, "error_code": N, "description": "...", "parameters": {...}}`` with HTTP status N.

Classification is keyed on ``error_code`` and ``parameters`` first and on a case-insensitive
*substring* of ``description`` second, because wording changes between server versions
(reference/telegram.md §1.2: "message is not modified" grew a long suffix; old samples say
"[Error]: Bad Request: ..."). No exception here ever carries a URL or the bot token: messages are
built from the method name and Telegram's description only.
"""

from __future__ import annotations

from typing import Final, TypeVar

import msgspec


class TelegramError(Exception):
    """Any failed Bot API call: ``method``, ``error_code`` (HTTP status, 0 for transport failures)
    and Telegram's ``description``."""

    def __init__(self, method: str, error_code: int, description: str) -> None:
        super().__init__(f"{method}: {error_code} {description}".rstrip())
        self.method = method
        self.error_code = error_code
        self.description = description


class BadRequest(TelegramError):
    """400: the request is wrong (bad parameters, message gone, query too old...)."""


class MessageNotModified(BadRequest):
    """400 "message is not modified": the edit would change nothing; harmless, the edit helpers
    treat it as success."""


class MessageToEditNotFound(BadRequest):
    """400 "message to edit not found": the message was deleted."""


class MessageCantBeEdited(BadRequest):
    """400 "message can't be edited" (too old, or not the bot's own message)."""


class MessageToDeleteNotFound(BadRequest):
    """400 "message to delete not found": already gone (e.g. a retried delete)."""


class MessageCantBeDeleted(BadRequest):
    """400 "message can't be deleted" (older than 48 hours in private chats)."""


class QueryTooOld(BadRequest):
    """400 "query is too old and response timeout expired or query ID is invalid": a callback or
    pre-checkout answer came too late or twice."""


class ChatNotFound(BadRequest):
    """400 "chat not found"."""


class ChargeAlreadyRefunded(BadRequest):
    """400 CHARGE_ALREADY_REFUNDED from refundStarPayment: the refund already happened (a retried
    refund lands here too, so callers treat it as done)."""


class ChatMigrated(BadRequest):
    """400 with ``parameters.migrate_to_chat_id``: a group became a supergroup; resend to the new id."""

    def __init__(self, method: str, error_code: int, description: str, migrate_to_chat_id: int) -> None:
        super().__init__(method, error_code, description)
        self.migrate_to_chat_id = migrate_to_chat_id


class Unauthorized(TelegramError):
    """401: the bot token is wrong or revoked. Fatal: retrying cannot help."""


class Forbidden(TelegramError):
    """403: the bot may not write to this chat."""


class BotBlocked(Forbidden):
    """403 "bot was blocked by the user": mark the user inactive, stop sending."""


class UserDeactivated(Forbidden):
    """403 "user is deactivated": the account was deleted."""


class BotKicked(Forbidden):
    """403 "bot was kicked from the ... chat" or "bot is not a member of the ... chat"."""


class CantInitiate(Forbidden):
    """403 "bot can't initiate conversation with a user": the user never pressed Start."""


class NotFound(TelegramError):
    """404: unknown method, or a file path that does not exist (any more)."""


class Conflict(TelegramError):
    """409: another getUpdates is running, or a webhook is set while polling."""


class WebhookIsActive(Conflict):
    """409 "can't use getUpdates method while webhook is active": call deleteWebhook first."""


class TerminatedByOtherPoll(Conflict):
    """409 "terminated by other getUpdates request" (or an older "... long poll or webhook")."""


class RetryAfter(TelegramError):
    """429 (or any envelope with ``parameters.retry_after``): flood control; wait ``retry_after``
    seconds, then the same request may be repeated — Telegram did not execute it."""

    def __init__(self, method: str, error_code: int, description: str, retry_after: int) -> None:
        super().__init__(method, error_code, description)
        self.retry_after = retry_after


class ServerError(TelegramError):
    """5xx, or an answer that is not a Bot API envelope (a proxy's HTML page): Telegram may or may
    not have executed the request."""


class NetworkError(TelegramError):
    """The request failed in transport (connect error, timeout, broken connection).

    ``maybe_sent`` is False only when the request surely never reached Telegram (connection refused,
    connect timeout, no pooled connection), so even a non-idempotent ``send*`` may be retried.
    The message names the method and the failure class only: httpx's own texts and reprs carry the
    request URL, which contains the bot token.
    """

    def __init__(self, method: str, description: str, *, maybe_sent: bool) -> None:
        super().__init__(method, 0, description)
        self.maybe_sent = maybe_sent


class InvalidResponse(TelegramError):
    """Telegram answered 200 but the body is not a result this client can read. The call may have
    taken effect, so it is never retried."""


class FileTooLarge(TelegramError):
    """A download exceeded its byte limit (Telegram serves at most 20 MB to bots)."""

    def __init__(self, method: str, limit: int) -> None:
        super().__init__(method, 0, f"file is larger than {limit} bytes")
        self.limit = limit


class _Parameters(msgspec.Struct):
    migrate_to_chat_id: int | None = None
    retry_after: int | float | None = None


class _Envelope(msgspec.Struct):
    ok: bool = False
    error_code: int | None = None
    description: str = ""
    parameters: _Parameters | None = None


_envelope_decoder: Final = msgspec.json.Decoder(_Envelope)

# (error class, lower-case substring of the description) — checked in order within a status code.
_BAD_REQUEST_KINDS: Final[tuple[tuple[type[BadRequest], str], ...]] = (
    (MessageNotModified, "message is not modified"),
    (MessageToEditNotFound, "message to edit not found"),
    (MessageCantBeEdited, "message can't be edited"),
    (MessageToDeleteNotFound, "message to delete not found"),
    (MessageCantBeDeleted, "message can't be deleted"),
    (QueryTooOld, "query is too old"),
    (QueryTooOld, "query id is invalid"),
    (ChatNotFound, "chat not found"),
    (ChargeAlreadyRefunded, "charge_already_refunded"),
)
_FORBIDDEN_KINDS: Final[tuple[tuple[type[Forbidden], str], ...]] = (
    (BotBlocked, "bot was blocked by the user"),
    (UserDeactivated, "user is deactivated"),
    (BotKicked, "bot was kicked"),
    (BotKicked, "bot is not a member"),
    (CantInitiate, "bot can't initiate conversation"),
)
_CONFLICT_KINDS: Final[tuple[tuple[type[Conflict], str], ...]] = (
    (WebhookIsActive, "webhook is active"),
    (TerminatedByOtherPoll, "terminated by other"),
)


_E = TypeVar("_E", bound=TelegramError)


def _by_description(kinds: tuple[tuple[type[_E], str], ...], default: type[_E], description: str) -> type[_E]:
    lowered = description.lower()
    for cls, needle in kinds:
        if needle in lowered:
            return cls
    return default


def error_from_envelope(method: str, status: int, body: bytes | str) -> TelegramError:
    """Map a failed response (HTTP ``status`` and raw ``body``) to the most specific error.

    Order: ``parameters.retry_after`` → :class:`RetryAfter`; ``parameters.migrate_to_chat_id`` →
    :class:`ChatMigrated`; then ``error_code`` (the HTTP status when the body is not an envelope);
    then a description substring for the subkinds the bot acts on.
    """
    try:
        envelope = _envelope_decoder.decode(body)
    except msgspec.DecodeError:
        envelope = None
    if envelope is None:
        # Not a Bot API answer (a proxy's error page, an empty body): keep the status only.
        return (ServerError if status >= 500 else TelegramError)(
            method, status, f"HTTP {status} without a Bot API body"
        )

    code = envelope.error_code or status
    description = envelope.description
    parameters = envelope.parameters
    if parameters is not None and parameters.retry_after is not None:
        return RetryAfter(method, code, description, max(0, int(parameters.retry_after)))
    if parameters is not None and parameters.migrate_to_chat_id is not None:
        return ChatMigrated(method, code, description, parameters.migrate_to_chat_id)
    if code == 400:
        return _by_description(_BAD_REQUEST_KINDS, BadRequest, description)(method, code, description)
    if code == 401:
        return Unauthorized(method, code, description)
    if code == 403:
        return _by_description(_FORBIDDEN_KINDS, Forbidden, description)(method, code, description)
    if code == 404:
        return NotFound(method, code, description)
    if code == 409:
        return _by_description(_CONFLICT_KINDS, Conflict, description)(method, code, description)
    if code == 429:
        # A 429 without parameters: wait a conservative second rather than hammer.
        return RetryAfter(method, code, description, 1)
    if code >= 500:
        return ServerError(method, code, description)
    return TelegramError(method, code, description)
