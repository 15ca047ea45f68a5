"""Small pieces every admin screen uses: the way back to the panel, times, amounts, paging, and
the guard for typed input.

Times are shown in UTC with the zone named: admins of one deployment may sit in different time
zones, and the logs and the database speak UTC too.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TypeVar

from kiebot.bot.context import Ctx
from kiebot.chat.callback_data import BadCallback, cb
from kiebot.chat.format import rub
from kiebot.store import conversations
from kiebot.telegram.types import InlineKeyboardButton as Button

T = TypeVar("T")

HOME = "adm"
#: Conversation states of the panel; each one's handler checks the admin again (an id may have
#: left ``ADMIN_IDS`` since the prompt was shown).
STATE_PREFIX = "adm."


def when(moment: datetime | None) -> str:
    """``2025-05-01 12:34 UTC``; ``—`` for nothing."""
    if moment is None:
        return "—"
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def short_when(moment: datetime) -> str:
    """``05-01 12:34`` for dense lists (the screen says once that times are UTC)."""
    return moment.astimezone(UTC).strftime("%m-%d %H:%M")


def signed_rub(kopecks: int, lang: str) -> str:
    """``+12 ₽`` / ``−12 ₽``: ledger rows and adjustments read as changes."""
    return ("+" if kopecks > 0 else "") + rub(kopecks, lang)


def home_button(ctx: Ctx) -> Button:
    return Button.callback(ctx.t("admin.nav.panel"), cb(HOME))


def back_button(ctx: Ctx, data: str) -> Button:
    return Button.callback(ctx.t("common.back"), data)


def nav_row(ctx: Ctx, back: str | None = None) -> list[Button]:
    """◀️ Back (when there is somewhere to go back to) · 🛠 Panel."""
    row = [back_button(ctx, back)] if back is not None and back != HOME else []
    row.append(home_button(ctx))
    return row


def page_of(items: Sequence[T], page: int, size: int) -> tuple[list[T], int]:
    """The items of ``page`` (0-based, clamped) and the clamped page number."""
    pages = max(1, -(-len(items) // size))
    page = min(max(0, page), pages - 1)
    return list(items[page * size : (page + 1) * size]), page


def pager_row(ctx: Ctx, route: str, page: int, pages: int, *prefix: object) -> list[Button]:
    """◀ n/m ▶ for a paged list; empty when everything fits on one page."""
    if pages <= 1:
        return []
    row: list[Button] = []
    if page > 0:
        row.append(Button.callback("◀", cb(route, *prefix, page - 1)))
    row.append(Button.callback(f"{page + 1}/{pages}", cb(route, *prefix, page)))
    if page < pages - 1:
        row.append(Button.callback("▶", cb(route, *prefix, page + 1)))
    return row


def short_code(value: str, length: int = 8) -> str:
    """A callback-safe digest of a long id (a Stars charge id can exceed the 64-byte limit)."""
    digest = hashlib.sha256(value.encode()).digest()
    return base64.b32encode(digest[:10]).decode().lower()[:length]


async def require_admin(ctx: Ctx) -> None:
    """Typed input reaches state handlers without the router's admin check: repeat it here. Someone
    no longer in ``ADMIN_IDS`` loses the prompt (and gets the main menu, as for a stale button)."""
    if not ctx.is_admin:
        async with ctx.conn() as conn:
            await conversations.clear_state(conn, ctx.user_id)
        raise BadCallback("not an admin")


async def clear_input(ctx: Ctx) -> None:
    """Forget any typed-input prompt of the panel (opening a screen abandons it)."""
    async with ctx.conn() as conn:
        state = await conversations.get_state(conn, ctx.user_id)
        if state is not None and state.state.startswith(STATE_PREFIX):
            await conversations.clear_state(conn, ctx.user_id)


def cancel_row(ctx: Ctx, back: str = HOME) -> list[Button]:
    """✖ Cancel under a prompt: drops the typed input and goes back."""
    return [Button.callback(ctx.t("common.cancel"), back)]


def precise_when(moment: datetime) -> str:
    """``05-01 12:34:56`` for a job's steps, where seconds matter."""
    return moment.astimezone(UTC).strftime("%m-%d %H:%M:%S")


def with_notice(notice: str | None, text: str) -> str:
    """What the last action did, above the screen it leads back to (a toast would be lost: the
    router answers the callback query before the handler runs)."""
    return text if not notice else f"{notice}\n\n{text}"
