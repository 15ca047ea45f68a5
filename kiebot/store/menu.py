"""The main menu's figures — balance and free uses left — in one statement, optionally clearing
the user's conversation state in the same statement.

Why (issue 18): the menu is shown on ``/start``, ``/menu`` and the Menu button, and each read was a
round trip of its own (the balance, the bonus uses, the free-tier usage, and the state clear
before them). One statement keeps the figures consistent with each other and a ``/start`` at four
statements (tests/app/test_statement_counts.py).
"""

from __future__ import annotations

from datetime import datetime

import msgspec

from kiebot.store.db import Conn
from kiebot.store.free_tier import DAY, FreeLimits, FreeStatus, status_of

_MENU_SQL = """
WITH cleared AS (
    UPDATE conversation_state AS cs
    SET state = NULL, data = '{}'::jsonb, version = cs.version + 1, updated_at = now(),
        expires_at = least(cs.expires_at, now())
    WHERE $4 AND cs.user_id = $1 AND cs.state IS NOT NULL
    RETURNING 1
)
SELECT
    coalesce((SELECT balance FROM accounts WHERE user_id = $1), 0) AS balance,
    coalesce((SELECT max(free_bonus_uses) FROM users WHERE user_id = $1), 0) AS bonus_left,
    ARRAY(SELECT used_at FROM free_usage
          WHERE user_id = $1 AND returned_at IS NULL AND used_at > $2 AND used_at <= $3
          ORDER BY used_at, id) AS used_at,
    ARRAY(SELECT bonus FROM free_usage
          WHERE user_id = $1 AND returned_at IS NULL AND used_at > $2 AND used_at <= $3
          ORDER BY used_at, id) AS bonus,
    (SELECT count(*) FROM cleared) AS cleared
"""


#: The same figures for each sender an inbox claim touches (``kiebot.store.inbox``, issue 18): so
#: a ``/start`` needs no statement of its own. ``t`` is the sender's users row, ``$5``/``$6`` the
#: window (now - 24 h, now] on the app's clock.
SNAPSHOT_COLUMNS = """
       coalesce((SELECT a.balance FROM accounts a WHERE a.user_id = t.user_id), 0) AS m_balance,
       ARRAY(SELECT f.used_at FROM free_usage f
             WHERE f.user_id = t.user_id AND f.returned_at IS NULL AND f.used_at > $5 AND f.used_at <= $6
             ORDER BY f.used_at, f.id) AS m_used_at,
       ARRAY(SELECT f.bonus FROM free_usage f
             WHERE f.user_id = t.user_id AND f.returned_at IS NULL AND f.used_at > $5 AND f.used_at <= $6
             ORDER BY f.used_at, f.id) AS m_bonus,
       EXISTS (SELECT 1 FROM conversation_state cs WHERE cs.user_id = t.user_id AND cs.state IS NOT NULL) AS m_has_state"""


class MenuSnapshot(msgspec.Struct, frozen=True, kw_only=True):
    """The menu's figures as the claim read them, with whether a conversation state was set.

    Read in the claim's statement, milliseconds before the handler runs; a handler that changed
    money or bonus uses itself, or must clear a state, reads the figures again
    (:func:`kiebot.bot.screens.start.figures_leaving_state`). A payment or a refund landing in those
    milliseconds shows at the next screen, as one landing just after the menu was drawn would."""

    balance: int
    bonus_left: int
    uses: list[tuple[datetime, bool]]
    has_state: bool

    def figures(self, now: datetime, limits: FreeLimits) -> MenuFigures:
        return MenuFigures(balance=self.balance, free=status_of(self.bonus_left, self.uses, now, limits))


class MenuFigures(msgspec.Struct, frozen=True, kw_only=True):
    """``balance`` in kopecks (0 without an account); ``free`` as :func:`free_tier.free_status`."""

    balance: int
    free: FreeStatus

    @property
    def free_left(self) -> int:
        return self.free.left_today + self.free.bonus_left


async def menu_figures(
    conn: Conn, user_id: int, now: datetime, limits: FreeLimits, *, clear_state: bool = False
) -> MenuFigures:
    """Balance and free-tier status of ``user_id`` at ``now``; with ``clear_state`` the user's
    conversation state is cleared by the same statement (as ``conversations.clear_state``)."""
    row = await conn.fetchrow(_MENU_SQL, user_id, now - DAY, now, clear_state)
    assert row is not None
    uses = list(zip(row["used_at"], row["bonus"], strict=True))
    return MenuFigures(balance=int(row["balance"]), free=status_of(int(row["bonus_left"]), uses, now, limits))
