"""Hypothesis strategies for Telegram updates, shared by the fuzz tests through the ``updates``
fixture of tests/fuzz/conftest.py (test modules cannot import each other under
``--import-mode=importlib``; this file is loaded by path there).

Shapes follow the Bot API (https://core.telegram.org/bots/api#update) closely enough that most
generated updates decode and reach the bot's handlers, with values pushed to the edges: ids up
to and past 64 bits, every Unicode character (lone surrogates included, which JSON can escape),
wrong types here and there, unknown fields and unknown update kinds.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import strategies as st

INT64 = 2**63
EDGE_INTS = st.sampled_from([0, -1, 1, 2**31 - 1, 2**31, 2**53 + 1, INT64 - 1, INT64, -INT64, -INT64 - 1, 2**64 - 1, 2**64, 10**30])
SMALL_IDS = st.integers(1, 2**40)
IDS = st.one_of(SMALL_IDS, SMALL_IDS, SMALL_IDS, EDGE_INTS, st.integers())
ANY_CHAR = st.characters(blacklist_categories=())
TEXT = st.one_of(st.text(max_size=30), st.text(alphabet=ANY_CHAR, max_size=30), st.just(""))
COMMANDS = st.sampled_from(
    [
        "/start", "/start ref_1", "/start ref_999999999999999999999", "/start x" * 20, "/menu", "/help", "/lang",
        "/balance", "/history", "/cancel", "/terms", "/paysupport", "/admin", "/admin stats", "/unknown",
        "/START@kiebot_test_bot", "/start@other_bot", "/", "//", "/ start",
    ]
)
MESSAGE_TEXT = st.one_of(COMMANDS, TEXT, st.builds(lambda c, t: f"{c} {t}", COMMANDS, TEXT))
JSONISH = st.recursive(
    st.none() | st.booleans() | IDS | st.floats(allow_nan=False, allow_infinity=False) | TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)


def maybe_wrong(value: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly ``value``, sometimes any JSON value at all (a field whose type changed)."""
    return st.one_of(value, value, value, value, value, value, JSONISH)


def users(ids: st.SearchStrategy[int]) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {"id": maybe_wrong(ids), "is_bot": maybe_wrong(st.booleans()), "first_name": maybe_wrong(TEXT)},
        optional={
            "last_name": TEXT,
            "username": TEXT,
            "language_code": st.sampled_from(["ru", "en", "de", "", "zh-hans"]) | TEXT,
            "is_premium": st.booleans(),
        },
    )


def chats(ids: st.SearchStrategy[int]) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {"id": maybe_wrong(ids), "type": maybe_wrong(st.sampled_from(["private", "group", "supergroup", "channel"]) | TEXT)},
        optional={"first_name": TEXT, "title": TEXT, "username": TEXT},
    )


ENTITY = st.fixed_dictionaries(
    {"type": st.sampled_from(["bot_command", "bold", "url", "mention"]) | TEXT, "offset": IDS, "length": IDS}
)
PHOTO_SIZE = st.fixed_dictionaries(
    {"file_id": TEXT, "file_unique_id": TEXT, "width": IDS, "height": IDS}, optional={"file_size": IDS}
)
DOCUMENT = st.fixed_dictionaries(
    {"file_id": TEXT, "file_unique_id": TEXT}, optional={"file_name": TEXT, "mime_type": TEXT, "file_size": IDS}
)
PAYMENT = st.fixed_dictionaries(
    {
        "currency": st.sampled_from(["XTR", "RUB", "", "xtr"]) | TEXT,
        "total_amount": st.one_of(st.integers(1, 10_000), IDS),
        "invoice_payload": TEXT,
        "telegram_payment_charge_id": TEXT,
        "provider_payment_charge_id": TEXT,
    }
)


def messages(ids: st.SearchStrategy[int]) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {"message_id": maybe_wrong(IDS), "date": maybe_wrong(IDS), "chat": maybe_wrong(chats(ids))},
        optional={
            "from": users(ids),
            "text": maybe_wrong(MESSAGE_TEXT),
            "caption": TEXT,
            "entities": st.lists(ENTITY, max_size=3),
            "photo": st.lists(PHOTO_SIZE, max_size=3),
            "document": DOCUMENT,
            "successful_payment": PAYMENT,
            "refunded_payment": PAYMENT,
            "unknown_future_field": JSONISH,
        },
    )


def callback_queries(ids: st.SearchStrategy[int]) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {"id": maybe_wrong(TEXT), "from": maybe_wrong(users(ids)), "chat_instance": TEXT},
        optional={"message": messages(ids), "data": maybe_wrong(TEXT), "game_short_name": TEXT},
    )


def pre_checkout_queries(ids: st.SearchStrategy[int]) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {
            "id": TEXT,
            "from": users(ids),
            "currency": st.sampled_from(["XTR", "USD"]) | TEXT,
            "total_amount": IDS,
            "invoice_payload": TEXT,
        }
    )


def chat_member_updates(ids: st.SearchStrategy[int]) -> st.SearchStrategy[dict[str, Any]]:
    member = st.fixed_dictionaries(
        {"status": st.sampled_from(["member", "kicked", "left", "administrator"]) | TEXT, "user": users(ids)}
    )
    return st.fixed_dictionaries(
        {"chat": chats(ids), "from": users(ids), "date": IDS, "old_chat_member": member, "new_chat_member": member}
    )


def updates(update_ids: st.SearchStrategy[int], ids: st.SearchStrategy[int] = IDS) -> st.SearchStrategy[dict[str, Any]]:
    """A Bot API ``Update`` object (as a dict) of a known or unknown kind."""
    payload = st.one_of(
        st.tuples(st.just("message"), messages(ids)),
        st.tuples(st.just("edited_message"), messages(ids)),
        st.tuples(st.just("callback_query"), callback_queries(ids)),
        st.tuples(st.just("pre_checkout_query"), pre_checkout_queries(ids)),
        st.tuples(st.just("my_chat_member"), chat_member_updates(ids)),
        st.tuples(st.sampled_from(["inline_query", "poll", "business_message", "future_kind"]), JSONISH),
    )
    extra = st.dictionaries(st.text(max_size=10), JSONISH, max_size=2)
    return st.builds(
        lambda update_id, kind_value, more: {**more, "update_id": update_id, kind_value[0]: kind_value[1]},
        update_ids,
        payload,
        extra,
    )


def encode(value: Any, ascii_only: bool) -> bytes:
    """JSON text of ``value``; lone surrogates are escaped (ASCII) or written as CESU-8 bytes,
    which is not valid UTF-8 (a case the receiver must refuse, not crash on)."""
    if ascii_only:
        return json.dumps(value, ensure_ascii=True).encode()
    return json.dumps(value, ensure_ascii=False).encode("utf-8", "surrogatepass")
