"""/start (welcome, welcome balance, referral), the main menu, /menu, /help and /lang."""

from __future__ import annotations

import logging

from kiebot.bot.context import Ctx, Keyboard
from kiebot.bot.router import routes
from kiebot.chat.callback_data import BadCallback, cb, str_arg
from kiebot.chat.format import Safe, escape, render, rub
from kiebot.store import free_tier, menu, money, referrals, users
from kiebot.store.db import UniqueViolation
from kiebot.store.menu import MenuFigures
from kiebot.telegram.types import InlineKeyboardButton as Button

log = logging.getLogger(__name__)


def _limits(ctx: Ctx) -> free_tier.FreeLimits:
    s = ctx.deps.settings
    return free_tier.FreeLimits(daily=s.free_daily_limit, hourly=s.free_hourly_limit)


async def menu_figures(ctx: Ctx, *, clear_state: bool = False) -> MenuFigures:
    """Balance and free uses in one statement (:mod:`kiebot.store.menu`), clearing the user's
    conversation state in it when asked."""
    async with ctx.conn() as conn:
        return await menu.menu_figures(conn, ctx.user_id, ctx.deps.now(), _limits(ctx), clear_state=clear_state)


async def figures_leaving_state(ctx: Ctx, *, changed: bool = False) -> MenuFigures:
    """The menu's figures for a command that leaves any wizard (/start, /menu): those the claim
    read with the update — no statement of this screen's own — unless this update ``changed``
    what the menu shows, or a state must be cleared; then one statement clears it and reads them."""
    snapshot, ctx.menu_snapshot = ctx.menu_snapshot, None
    if snapshot is None or changed or snapshot.has_state:
        return await menu_figures(ctx, clear_state=True)
    return snapshot.figures(ctx.deps.now(), _limits(ctx))


async def free_left(ctx: Ctx) -> int:
    return (await menu_figures(ctx)).free_left


def main_menu_keyboard(ctx: Ctx, figures: MenuFigures) -> Keyboard:
    left = figures.free_left
    return [
        [Button.callback(ctx.t("menu.images"), cb("cat", "image")), Button.callback(ctx.t("menu.video"), cb("cat", "video"))],
        [Button.callback(ctx.t("menu.audio"), cb("cat", "audio")), Button.callback(ctx.t("menu.tools"), cb("cat", "tools"))],
        [Button.callback(ctx.t("mine.menu_button"), cb("my")), Button.callback(ctx.t("find.menu_button"), cb("find"))],
        [Button.callback(ctx.t("menu.popular"), cb("pop", 0)), Button.callback(ctx.t("menu.free", n=left), cb("free"))],
        [Button.callback(ctx.t("menu.balance"), cb("bal")), Button.callback(ctx.t("menu.history"), cb("hist", 0))],
        [Button.callback(ctx.t("menu.referral"), cb("ref")), Button.callback(ctx.t("menu.help"), cb("help"))],
    ]


def main_menu_text(ctx: Ctx, figures: MenuFigures) -> str:
    return ctx.t("menu.title", balance=Safe(rub(figures.balance, ctx.lang)))


async def show_menu(ctx: Ctx, *, clear_state: bool = False) -> None:
    """The main menu, in place when the user tapped a button, else as a new message."""
    figures = await menu_figures(ctx, clear_state=clear_state)
    await ctx.show(main_menu_text(ctx, figures), main_menu_keyboard(ctx, figures))


async def send_menu(ctx: Ctx, figures: MenuFigures) -> None:
    """The main menu as a new message."""
    await ctx.send(main_menu_text(ctx, figures), main_menu_keyboard(ctx, figures))


async def _show_main_menu(ctx: Ctx) -> None:
    await show_menu(ctx)


routes.main_menu = _show_main_menu


@routes.command("menu")
async def menu_command(ctx: Ctx, arg: str) -> None:
    await send_menu(ctx, await figures_leaving_state(ctx))


@routes.callback("menu")
async def menu_button(ctx: Ctx, args: list[str]) -> None:
    await show_menu(ctx, clear_state=True)


def _referrer_from(arg: str) -> int | None:
    if not arg.startswith("ref_"):
        return None
    try:
        value = int(arg[4:])
    except ValueError:
        return None
    return value if value > 0 else None


@routes.command("start")
async def start(ctx: Ctx, arg: str) -> None:
    """Create-or-greet. The welcome credit is keyed per user, so a repeated /start never pays twice."""
    settings = ctx.deps.settings
    welcomed = False
    if settings.welcome_balance_kopecks > 0:
        async with ctx.tx() as conn:
            key = money.welcome_key(ctx.user_id)
            if await money.entry_by_key(conn, key) is None:
                await money.credit(conn, ctx.user_id, settings.welcome_balance_kopecks, kind="welcome", key=key)
                welcomed = True
    referrer = _referrer_from(arg)
    if referrer is not None:
        async with ctx.conn() as conn:
            try:
                result = await referrals.record_referral(
                    conn, referrer, ctx.user_id, settings.referral_bonus_free_uses, now=ctx.deps.now()
                )
            except UniqueViolation:
                result = None
        if result is not None and result.outcome == "recorded":
            await _tell_referrer(ctx, referrer, result.bonus_uses)
    name = escape(ctx.user.first_name or "")
    lines = [ctx.t("menu.welcome", name=Safe(name))]
    if welcomed:
        lines.append(ctx.t("menu.welcome_bonus", amount=Safe(rub(settings.welcome_balance_kopecks, ctx.lang))))
    lines.append(ctx.t("menu.how_it_works"))
    # The menu's figures come with the claim (the sender's upsert and its balance and free uses
    # are read by that statement), unless this /start credited the welcome balance or recorded a
    # referral, or there is a state to clear (a /start leaves any wizard): then one statement
    # clears it and reads them. A returning or new user's /start costs three statements — intake's
    # INSERT, the claim, the finish (tests/app/test_statement_counts.py).
    figures = await figures_leaving_state(ctx, changed=welcomed or referrer is not None)
    await ctx.send("\n\n".join(lines))
    await send_menu(ctx, figures)


async def _tell_referrer(ctx: Ctx, referrer_id: int, bonus: int) -> None:
    async with ctx.conn() as conn:
        referrer = await users.get_user(conn, referrer_id)
    if referrer is None or referrer.blocked_bot or bonus <= 0:
        return
    await ctx.send(render(referrer.language, "menu.referral_joined", n=bonus), chat_id=referrer_id)


@routes.command("help")
async def help_command(ctx: Ctx, arg: str) -> None:
    await ctx.send(_help_text(ctx), [[Button.callback(ctx.t("common.menu"), cb("menu"))]])


@routes.callback("help")
async def help_button(ctx: Ctx, args: list[str]) -> None:
    await ctx.show(_help_text(ctx), [[Button.callback(ctx.t("common.menu"), cb("menu"))]])


def _help_text(ctx: Ctx) -> str:
    settings = ctx.deps.settings
    parts = [ctx.t("help.body")]
    if settings.support_telegram:
        parts.append(ctx.t("help.support_contact", contact=settings.support_telegram))
    if settings.support_text:
        parts.append(escape(settings.support_text))
    return "\n\n".join(parts)


@routes.command("lang")
async def lang_command(ctx: Ctx, arg: str) -> None:
    await ctx.send(ctx.t("lang.choose"), _lang_keyboard())


def _lang_keyboard() -> Keyboard:
    return [[Button.callback("🇷🇺 Русский", cb("lang", "ru")), Button.callback("🇬🇧 English", cb("lang", "en"))]]


@routes.callback("lang")
async def lang_button(ctx: Ctx, args: list[str]) -> None:
    choice = str_arg(args, 0)
    language: users.Language
    if choice == "ru":
        language = "ru"
    elif choice == "en":
        language = "en"
    else:
        raise BadCallback("unknown language")
    async with ctx.conn() as conn:
        await users.set_language(conn, ctx.user_id, language)
        ctx.user = await users.get_user(conn, ctx.user_id) or ctx.user
    await ctx.answer(ctx.t("lang.switched"))
    await show_menu(ctx)
