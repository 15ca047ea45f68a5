"""Users: who has talked to the bot, in which language, and whether we may talk to them.

``touch_user`` runs on every update (one upsert, one round trip) so ``last_seen_at`` and the
Telegram names stay fresh and a user who writes again is no longer marked as having blocked the
bot. It also tells the caller whether the user is new, which gates the welcome credit and the
referral (both once per user, enforced again by their own unique keys).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, tzinfo
from typing import Literal, get_args

import msgspec

from kiebot.store.db import Conn, Record

Language = Literal["ru", "en"]
LANGUAGES: tuple[str, ...] = get_args(Language)


class User(msgspec.Struct, frozen=True, kw_only=True):
    user_id: int
    first_name: str
    last_name: str | None
    username: str | None
    language: str
    referrer_id: int | None
    created_at: datetime
    last_seen_at: datetime
    blocked_bot: bool
    banned: bool
    free_bonus_uses: int


class TouchedUser(msgspec.Struct, frozen=True, kw_only=True):
    """The user after the upsert, and whether this update created them."""

    user: User
    created: bool


class UserCounts(msgspec.Struct, frozen=True, kw_only=True):
    total: int
    new_today: int
    active_24h: int
    blocked_bot: int
    banned: int


class UnknownUser(LookupError):
    """An operation named a user who never talked to the bot."""

    def __init__(self, user_id: int) -> None:
        super().__init__(f"unknown user {user_id}")
        self.user_id = user_id


_COLUMNS = (
    "user_id, first_name, last_name, username, language, referrer_id, created_at, last_seen_at, "
    "blocked_bot, banned, free_bonus_uses"
)


def _user(row: Record) -> User:
    return User(**{k: row[k] for k in User.__struct_fields__})


def _check_language(language: str) -> None:
    if language not in LANGUAGES:
        raise ValueError(f"language must be one of {LANGUAGES}, got {language!r}")


def language_from_telegram(language_code: str | None) -> Language:
    """Telegram's IETF ``language_code`` → our language: Russian first, English for the rest."""
    if language_code is None or language_code.lower().startswith(("ru", "uk", "be", "kk")):
        return "ru"
    return "en"


async def touch_user(
    conn: Conn,
    user_id: int,
    *,
    first_name: str,
    last_name: str | None = None,
    username: str | None = None,
    language: Language = "ru",
) -> TouchedUser:
    """Create or refresh a user from an incoming update, in one statement.

    ``language`` is used only when the user is created; afterwards it is the user's own choice
    (:func:`set_language`). Writing to the bot means it is no longer blocked by the user.
    """
    _check_language(language)
    row = await conn.fetchrow(
        f"""
        INSERT INTO users AS u (user_id, first_name, last_name, username, language)
        VALUES ($1, $2, $3, $4, $5)
        ON CONFLICT (user_id) DO UPDATE
            SET first_name = EXCLUDED.first_name, last_name = EXCLUDED.last_name,
                username = EXCLUDED.username, last_seen_at = now(), blocked_bot = false
        RETURNING {_COLUMNS}, (xmax = 0) AS created
        """,
        user_id,
        first_name,
        last_name,
        username,
        language,
    )
    assert row is not None
    return TouchedUser(user=_user(row), created=bool(row["created"]))


async def get_user(conn: Conn, user_id: int) -> User | None:
    row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM users WHERE user_id = $1", user_id)
    return None if row is None else _user(row)


async def find_by_username(conn: Conn, username: str) -> User | None:
    """Case-insensitive, with or without the leading ``@`` (admins type it either way)."""
    name = username.strip().removeprefix("@")
    if not name:
        return None
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM users WHERE lower(username) = lower($1) ORDER BY last_seen_at DESC LIMIT 1",
        name,
    )
    return None if row is None else _user(row)


async def set_language(conn: Conn, user_id: int, language: Language) -> None:
    _check_language(language)
    await _update_one(conn, user_id, "UPDATE users SET language = $2 WHERE user_id = $1", language)


async def set_blocked(conn: Conn, user_id: int, blocked: bool) -> None:
    """The user blocked (or unblocked) the bot: broadcasts skip them, sends are not attempted."""
    await _update_one(conn, user_id, "UPDATE users SET blocked_bot = $2 WHERE user_id = $1", blocked)


async def set_banned(conn: Conn, user_id: int, banned: bool) -> None:
    """An admin banned (or unbanned) the user."""
    await _update_one(conn, user_id, "UPDATE users SET banned = $2 WHERE user_id = $1", banned)


async def _update_one(conn: Conn, user_id: int, sql: str, value: object) -> None:
    status = await conn.execute(sql, user_id, value)
    if status != "UPDATE 1":
        raise UnknownUser(user_id)


async def user_counts(conn: Conn, now: datetime, zone: tzinfo = UTC) -> UserCounts:
    """Counts for the admin dashboard; "today" is the calendar day of ``now`` on ``zone``'s clock."""
    day_start = now.astimezone(zone).replace(hour=0, minute=0, second=0, microsecond=0)
    row = await conn.fetchrow(
        """
        SELECT count(*) AS total,
               count(*) FILTER (WHERE created_at >= $1) AS new_today,
               count(*) FILTER (WHERE last_seen_at > $2) AS active_24h,
               count(*) FILTER (WHERE blocked_bot) AS blocked_bot,
               count(*) FILTER (WHERE banned) AS banned
        FROM users
        """,
        day_start,
        now - timedelta(hours=24),
    )
    assert row is not None
    return UserCounts(**{k: int(row[k]) for k in UserCounts.__struct_fields__})
