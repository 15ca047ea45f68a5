"""Referrals: a new user who starts the bot through someone's link earns that person free uses.

Once per referred user (``referrals.referred_id`` is the primary key), never for oneself, and only
for a user who is new — created within ``new_within_s`` of ``now`` and without a referrer — so an
old user cannot be "re-invited" for a bonus. The referrer's ``free_bonus_uses`` grows by
``REFERRAL_BONUS_FREE_USES`` in the same transaction (see :mod:`kiebot.store.free_tier` for how
bonus uses are spent).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

import msgspec

from kiebot.store.db import Conn

ReferralOutcome = Literal[
    "recorded", "self", "already_referred", "not_new", "unknown_referrer", "unknown_user"
]


class ReferralResult(msgspec.Struct, frozen=True, kw_only=True):
    outcome: ReferralOutcome
    bonus_uses: int  # granted to the referrer now (0 unless recorded)


class ReferralStats(msgspec.Struct, frozen=True, kw_only=True):
    invited: int
    bonus_uses_earned: int
    bonus_uses_left: int


async def record_referral(
    conn: Conn,
    referrer_id: int,
    referred_id: int,
    bonus_uses: int,
    *,
    now: datetime,
    new_within_s: float = 3600.0,
) -> ReferralResult:
    """Link ``referred_id`` to ``referrer_id`` and grant the bonus, if the rules allow it."""
    if bonus_uses < 0:
        raise ValueError("bonus_uses must be ≥ 0")
    if referrer_id == referred_id:
        return ReferralResult(outcome="self", bonus_uses=0)
    async with conn.transaction():
        # Lock both users in id order, so two crossing referrals cannot deadlock.
        rows = await conn.fetch(
            """
            SELECT user_id, created_at, referrer_id FROM users
            WHERE user_id = ANY($1::bigint[]) ORDER BY user_id FOR NO KEY UPDATE
            """,
            [referrer_id, referred_id],
        )
        found = {r["user_id"]: r for r in rows}
        referred = found.get(referred_id)
        if referred is None:
            return ReferralResult(outcome="unknown_user", bonus_uses=0)
        if referrer_id not in found:
            return ReferralResult(outcome="unknown_referrer", bonus_uses=0)
        if referred["referrer_id"] is not None:
            return ReferralResult(outcome="already_referred", bonus_uses=0)
        if referred["created_at"] < now - timedelta(seconds=new_within_s):
            return ReferralResult(outcome="not_new", bonus_uses=0)
        inserted = await conn.fetchval(
            """
            INSERT INTO referrals (referrer_id, referred_id, bonus_uses, created_at) VALUES ($1, $2, $3, $4)
            ON CONFLICT (referred_id) DO NOTHING RETURNING referred_id
            """,
            referrer_id,
            referred_id,
            bonus_uses,
            now,
        )
        if inserted is None:
            return ReferralResult(outcome="already_referred", bonus_uses=0)
        await conn.execute("UPDATE users SET referrer_id = $2 WHERE user_id = $1", referred_id, referrer_id)
        await conn.execute(
            "UPDATE users SET free_bonus_uses = free_bonus_uses + $2 WHERE user_id = $1",
            referrer_id,
            bonus_uses,
        )
        return ReferralResult(outcome="recorded", bonus_uses=bonus_uses)


async def referral_stats(conn: Conn, referrer_id: int) -> ReferralStats:
    """What the referral screen shows: people invited, bonus uses earned and still unspent."""
    row = await conn.fetchrow(
        """
        SELECT (SELECT count(*) FROM referrals WHERE referrer_id = $1) AS invited,
               (SELECT coalesce(sum(bonus_uses), 0) FROM referrals WHERE referrer_id = $1) AS earned,
               (SELECT coalesce(max(free_bonus_uses), 0) FROM users WHERE user_id = $1) AS left_
        """,
        referrer_id,
    )
    assert row is not None
    return ReferralStats(
        invited=int(row["invited"]), bonus_uses_earned=int(row["earned"]), bonus_uses_left=int(row["left_"])
    )
