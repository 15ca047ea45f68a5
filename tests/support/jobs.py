"""A paid generation job written straight to the store, for tests about what happens to it later
(callbacks, refunds, forgeries) rather than about how it was ordered."""

from __future__ import annotations

from typing import Any

from kiebot.store import jobs, money
from kiebot.store.db import Conn

TOPUP_KOPECKS = 2_000
QUOTE_KOPECKS = 1_500


async def paid_z_image_job(
    conn: Conn,
    user_id: int,
    key: str,
    *,
    credit_key: str,
    prompt: str = "a fox",
    params: dict[str, Any] | None = None,
) -> jobs.CreatedJob:
    """A 20 ₽ manual top-up (``credit_key``), then a z-image job (``key``) holding 15 ₽ of it."""
    await money.credit(conn, user_id, TOPUP_KOPECKS, kind="topup_manual", key=credit_key)
    params = {"params": params or {}, "prompt": prompt, "media": {}, "lang": "en"}
    return await z_image_job(conn, user_id, key, params=params, quote_kopecks=QUOTE_KOPECKS, timeout_s=3600)


async def z_image_job(
    conn: Conn, user_id: int, key: str, *, params: dict[str, Any], quote_kopecks: int, timeout_s: float, **more: Any
) -> jobs.CreatedJob:
    """A z-image job of ``user_id`` in their own chat, holding ``quote_kopecks`` (``more``: any
    other :func:`kiebot.store.jobs.create_job` argument)."""
    return await jobs.create_job(
        conn,
        user_id=user_id,
        chat_id=user_id,
        model_id="z-image",
        kind="text_to_image",
        params=params,
        quote_kopecks=quote_kopecks,
        idempotency_key=key,
        timeout_s=timeout_s,
        **more,
    )
