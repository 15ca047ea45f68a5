"""The bot's side of a Telegram Stars payment in the tests of the fake Telegram, defined once: a
small polling "bot" written with plain httpx that answers every pre_checkout_query, so that a
payment the test makes through the fake can go through (or be declined)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping
from typing import Any

import httpx
import trio

from kiebot.testing.telegram.server import FakeTelegram

APPROVE: Mapping[str, Any] = {"ok": True}


@contextlib.asynccontextmanager
async def cashier(
    client: httpx.AsyncClient, fake: FakeTelegram, answer: Mapping[str, Any] = APPROVE
) -> AsyncIterator[list[dict[str, Any]]]:
    """Runs while the body does; yields every update it received, in order (the list grows)."""
    seen: list[dict[str, Any]] = []
    async with trio.open_nursery() as nursery:
        nursery.start_soon(_answer_queries, client, fake, answer, seen)
        yield seen
        nursery.cancel_scope.cancel()


async def _answer_queries(
    client: httpx.AsyncClient, fake: FakeTelegram, answer: Mapping[str, Any], seen: list[dict[str, Any]]
) -> None:
    """Long-poll and answer every pre_checkout_query with ``answer``."""
    offset = 0
    while True:
        _, body = await fake.call_raw(client, "getUpdates", offset=offset, timeout=5)
        for update in body["result"]:
            offset = update["update_id"] + 1
            seen.append(update)
            query = update.get("pre_checkout_query")
            if query is not None:
                await fake.call_raw(client, "answerPreCheckoutQuery", pre_checkout_query_id=query["id"], **answer)
