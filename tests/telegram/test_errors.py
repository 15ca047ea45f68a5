"""Every recorded error envelope maps to the right exception class (table-driven, one row per file)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kiebot.telegram import errors as e

ERRORS = Path(__file__).resolve().parents[1] / "data" / "telegram" / "errors"

TABLE: dict[str, type[e.TelegramError]] = {
    "bad-request-button-url-invalid.json": e.BadRequest,
    "bad-request-chat-not-found.json": e.ChatNotFound,
    "bad-request-entities-too-long.json": e.BadRequest,
    "bad-request-file-too-big.json": e.BadRequest,
    "bad-request-group-chat-migrated.json": e.ChatMigrated,
    "bad-request-group-deactivated.json": e.BadRequest,
    "bad-request-invalid-file-id.json": e.BadRequest,
    "bad-request-member-not-found.json": e.BadRequest,
    "bad-request-message-cant-be-deleted.json": e.MessageCantBeDeleted,
    "bad-request-message-cant-be-edited.json": e.MessageCantBeEdited,
    "bad-request-message-not-modified.json": e.MessageNotModified,
    "bad-request-message-text-is-empty.json": e.BadRequest,
    "bad-request-message-to-delete-not-found.json": e.MessageToDeleteNotFound,
    "bad-request-message-to-edit-not-found.json": e.MessageToEditNotFound,
    "bad-request-not-enough-rights-photos.json": e.BadRequest,
    "bad-request-not-enough-rights-text.json": e.BadRequest,
    "bad-request-peer-id-invalid.json": e.BadRequest,
    "bad-request-reply-message-not-found.json": e.BadRequest,
    "bad-request-user-not-found.json": e.BadRequest,
    "bad-request-wrong-parameter-action-in-request.json": e.BadRequest,
    "conflicted-terminated-by-other-long-poll.json": e.TerminatedByOtherPoll,
    "forbidden-bot-blocked-by-user.json": e.BotBlocked,
    "forbidden-bot-cant-send-messages-to-bots.json": e.Forbidden,
    "forbidden-bot-not-member-channel.json": e.BotKicked,
    "forbidden-bot-not-member-supergroup.json": e.BotKicked,
    "forbidden-bot-was-kicked.json": e.BotKicked,
    "forbidden-cant-initiate-conversation.json": e.CantInitiate,
    "forbidden-user-is-deactivated.json": e.UserDeactivated,
    "too-many-requests.json": e.RetryAfter,
    "unauthorized.json": e.Unauthorized,
    "webhook-is-active.json": e.WebhookIsActive,
}


def test_table_covers_every_sample() -> None:
    assert {p.name for p in ERRORS.glob("*.json")} == set(TABLE)


@pytest.mark.parametrize("name", sorted(TABLE))
def test_envelope_maps_to_class(name: str) -> None:
    body = (ERRORS / name).read_bytes()
    envelope = json.loads(body)
    error = e.error_from_envelope("sendMessage", envelope["error_code"], body)
    assert type(error) is TABLE[name]
    assert error.method == "sendMessage"
    assert error.error_code == envelope["error_code"]
    assert error.description == envelope["description"]
    assert str(error) == f"sendMessage: {envelope['error_code']} {envelope['description']}"


def test_parameters_win_over_status_and_text() -> None:
    retry = e.error_from_envelope("sendMessage", 429, (ERRORS / "too-many-requests.json").read_bytes())
    assert isinstance(retry, e.RetryAfter)
    assert retry.retry_after == 123
    migrated = e.error_from_envelope(
        "sendMessage", 400, (ERRORS / "bad-request-group-chat-migrated.json").read_bytes()
    )
    assert isinstance(migrated, e.ChatMigrated)
    assert migrated.migrate_to_chat_id == -123456789
    # retry_after decides even on an unexpected status code.
    odd = e.error_from_envelope(
        "getMe", 500, b'{"ok":false,"error_code":500,"description":"x","parameters":{"retry_after":7}}'
    )
    assert isinstance(odd, e.RetryAfter)
    assert odd.retry_after == 7


def test_current_server_wordings() -> None:
    cases = {
        "Bad Request: message is not modified: specified new message content and reply markup are exactly the same"
        " as a current content and reply markup of the message": e.MessageNotModified,
        "Bad Request: query is too old and response timeout expired or query ID is invalid": e.QueryTooOld,
        "Bad Request: CHARGE_ALREADY_REFUNDED": e.ChargeAlreadyRefunded,
    }
    for description, cls in cases.items():
        body = json.dumps({"ok": False, "error_code": 400, "description": description})
        assert type(e.error_from_envelope("x", 400, body)) is cls
    conflict = json.dumps(
        {
            "ok": False,
            "error_code": 409,
            "description": "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running",
        }
    )
    assert type(e.error_from_envelope("getUpdates", 409, conflict)) is e.TerminatedByOtherPoll


def test_status_codes_without_a_known_description() -> None:
    def classify(status: int, description: str = "whatever") -> type[e.TelegramError]:
        body = json.dumps({"ok": False, "error_code": status, "description": description})
        return type(e.error_from_envelope("m", status, body))

    assert classify(404, "Not Found") is e.NotFound
    assert classify(409) is e.Conflict
    assert classify(500, "Internal Server Error") is e.ServerError
    assert classify(502) is e.ServerError
    assert classify(418) is e.TelegramError
    no_parameters = e.error_from_envelope(
        "m", 429, b'{"ok":false,"error_code":429,"description":"Too Many Requests"}'
    )
    assert isinstance(no_parameters, e.RetryAfter)
    assert no_parameters.retry_after == 1


def test_a_body_that_is_not_an_envelope() -> None:
    html = e.error_from_envelope("sendMessage", 502, b"<html>Bad Gateway</html>")
    assert type(html) is e.ServerError
    assert html.error_code == 502
    empty = e.error_from_envelope("sendMessage", 400, b"")
    assert type(empty) is e.TelegramError
    assert empty.error_code == 400


def test_hierarchy_lets_callers_catch_broadly() -> None:
    assert issubclass(e.BotBlocked, e.Forbidden)
    assert issubclass(e.MessageNotModified, e.BadRequest)
    assert issubclass(e.ChatMigrated, e.BadRequest)
    assert issubclass(e.WebhookIsActive, e.Conflict)
    for cls in (e.RetryAfter, e.ServerError, e.NetworkError, e.Unauthorized, e.NotFound, e.FileTooLarge):
        assert issubclass(cls, e.TelegramError)
    network = e.NetworkError("sendMessage", "ConnectError", maybe_sent=False)
    assert str(network) == "sendMessage: 0 ConnectError"
    assert not network.maybe_sent
