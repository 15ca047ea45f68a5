"""From an update to a handler: commands, buttons, conversation input, payments, membership.

Screens register themselves on :data:`routes` with decorators; :func:`handle_update` is what the
dispatcher calls for every stored update. Rules enforced here, once, for every screen:

* a callback query is answered first (https://core.telegram.org/bots/api#answercallbackquery: the
  client shows a spinner until then), unless the route answers itself with a toast right away;
* a button that does not parse, names an unknown route, or is stale gets "this menu is outdated"
  and a fresh main menu — never an exception;
* a flood of actions gets a polite "slow down" (admins exempt), a double tap runs once;
* a banned user gets one short answer (but may still use /terms and /paysupport); a payment is
  still recorded (money must never be lost);
* admin routes are invisible to others: they take the normal "unknown" path;
* an unexpected error tells the user something went wrong and is logged; a transient one
  (database or Telegram unavailable) is re-raised so the inbox retries the update later.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from kiebot.bot.context import BotDeps, Ctx
from kiebot.chat.callback_data import BadCallback, parse
from kiebot.i18n import normalize_lang
from kiebot.store import conversations, users
from kiebot.store.conversations import ConversationState
from kiebot.store.db import DatabaseUnavailable
from kiebot.store.menu import MenuSnapshot
from kiebot.telegram.errors import NetworkError, RetryAfter, ServerError
from kiebot.telegram.types import CallbackQuery, ChatMemberUpdated, Message, PreCheckoutQuery, Update
from kiebot.telegram.types import User as TgUser

log = logging.getLogger(__name__)

CallbackHandler = Callable[[Ctx, list[str]], Awaitable[None]]
CommandHandler = Callable[[Ctx, str], Awaitable[None]]
StateHandler = Callable[[Ctx, ConversationState, Message], Awaitable[None]]
PreCheckoutHandler = Callable[[BotDeps, PreCheckoutQuery], Awaitable[None]]
MessageHook = Callable[[Ctx, Message], Awaitable[None]]
MenuHandler = Callable[[Ctx], Awaitable[None]]
#: Text outside any flow (no command, no conversation state); True when it answered.
FreeTextHandler = Callable[[Ctx, str], Awaitable[bool]]

_TRANSIENT = (DatabaseUnavailable, ServerError, NetworkError, RetryAfter)
BANNED_ALLOWED_COMMANDS = frozenset({"paysupport", "terms"})
BANNED_ALLOWED_STATES = frozenset({"paysupport"})


@dataclass
class _CallbackRoute:
    handler: CallbackHandler
    admin: bool
    answers_itself: bool


@dataclass
class _CommandRoute:
    handler: CommandHandler
    admin: bool


@dataclass
class Routes:
    """The registry screens fill in at import time (``kiebot.bot.handlers`` imports them all)."""

    callbacks: dict[str, _CallbackRoute] = field(default_factory=dict)
    commands: dict[str, _CommandRoute] = field(default_factory=dict)
    states: dict[str, StateHandler] = field(default_factory=dict)
    precheckout: PreCheckoutHandler | None = None
    successful_payment: MessageHook | None = None
    refunded_payment: MessageHook | None = None
    main_menu: MenuHandler | None = None
    free_text: FreeTextHandler | None = None

    def callback(self, route: str, *, admin: bool = False, answers_itself: bool = False) -> Callable[[CallbackHandler], CallbackHandler]:
        def register(fn: CallbackHandler) -> CallbackHandler:
            if route in self.callbacks:
                raise ValueError(f"callback route {route!r} registered twice")
            self.callbacks[route] = _CallbackRoute(fn, admin, answers_itself)
            return fn

        return register

    def command(self, *names: str, admin: bool = False) -> Callable[[CommandHandler], CommandHandler]:
        def register(fn: CommandHandler) -> CommandHandler:
            for name in names:
                if name in self.commands:
                    raise ValueError(f"command /{name} registered twice")
                self.commands[name] = _CommandRoute(fn, admin)
            return fn

        return register

    def state(self, name: str) -> Callable[[StateHandler], StateHandler]:
        def register(fn: StateHandler) -> StateHandler:
            if name in self.states:
                raise ValueError(f"state {name!r} registered twice")
            self.states[name] = fn
            return fn

        return register


routes = Routes()


def _command_of(message: Message, bot_username: str) -> tuple[str, str] | None:
    """``"/start@kiebot ref_7"`` → ``("start", "ref_7")``; None when the text is no command."""
    text = message.text or ""
    if not text.startswith("/"):
        return None
    head, _, arg = text[1:].partition(" ")
    name, _, target = head.partition("@")
    if target and target.lower() != bot_username.lower():
        return None
    return name.lower(), arg.strip()


async def _touch(deps: BotDeps, who: TgUser, sender: users.User | None) -> users.User:
    """The sender, created or refreshed: the dispatcher's claim has usually done it already in
    its own statement (``sender``; :func:`kiebot.store.inbox.claim` with ``touch_senders``)."""
    if sender is not None and sender.user_id == who.id:
        return sender
    async with deps.db.connection() as conn:
        touched = await users.touch_user(
            conn,
            who.id,
            first_name=who.first_name or "",
            last_name=who.last_name,
            username=who.username,
            language=normalize_lang(who.language_code),
        )
    return touched.user


async def show_main_menu(ctx: Ctx) -> None:
    if routes.main_menu is not None:
        await routes.main_menu(ctx)


async def outdated(ctx: Ctx) -> None:
    """The answer to a stale or tampered button: a toast and a fresh main menu (a short message
    instead of the toast when the query was already answered — a toast can be shown only once)."""
    if ctx.answered:
        await ctx.send(ctx.t("common.outdated"))
    else:
        await ctx.answer(ctx.t("common.outdated"))
    await show_main_menu(ctx)


async def handle_update(
    deps: BotDeps, update: Update, sender: users.User | None = None, menu: MenuSnapshot | None = None
) -> None:
    """Entry point for the dispatcher. Unknown kinds are ignored (they are already stored).
    ``sender`` is the update's sender as the claim upserted it, when it did, and ``menu`` the
    sender's menu figures the same statement read."""
    if update.pre_checkout_query is not None:
        if routes.precheckout is not None:
            await routes.precheckout(deps, update.pre_checkout_query)
        return
    if update.my_chat_member is not None:
        await _on_membership(deps, update.my_chat_member)
        return
    if update.message is not None:
        await _on_message(deps, update, update.message, sender, menu)
        return
    if update.callback_query is not None:
        await _on_callback(deps, update, update.callback_query, sender)
        return
    log.debug("update kind not handled", extra={"kind": update.kind})


async def _on_membership(deps: BotDeps, change: ChatMemberUpdated) -> None:
    """``my_chat_member`` in a private chat: the user blocked (kicked) or unblocked the bot."""
    if change.chat.type != "private":
        return
    status = change.new_chat_member.status
    blocked = status in ("kicked", "left")
    async with deps.db.connection() as conn:
        user = await users.get_user(conn, change.from_.id)
        if user is not None:
            await users.set_blocked(conn, user.user_id, blocked)
    log.info("bot %s by user", "blocked" if blocked else "unblocked")


async def _guarded(ctx: Ctx, work: Callable[[], Awaitable[None]]) -> None:
    try:
        await work()
    except BadCallback:
        await outdated(ctx)
    except _TRANSIENT:
        raise
    except Exception:
        log.exception("handler error")
        await ctx.answer(ctx.t("common.error"))
        await ctx.send(ctx.t("common.error"))


async def _on_message(
    deps: BotDeps, update: Update, message: Message, sender: users.User | None, menu: MenuSnapshot | None = None
) -> None:
    who = message.from_
    if who is None or who.is_bot or message.chat.type != "private":
        return
    user = await _touch(deps, who, sender)
    ctx = Ctx(deps=deps, update=update, user=user, chat_id=message.chat.id, message=message)
    if menu is not None and user is sender:  # the figures are the claimed sender's
        ctx.menu_snapshot = menu
    # Money first: a payment must be recorded whatever else is true about the user.
    if message.successful_payment is not None:
        if routes.successful_payment is not None:
            await routes.successful_payment(ctx, message)
        return
    if message.refunded_payment is not None:
        if routes.refunded_payment is not None:
            await routes.refunded_payment(ctx, message)
        return
    if user.banned and not ctx.is_admin and not await _banned_may(deps, ctx, message):
        if deps.guard.should_warn(user.user_id, every_s=60):
            await ctx.send(ctx.t("common.banned"))
        return
    if not ctx.is_admin and not deps.guard.allow(user.user_id):
        if deps.guard.should_warn(user.user_id):
            await ctx.send(ctx.t("common.slow_down"))
        return

    command = _command_of(message, deps.bot_username)
    if command is not None:
        name, arg = command
        route = routes.commands.get(name)
        if route is None or (route.admin and not ctx.is_admin):
            await _guarded(ctx, lambda: _unknown_command(ctx))
            return
        await _guarded(ctx, lambda: route.handler(ctx, arg))
        return

    async with deps.db.connection() as conn:
        state = await conversations.get_state(conn, user.user_id)
    if state is not None:
        handler = routes.states.get(state.state)
        if handler is not None:
            await _guarded(ctx, lambda: handler(ctx, state, message))
            return
    await _guarded(ctx, lambda: _unexpected_message(ctx, message))


async def _banned_may(deps: BotDeps, ctx: Ctx, message: Message) -> bool:
    """A banned user can still read the terms and reach payment support: Telegram requires every
    bot that takes payments to answer /paysupport (https://telegram.org/tos/bot-developers §6.2.1)."""
    command = _command_of(message, deps.bot_username)
    if command is not None:
        return command[0] in BANNED_ALLOWED_COMMANDS
    async with deps.db.connection() as conn:
        state = await conversations.get_state(conn, ctx.user_id)
    return state is not None and state.state in BANNED_ALLOWED_STATES


async def _unknown_command(ctx: Ctx) -> None:
    await ctx.send(ctx.t("common.unknown_command"))


async def _unexpected_message(ctx: Ctx, message: Message) -> None:
    """A message outside any flow: text is a search of the catalogue (issue 16 item 4); anything
    else, or text that finds nothing, gets "use the menu"."""
    text = (message.text or "").strip()
    if text and routes.free_text is not None and await routes.free_text(ctx, text):
        return
    await ctx.send(ctx.t("common.use_menu"))
    await show_main_menu(ctx)


def _is_double_tap(deps: BotDeps, user_id: int, query: CallbackQuery) -> bool:
    """Whether this tap repeats one made within the guard's window (it then runs only once).

    A double tap is the same button of the same message. Keying on the data alone made
    navigation look like one: Popular → a card → Back within 2 s taps ``pop:0`` again, on the same
    message edited in place, and was ignored. So when the tapped data is on the message as it is
    now, the tap is compared with taps of this version of the message (its edit time and a digest
    of its text); when it is not there any more (the second tap of a double tap, arriving after
    the first one's edit replaced the keyboard), it is compared with any tap of that button.
    """
    data = query.data or ""
    message = query.message
    if message is None or not message.is_accessible:
        return deps.guard.is_duplicate(user_id, data)
    seen_on_message = deps.guard.is_duplicate(user_id, f"{message.message_id}:{data}")
    keyboard = message.reply_markup.inline_keyboard if message.reply_markup is not None else []
    if not any(button.callback_data == data for row in keyboard for button in row):
        return seen_on_message
    digest = hashlib.blake2s((message.text or message.caption or "").encode(), digest_size=6).hexdigest()
    return deps.guard.is_duplicate(user_id, f"{message.message_id}:{message.edit_date or message.date}:{digest}:{data}")


async def _on_callback(deps: BotDeps, update: Update, query: CallbackQuery, sender: users.User | None) -> None:
    who = query.from_
    chat_id = query.message.chat.id if query.message is not None else who.id
    user = await _touch(deps, who, sender)
    ctx = Ctx(deps=deps, update=update, user=user, chat_id=chat_id, query=query)
    if user.banned and not ctx.is_admin:
        await ctx.answer(ctx.t("common.banned"), alert=True)
        return
    data = query.data or ""
    if _is_double_tap(deps, user.user_id, query):
        await ctx.answer(ctx.t("common.wait"))
        return
    if not ctx.is_admin and not deps.guard.allow(user.user_id):
        await ctx.answer(ctx.t("common.slow_down"), alert=True)
        return
    try:
        name, args = parse(data)
        route = routes.callbacks.get(name)
        if route is None or (route.admin and not ctx.is_admin):
            raise BadCallback("unknown route")
    except BadCallback:
        await _guarded(ctx, lambda: outdated(ctx))
        return
    if not route.answers_itself:
        await ctx.answer()
    try:
        await _guarded(ctx, lambda: route.handler(ctx, args))
    finally:
        if not ctx.answered:
            await ctx.answer()
