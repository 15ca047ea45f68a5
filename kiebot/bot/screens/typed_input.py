"""A screen that asks the user to type something (an amount, a search, a reason) marks the
conversation so that the user's next message goes to that screen's handler.

The mark replaces any earlier one (the newest prompt wins) and lapses after ``FSM_STATE_TTL_S``,
so a prompt the user walked away from does not capture a message typed days later.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kiebot.bot.context import Ctx
from kiebot.store import conversations
from kiebot.store.conversations import ANY_VERSION


async def expect_typed_input(ctx: Ctx, state: str, data: Mapping[str, Any] | None = None) -> None:
    """Send this user's next message to ``state``'s handler, with ``data`` for it to read."""
    async with ctx.conn() as conn:
        await conversations.set_state(
            conn,
            ctx.user_id,
            state,
            data or {},
            ttl_s=ctx.deps.settings.fsm_state_ttl_s,
            expected_version=ANY_VERSION,
        )
