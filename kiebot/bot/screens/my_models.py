"""«⭐ Мои модели» (issue 16 item 5): starred models and the last models used, one tap from a wizard.

Callback data (≤ 64 bytes): ``my`` the screen; ``fav:<code>:<origin>:<1|0>`` the ⭐ button of a
model card (1 stars, 0 unstars: an explicit target state, so a repeated tap or an update handled
twice leaves the same result, never a flip back); ``myx:<code>`` ✖️ on this screen unstars.
Model codes are decoded by :class:`~kiebot.chat.callback_data.ModelCodes` and origins checked by
:func:`~kiebot.bot.screens.catalog.origin_callback`, so a tampered button gets "outdated".

A model button here is ``go:<code>:y`` — the wizard's first step at once (the card stays one
Back away); Back from the wizard returns here. Switched-off models are left out; favourites
of them stay stored and come back when the model does.
"""

from __future__ import annotations

from typing import Final

from kiebot.bot.context import Ctx, Keyboard
from kiebot.bot.router import routes
from kiebot.bot.screens.catalog import listed, origin_callback, price_label, show_card
from kiebot.catalog import ModelSpec, title
from kiebot.chat.callback_data import BadCallback, cb, int_arg, str_arg
from kiebot.store import favourites
from kiebot.telegram.types import InlineKeyboardButton as Button

#: The issue: favourites and "the last 3 models used".
RECENT: Final = 3


def _label(ctx: Ctx, mark: str, spec: ModelSpec, status: str) -> str:
    key = "catalog_ui.model_paused" if status == "paused" else "catalog_ui.model_button"
    return f"{mark} " + ctx.t(key, title=title(spec, ctx.lang), price=price_label(ctx, spec))


async def my_models_screen(ctx: Ctx) -> tuple[str, Keyboard]:
    registry = ctx.deps.registry
    async with ctx.conn() as conn:
        starred = await favourites.favourites(conn, ctx.user_id)
        recent = await favourites.recent_models(conn, ctx.user_id, limit=RECENT + len(starred))
    recent = [m for m in recent if m not in starred][:RECENT]
    stars = await listed(ctx, [spec for m in starred if (spec := registry.get(m)) is not None and spec.enabled])
    lately = await listed(ctx, [spec for m in recent if (spec := registry.get(m)) is not None and spec.enabled])
    rows: list[list[Button]] = []
    for spec, status in stars:
        code = ctx.deps.codes.code(spec.id)
        rows.append(
            [
                Button.callback(_label(ctx, "⭐", spec, status), cb("go", code, "y")),
                Button.callback(ctx.t("mine.remove_short"), cb("myx", code)),
            ]
        )
    for spec, status in lately:
        rows.append([Button.callback(_label(ctx, "🕘", spec, status), cb("go", ctx.deps.codes.code(spec.id), "y"))])
    rows.append([Button.callback(ctx.t("common.menu"), cb("menu"))])
    if not stars and not lately:
        return ctx.t("mine.empty"), rows
    return ctx.t("mine.title"), rows


@routes.callback("my")
async def my_models(ctx: Ctx, args: list[str]) -> None:
    await ctx.show(*await my_models_screen(ctx))


@routes.callback("myx", answers_itself=True)
async def unstar_here(ctx: Ctx, args: list[str]) -> None:
    spec = ctx.deps.registry.require(ctx.deps.codes.model(str_arg(args, 0)))
    async with ctx.conn() as conn:
        await favourites.remove(conn, ctx.user_id, spec.id)
    await ctx.answer(ctx.t("mine.removed"))
    await ctx.show(*await my_models_screen(ctx))


@routes.callback("fav", answers_itself=True)
async def star_on_card(ctx: Ctx, args: list[str]) -> None:
    """The card's ⭐ / ☆: set the model's favourite state, say so, and show the card again."""
    spec = ctx.deps.registry.require(ctx.deps.codes.model(str_arg(args, 0)))
    origin = str_arg(args, 1)
    origin_callback(ctx, origin)  # refuses an origin none of our screens produces
    wanted = int_arg(args, 2, maximum=1) == 1
    if len(args) != 3:
        raise BadCallback("unexpected arguments")
    async with ctx.conn() as conn:
        if wanted:
            await favourites.add(conn, ctx.user_id, spec.id)
        else:
            await favourites.remove(conn, ctx.user_id, spec.id)
    await ctx.answer(ctx.t("mine.added" if wanted else "mine.removed"))
    await show_card(ctx, spec, origin)
