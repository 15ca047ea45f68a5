"""Find a model by typing (issue 16 item 4): text outside any flow, ``/models <words>``, 🔎 in the menu.

The search itself is :func:`kiebot.catalog.search.search`, a pure function; this screen shows
its first :data:`SHOWN` listed models (switched-off ones are left out, paused ones marked) as the
catalogue's own buttons (``mdl:<code>:s``), so a tap opens the card as any list does. The query is
remembered (:mod:`kiebot.store.searches`) so Back on that card (``srch``) shows the same results.

Text that finds nothing goes back to the router, which answers "use the menu" as before; a
wizard's text input never reaches here (the router gives text to the conversation state first).
"""

from __future__ import annotations

from typing import Final

from kiebot.bot.context import Ctx, Keyboard
from kiebot.bot.router import routes, show_main_menu
from kiebot.bot.screens.catalog import SECTIONS, listed, model_button
from kiebot.catalog import ModelSpec
from kiebot.catalog.search import MAX_QUERY_CHARS, index_for, search
from kiebot.chat.callback_data import cb
from kiebot.store import searches
from kiebot.telegram.types import InlineKeyboardButton as Button

#: Buttons in one answer (the issue: "up to 8 model buttons with their prices").
SHOWN: Final = 8


async def found(ctx: Ctx, query: str) -> tuple[list[tuple[ModelSpec, str]], bool]:
    """The models to show for ``query`` (with their status), and whether more matched."""
    registry = ctx.deps.registry
    specs = [registry.require(model_id) for model_id in search(index_for(registry), query)]
    shown = await listed(ctx, specs)
    return shown[:SHOWN], len(shown) > SHOWN


def _sections(ctx: Ctx) -> list[list[Button]]:
    buttons = [Button.callback(ctx.t(f"catalog_ui.sections.{s}"), cb("cat", s)) for s in SECTIONS]
    return [buttons[:2], buttons[2:], [Button.callback(ctx.t("common.menu"), cb("menu"))]]


def _quoted(query: str) -> str:
    text = " ".join(query.split())
    return text if len(text) <= MAX_QUERY_CHARS else text[: MAX_QUERY_CHARS - 1] + "…"


async def results_screen(ctx: Ctx, query: str) -> tuple[str, Keyboard] | None:
    """The answer to ``query``, or None when nothing matched."""
    models, more = await found(ctx, query)
    if not models:
        return None
    async with ctx.tx() as conn:
        await searches.remember(conn, ctx.user_id, query)
    rows = [[model_button(ctx, spec, status, "s")] for spec, status in models]
    rows.append([Button.callback(ctx.t("common.menu"), cb("menu"))])
    key = "find.results_more" if more else "find.results"
    return ctx.t(key, query=_quoted(query), shown=SHOWN), rows


async def on_text(ctx: Ctx, text: str) -> bool:
    """Text sent outside any flow: the results as a new message; False when nothing matched."""
    screen = await results_screen(ctx, text)
    if screen is None:
        return False
    await ctx.send(*screen)
    return True


routes.free_text = on_text


@routes.command("models", "find", "search")
async def models_command(ctx: Ctx, arg: str) -> None:
    """``/models kling`` searches; ``/models`` alone says how, with the sections to browse."""
    if arg.strip():
        screen = await results_screen(ctx, arg)
        if screen is not None:
            await ctx.send(*screen)
            return
        await ctx.send(ctx.t("find.nothing", query=_quoted(arg)), _sections(ctx))
        return
    await ctx.send(ctx.t("find.hint"), _sections(ctx))


@routes.callback("find")
async def find_button(ctx: Ctx, args: list[str]) -> None:
    """🔎 in the main menu: how to search (a button cannot open the keyboard, so it explains)."""
    await ctx.show(ctx.t("find.hint"), _sections(ctx))


@routes.callback("srch")
async def back_to_results(ctx: Ctx, args: list[str]) -> None:
    """Back from a card opened from search results: the same results again (or the menu)."""
    async with ctx.conn() as conn:
        query = await searches.last(conn, ctx.user_id)
    screen = await results_screen(ctx, query) if query else None
    if screen is None:
        await show_main_menu(ctx)
        return
    await ctx.show(*screen)
