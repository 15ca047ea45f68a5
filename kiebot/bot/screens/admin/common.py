"""Small pieces every admin screen uses: the way back to the panel, times, amounts, paging, and
the guard for typed input.

Times are on the deployment's one clock (``TIMEZONE``, :mod:`kiebot.chat.clock`), as users see
them, and each screen names the zone once (its title says "время по Москве" / "Moscow time"): an
admin answering "when did my payment go through?" reads the same clock as the user asking.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Sequence
from datetime import datetime
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


def when(ctx: Ctx, moment: datetime | None) -> str:
    """``01.05.2025 12:34``; ``—`` for nothing (the screen names the zone once)."""
    return ctx.when(moment, "long")


def short_when(ctx: Ctx, moment: datetime) -> str:
    """``01.05 12:34`` for dense lists."""
    return ctx.when(moment, "short")


def zoned_when(ctx: Ctx, moment: datetime | None) -> str:
    """``01.05.2025 12:34 (по Москве)``: a time on a screen with no title to name the zone."""
    return ctx.t("clock.zoned", time=when(ctx, moment), zone=ctx.zone())


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


def precise_when(ctx: Ctx, moment: datetime) -> str:
    """``01.05 12:34:56`` for a job's steps, where seconds matter."""
    return ctx.when(moment, "precise")


def with_notice(notice: str | None, text: str) -> str:
    """What the last action did, above the screen it leads back to (a toast would be lost: the
    router answers the callback query before the handler runs)."""
    return text if not notice else f"{notice}\n\n{text}"
