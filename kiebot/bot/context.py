"""What a handler gets: :class:`BotDeps` (the long-lived services, wired by ``app.py``) and
:class:`Ctx` (one update: who, in which language, and helpers to answer).

Handlers never build HTTP requests or SQL: they call the Telegram client's typed methods through
``ctx`` and the ``kiebot.store`` functions inside ``ctx.tx()``.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from kiebot.bot.guards import RateGuard
from kiebot.catalog import Registry
from kiebot.catalog.availability import Availability
from kiebot.catalog.fx import FxCache
from kiebot.chat import clock
from kiebot.chat.broadcast import BroadcastSender
from kiebot.chat.callback_data import ModelCodes
from kiebot.chat.format import render
from kiebot.config import Settings
from kiebot.generation.media_budget import MediaBudget
from kiebot.generation.notify import Notifier
from kiebot.metrics import Metrics
from kiebot.store.db import Conn, Database
from kiebot.store.menu import MenuSnapshot
from kiebot.store.users import User
from kiebot.telegram.client import TelegramClient
from kiebot.telegram.errors import BadRequest, ChatNotFound, Forbidden, MessageToEditNotFound
from kiebot.telegram.types import (
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    Update,
)

log = logging.getLogger(__name__)

Keyboard = Sequence[Sequence[InlineKeyboardButton]]


def utcnow() -> datetime:
    return datetime.now(UTC)


def markup(rows: Keyboard | None) -> InlineKeyboardMarkup | None:
    if rows is None:
        return None
    return InlineKeyboardMarkup(inline_keyboard=[list(r) for r in rows if r])


@dataclass
class BotDeps:
    """Services shared by every handler; built once by ``app.py``."""

    settings: Settings
    db: Database
    tg: TelegramClient
    registry: Registry
    codes: ModelCodes
    fx: FxCache
    free_tier: tuple[str, ...]
    metrics: Metrics
    availability: Availability
    guard: RateGuard
    bot_username: str = "kiebot"
    wake_generation: Callable[[], None] = lambda: None
    now: Callable[[], datetime] = utcnow
    #: Admin alerts and job news (set by the composition root; None in screen-only tests).
    notifier: Notifier | None = None
    #: The admin broadcast sender, woken when an admin starts a broadcast.
    broadcast: BroadcastSender | None = None
    #: Media bytes in memory (``MEDIA_MEMORY_MB``): the same budget as the jobs' (``app.py``).
    media: MediaBudget = field(default_factory=lambda: MediaBudget(128 * 1024 * 1024))

    @property
    def markup(self) -> float:
        return self.settings.pricing_markup

    def is_admin(self, user_id: int) -> bool:
        return self.settings.is_admin(user_id)


@dataclass
class Ctx:
    """One update being handled."""

    deps: BotDeps
    update: Update
    user: User
    chat_id: int
    message: Message | None = None
    query: CallbackQuery | None = None
    _answered: bool = False
    #: The sender's menu figures as the claim read them (:class:`kiebot.store.menu.MenuSnapshot`),
    #: used at most once, by a screen that changed nothing before drawing the menu.
    menu_snapshot: MenuSnapshot | None = None

    @property
    def lang(self) -> str:
        return self.user.language

    @property
    def user_id(self) -> int:
        return self.user.user_id

    @property
    def is_admin(self) -> bool:
        return self.deps.is_admin(self.user.user_id)

    @property
    def tg(self) -> TelegramClient:
        return self.deps.tg

    def t(self, key: str, /, **params: Any) -> str:
        """The text ``key`` in the user's language, string parameters HTML-escaped."""
        return render(self.lang, key, **params)

    def when(self, moment: datetime | None, style: clock.Style = "short") -> str:
        """A moment on the deployment's one clock (``TIMEZONE``), written the user's way."""
        return clock.when(moment, self.deps.settings.timezone, self.lang, style)

    def zone(self) -> str:
        """The clock's name, said once per screen that shows times (``по Москве``, ``UTC+5``)."""
        return clock.zone_name(self.deps.settings.timezone, self.lang, self.deps.now())

    @contextlib.asynccontextmanager
    async def tx(self) -> AsyncIterator[Conn]:
        async with self.deps.db.transaction() as conn:
            yield conn

    @contextlib.asynccontextmanager
    async def conn(self) -> AsyncIterator[Conn]:
        async with self.deps.db.connection() as conn:
            yield conn

    # ---- answering ------------------------------------------------------------------------------

    async def answer(self, text: str | None = None, *, alert: bool = False) -> None:
        """Answer the callback query once (Telegram shows a spinner until we do)."""
        if self.query is None or self._answered:
            return
        self._answered = True
        try:
            await self.tg.answer_callback_query(self.query.id, text=text, show_alert=alert or None)
        except BadRequest as exc:  # "query is too old": nothing to do, the user moved on
            log.info("callback answer refused", extra={"error": type(exc).__name__})

    @property
    def answered(self) -> bool:
        return self._answered

    async def send(self, text: str, keyboard: Keyboard | None = None, *, chat_id: int | None = None) -> Message | None:
        """A new message; None when the user blocked the bot (they are marked by my_chat_member)."""
        try:
            return await self.tg.send_message(
                chat_id or self.chat_id, text, parse_mode="HTML", reply_markup=markup(keyboard), disable_web_page_preview=True
            )
        except (Forbidden, ChatNotFound):
            log.info("user unreachable; message dropped")
            return None

    async def show(self, text: str, keyboard: Keyboard | None = None) -> Message | None:
        """Replace the screen the user tapped on (edit in place), or send a new one.

        Editing keeps the chat tidy (one menu message, not a trail of them). A photo/document
        message or one too old to edit gets a fresh message instead.
        """
        target = self.query.message if self.query is not None else None
        if target is not None and target.text is not None and target.is_accessible:
            try:
                edited = await self.tg.edit_message_text(
                    self.chat_id,
                    target.message_id,
                    text,
                    parse_mode="HTML",
                    reply_markup=markup(keyboard),
                    disable_web_page_preview=True,
                )
                return edited if edited is not None else None
            except MessageToEditNotFound:
                pass
            except BadRequest as exc:
                log.info("edit refused, sending a new message", extra={"error": type(exc).__name__})
        return await self.send(text, keyboard)
