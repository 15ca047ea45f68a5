"""The webhook's verdict on a request, without any I/O: secret, size, decode, storable → status.

Every front end that takes Telegram webhooks asks the same questions in the same order and answers
with the same statuses and bodies: the plain ASGI fast path (:mod:`kiebot.runtime.webhook_asgi`)
and the Quart route left for completeness (:mod:`kiebot.runtime.web`). Keeping them here keeps the
two identical and makes the rules testable without a server:

* a declared ``Content-Length`` above ``WEBHOOK_MAX_BODY_BYTES`` → 413 before the body is read
  (and the connection is closed: the unread body would stall the next request on it);
* a body that grows past the limit while being read → 413 (the connection closed too);
* a wrong or missing ``X-Telegram-Bot-Api-Secret-Token`` → 401 (compared in constant time);
* an instance that is shutting down → 503 + ``Retry-After`` (Telegram re-sends it elsewhere);
* a body that does not decode as an update, or that the inbox cannot store
  (:func:`kiebot.intake.dispatch.check_storable`) → 400, so Telegram stops re-sending it;
* otherwise the update, ready to store; once stored → 200, or 503 + ``Retry-After`` when the
  database could not take it (Telegram retries, nothing is lost).
"""

from __future__ import annotations

from dataclasses import dataclass

import msgspec

from kiebot.intake.dispatch import chat_key_of, check_storable
from kiebot.store.inbox import InboxItem
from kiebot.telegram.types import decode_update_lenient
from kiebot.telegram.webhook import secret_token_matches

RETRY_AFTER_S = 5

_json = msgspec.json.Encoder()


@dataclass(frozen=True, slots=True)
class Verdict:
    """An answer: ``status``, a JSON ``body``, extra ``headers``; ``reason`` is the
    ``kiebot_webhook_rejected_total`` label (empty for a success)."""

    status: int
    body: bytes
    reason: str = ""
    headers: tuple[tuple[str, str], ...] = ()

    @property
    def closes(self) -> bool:
        return any(k == "Connection" and v == "close" for k, v in self.headers)


def _refusal(status: int, error: str, reason: str, headers: tuple[tuple[str, str], ...] = ()) -> Verdict:
    return Verdict(status, _json.encode({"ok": False, "error": error}), reason, headers)


_RETRY = (("Retry-After", str(RETRY_AFTER_S)),)
TOO_LARGE = _refusal(413, "body too large", "too_large", (("Connection", "close"),))
UNAUTHORIZED = _refusal(401, "unauthorized", "secret")
SHUTTING_DOWN = _refusal(503, "shutting down", "shutting_down", _RETRY)
MALFORMED = _refusal(400, "malformed update", "malformed")
DATABASE = _refusal(503, "try again", "database", _RETRY)
STORED = Verdict(200, _json.encode({"ok": True}))


def judge_length(content_length: int | None, max_body: int) -> Verdict | None:
    """Before reading: refuse a declared body above ``max_body`` (None: go on reading)."""
    if content_length is not None and content_length > max_body:
        return TOO_LARGE
    return None


@dataclass(frozen=True, slots=True)
class Accepted:
    """An update to store, with its kind (for the metrics)."""

    item: InboxItem
    kind: str


def judge(
    body: bytes, *, secret: str, given_secret: str | None, accepting: bool, source: str
) -> Verdict | Accepted:
    """After reading the (bounded) body: a refusal, or the update to store."""
    if not secret_token_matches(secret, given_secret):
        return UNAUTHORIZED
    if not accepting:
        return SHUTTING_DOWN
    try:
        update = decode_update_lenient(body)
        check_storable(update, body)
    except (msgspec.DecodeError, ValueError, RecursionError):
        return MALFORMED
    kind = update.kind
    return Accepted(InboxItem(update.update_id, chat_key_of(update), kind, body, source), kind)
