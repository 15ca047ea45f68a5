"""The free tier: a few generations of the cheapest models per user, within hard limits.

The original bot advertised limits it never enforced (reference §2.4, §9 item 4). Here a free use
is a ``free_usage`` row written in the same transaction as its job, after counting the user's
un-returned uses under a lock on the user's row, so two concurrent confirmations cannot both slip
under the limit.

Windows are **rolling**: "this hour" is the 60 minutes before ``now`` and "today" is the 24 hours
before ``now`` (not the calendar day), so there is no midnight burst and the next-available time is
exact: the moment the oldest counted use leaves its window. Every function takes ``now``
explicitly; callers pass the database or wall clock, tests pass fixed instants.

* The hourly limit counts every un-returned use (regular and bonus): it is the anti-burst guard.
* The daily limit counts regular uses only. When it is reached, one of the user's
  ``free_bonus_uses`` (earned through referrals) is spent instead, if any are left.
* A failed free generation gives its use back (:func:`return_free_use`), bonus included.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import msgspec

from kiebot.store.db import Conn
from kiebot.store.users import UnknownUser

HOUR = timedelta(hours=1)
DAY = timedelta(hours=24)


class FreeLimits(msgspec.Struct, frozen=True):
    """``FREE_DAILY_LIMIT`` and ``FREE_HOURLY_LIMIT`` from the settings."""

    daily: int
    hourly: int


class FreeClaim(msgspec.Struct, frozen=True, kw_only=True):
    job_id: int
    bonus: bool


class FreeStatus(msgspec.Struct, frozen=True, kw_only=True):
    """What the free-tier screen shows. ``next_at`` is None when a free use is available now
    (or, with a zero limit and no bonus, never)."""

    left_today: int
    limit: int
    left_this_hour: int
    hourly_limit: int
    bonus_left: int
    available_now: bool
    next_at: datetime | None


class FreeLimitReached(Exception):
    """No free use now; ``next_available_at`` is when one frees up (None: not with these limits)."""

    def __init__(self, next_available_at: datetime | None, *, window: str) -> None:
        when = next_available_at.isoformat() if next_available_at else "never"
        super().__init__(f"free {window} limit reached; next free use at {when}")
        self.next_available_at = next_available_at
        self.window = window


class _Usage(msgspec.Struct, frozen=True):
    hour: list[datetime]  # every un-returned use of the last hour, oldest first
    day_regular: list[datetime]  # un-returned regular (non-bonus) uses of the last 24 h, oldest first


def _next_free(uses: list[datetime], limit: int, window: timedelta) -> datetime | None:
    """When the count of ``uses`` inside the rolling ``window`` drops below ``limit``.

    With ``n`` uses sorted oldest first, it drops below the limit once use ``n - limit`` leaves.
    """
    return uses[len(uses) - limit] + window


async def _usage(conn: Conn, user_id: int, now: datetime) -> _Usage:
    rows = await conn.fetch(
        """
        SELECT used_at, bonus FROM free_usage
        WHERE user_id = $1 AND returned_at IS NULL AND used_at > $2 AND used_at <= $3
        ORDER BY used_at, id
        """,
        user_id,
        now - DAY,
        now,
    )
    return _usage_of([(r["used_at"], bool(r["bonus"])) for r in rows], now)


def _usage_of(uses: Sequence[tuple[datetime, bool]], now: datetime) -> _Usage:
    """``uses``: (used_at, bonus) of the un-returned uses of the last 24 h, oldest first."""
    hour_start = now - HOUR
    return _Usage(hour=[at for at, _ in uses if at > hour_start], day_regular=[at for at, bonus in uses if not bonus])


def _hourly_block(usage: _Usage, limits: FreeLimits) -> tuple[bool, datetime | None]:
    if limits.hourly <= 0:
        return True, None
    if len(usage.hour) < limits.hourly:
        return False, None
    return True, _next_free(usage.hour, limits.hourly, HOUR)


def _daily_next(usage: _Usage, limits: FreeLimits) -> datetime | None:
    if limits.daily <= 0:
        return None
    return _next_free(usage.day_regular, limits.daily, DAY)


async def claim_free_use(
    conn: Conn, user_id: int, model_id: str, job_id: int, now: datetime, daily_limit: int, hourly_limit: int
) -> FreeClaim:
    """Record a free use for ``job_id`` (once per job), or raise :class:`FreeLimitReached`.

    Call it in the transaction that inserts the job (``jobs.create_job`` does).
    """
    limits = FreeLimits(daily_limit, hourly_limit)
    async with conn.transaction():
        # FOR NO KEY UPDATE, not FOR UPDATE: the job row inserted just before holds a KEY SHARE
        # lock on this user (its foreign key), and two confirmations would deadlock on FOR UPDATE.
        bonus_left = await conn.fetchval(
            "SELECT free_bonus_uses FROM users WHERE user_id = $1 FOR NO KEY UPDATE", user_id
        )
        if bonus_left is None:
            raise UnknownUser(user_id)
        existing = await conn.fetchrow("SELECT bonus FROM free_usage WHERE job_id = $1", job_id)
        if existing is not None:
            return FreeClaim(job_id=job_id, bonus=bool(existing["bonus"]))
        usage = await _usage(conn, user_id, now)
        blocked, hourly_next = _hourly_block(usage, limits)
        if blocked:
            raise FreeLimitReached(hourly_next, window="hourly")
        bonus = len(usage.day_regular) >= limits.daily
        if bonus and bonus_left <= 0:
            daily_next = _daily_next(usage, limits)
            raise FreeLimitReached(daily_next, window="daily")
        if bonus:
            await conn.execute(
                "UPDATE users SET free_bonus_uses = free_bonus_uses - 1 WHERE user_id = $1", user_id
            )
        await conn.execute(
            "INSERT INTO free_usage (user_id, model_id, job_id, used_at, bonus) VALUES ($1, $2, $3, $4, $5)",
            user_id,
            model_id,
            job_id,
            now,
            bonus,
        )
        return FreeClaim(job_id=job_id, bonus=bonus)


async def return_free_use(conn: Conn, job_id: int, now: datetime | None = None) -> bool:
    """Give back the free use of a job that produced nothing; True if one was given back now.

    A bonus use goes back to the user's ``free_bonus_uses``. Repeats are no-ops.
    """
    async with conn.transaction():
        row = await conn.fetchrow(
            """
            UPDATE free_usage SET returned_at = coalesce($2, now())
            WHERE job_id = $1 AND returned_at IS NULL
            RETURNING user_id, bonus
            """,
            job_id,
            now,
        )
        if row is None:
            return False
        if row["bonus"]:
            await conn.execute(
                "UPDATE users SET free_bonus_uses = free_bonus_uses + 1 WHERE user_id = $1", row["user_id"]
            )
        return True


async def free_status(conn: Conn, user_id: int, now: datetime, limits: FreeLimits) -> FreeStatus:
    """How many free uses are left and, if none now, when the next one frees up."""
    bonus_left = int(
        await conn.fetchval("SELECT coalesce(max(free_bonus_uses), 0) FROM users WHERE user_id = $1", user_id)
    )
    return _status(bonus_left, await _usage(conn, user_id, now), limits)


def status_of(bonus_left: int, uses: Sequence[tuple[datetime, bool]], now: datetime, limits: FreeLimits) -> FreeStatus:
    """:func:`free_status` from figures read elsewhere (``kiebot.store.menu`` reads them together
    with the balance): ``uses`` are (used_at, bonus) of the un-returned uses in the 24 h before
    ``now``, oldest first."""
    return _status(bonus_left, _usage_of(uses, now), limits)


def _status(bonus_left: int, usage: _Usage, limits: FreeLimits) -> FreeStatus:
    hourly_blocked, hourly_next = _hourly_block(usage, limits)
    daily_blocked = len(usage.day_regular) >= limits.daily and bonus_left <= 0
    next_at: datetime | None = None
    if hourly_blocked and hourly_next is None:
        next_at = None
    elif daily_blocked:
        daily_next = _daily_next(usage, limits)
        next_at = None if daily_next is None else max(daily_next, hourly_next or daily_next)
    elif hourly_blocked:
        next_at = hourly_next
    return FreeStatus(
        left_today=max(0, limits.daily - len(usage.day_regular)),
        limit=limits.daily,
        left_this_hour=max(0, limits.hourly - len(usage.hour)),
        hourly_limit=limits.hourly,
        bonus_left=bonus_left,
        available_now=not hourly_blocked and not daily_blocked,
        next_at=next_at,
    )
