"""Conversation state: where each user is in a wizard (model → parameters → prompt → confirm).

One row per user: a state name, its data (jsonb) and an expiry (``FSM_STATE_TTL_S``): a wizard
abandoned for longer is forgotten, so a stale "send me the prompt" screen does not capture a
message sent an hour later.

**Optimistic concurrency.** Updates of one chat are handled in order, but a user's state can still
be touched from two places (e.g. a job finishing while the user taps a button). Each write bumps
``version``; :func:`set_state` takes the version the caller read and raises :class:`StateConflict`
when someone wrote in between, so a race is detected instead of silently losing a write. Clearing a
state keeps the row (``state`` NULL) and bumps the version too, so versions only grow and a stale
writer can never mistake a newer state for the one it read.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final

import msgspec

from kiebot.store.db import Conn, Record


class _Unconditional:
    def __repr__(self) -> str:
        return "ANY_VERSION"


ANY_VERSION: Final = _Unconditional()
"""Pass as ``expected_version`` to write whatever is there (e.g. ``/start`` resetting the wizard)."""


class ConversationState(msgspec.Struct, frozen=True):
    """An active (set, not expired) state; pass ``version`` back to :func:`set_state`."""

    user_id: int
    state: str
    data: dict[str, Any]
    version: int
    updated_at: datetime
    expires_at: datetime


class StateConflict(Exception):
    """Someone changed the state since the caller read it; re-read and decide again."""

    def __init__(self, user_id: int, expected: int | None) -> None:
        self.user_id = user_id
        self.expected = expected
        seen = "no active state" if expected is None else f"version {expected}"
        super().__init__(f"conversation state changed since it was read ({seen})")


def _state(row: Record) -> ConversationState:
    return ConversationState(
        user_id=row["user_id"],
        state=row["state"],
        data=dict(row["data"]),
        version=row["version"],
        updated_at=row["updated_at"],
        expires_at=row["expires_at"],
    )


_COLUMNS = "user_id, state, data, version, updated_at, expires_at"


async def get_state(conn: Conn, user_id: int) -> ConversationState | None:
    """The user's active state, or None when there is none, it was cleared, or it expired."""
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM conversation_state WHERE user_id = $1 AND state IS NOT NULL AND expires_at > now()",
        user_id,
    )
    return _state(row) if row is not None else None


async def set_state(
    conn: Conn,
    user_id: int,
    state: str,
    data: Mapping[str, Any],
    *,
    ttl_s: float,
    expected_version: int | _Unconditional | None,
) -> ConversationState:
    """Write the user's state, valid for ``ttl_s`` seconds from now.

    ``expected_version`` is what the caller read: the ``version`` of the state it got, or None when
    :func:`get_state` returned None (succeeds only if there is still no active state), or
    :data:`ANY_VERSION` to overwrite unconditionally.

    Raises:
        StateConflict: the state changed since it was read; nothing was written.
    """
    if not state:
        raise ValueError("state name must not be empty (use clear_state)")
    payload = dict(data)
    if isinstance(expected_version, int):
        row = await conn.fetchrow(
            f"""
            UPDATE conversation_state
            SET state = $2, data = $3, version = version + 1, updated_at = now(),
                expires_at = now() + make_interval(secs => $4)
            WHERE user_id = $1 AND version = $5
            RETURNING {_COLUMNS}
            """,
            user_id,
            state,
            payload,
            float(ttl_s),
            expected_version,
        )
    else:
        only_if_inactive = "" if expected_version is ANY_VERSION else (
            "WHERE cs.state IS NULL OR cs.expires_at <= now()"
        )
        row = await conn.fetchrow(
            f"""
            INSERT INTO conversation_state AS cs (user_id, state, data, expires_at)
            VALUES ($1, $2, $3, now() + make_interval(secs => $4))
            ON CONFLICT (user_id) DO UPDATE
            SET state = EXCLUDED.state, data = EXCLUDED.data, version = cs.version + 1,
                updated_at = now(), expires_at = EXCLUDED.expires_at
            {only_if_inactive}
            RETURNING {_COLUMNS}
            """,
            user_id,
            state,
            payload,
            float(ttl_s),
        )
    if row is None:
        raise StateConflict(user_id, expected_version if isinstance(expected_version, int) else None)
    return _state(row)


async def clear_state(
    conn: Conn, user_id: int, *, expected_version: int | _Unconditional = ANY_VERSION
) -> bool:
    """Forget the user's state; True if there was an active one.

    With an ``expected_version`` it clears only that version.

    Raises:
        StateConflict: ``expected_version`` was given and the state changed since it was read.
    """
    if isinstance(expected_version, int):
        row = await conn.fetchrow(
            """
            UPDATE conversation_state AS cs
            SET state = NULL, data = '{}'::jsonb, version = cs.version + 1, updated_at = now(),
                expires_at = least(cs.expires_at, now())
            FROM (SELECT state IS NOT NULL AND expires_at > now() AS active
                  FROM conversation_state WHERE user_id = $1) AS before
            WHERE cs.user_id = $1 AND cs.version = $2
            RETURNING before.active
            """,
            user_id,
            expected_version,
        )
        if row is None:
            raise StateConflict(user_id, expected_version)
        return bool(row["active"])
    was_active = await conn.fetchval(
        """
        UPDATE conversation_state AS cs
        SET state = NULL, data = '{}'::jsonb, version = cs.version + 1, updated_at = now(),
            expires_at = least(cs.expires_at, now())
        FROM (SELECT state IS NOT NULL AND expires_at > now() AS active
              FROM conversation_state WHERE user_id = $1) AS before
        WHERE cs.user_id = $1 AND cs.state IS NOT NULL
        RETURNING before.active
        """,
        user_id,
    )
    return bool(was_active)


async def cleanup(conn: Conn, *, inactive_for_days: float = 30.0) -> int:
    """Delete rows inactive (cleared or expired) for ``inactive_for_days``; returns the count.

    Only long-dead rows go, so a version number is never reused while anyone could still hold it.
    """
    deleted = await conn.fetchval(
        """
        WITH gone AS (
            DELETE FROM conversation_state
            WHERE expires_at < now() - make_interval(secs => $1)
            RETURNING 1
        )
        SELECT count(*) FROM gone
        """,
        float(inactive_for_days) * 86400.0,
    )
    return int(deleted)
