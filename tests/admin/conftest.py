"""Fixtures for the admin panel tests: the whole world (fake Telegram + fake Kie + the real app on
a fresh PostgreSQL database) with the ledger invariant proven on the way out, and a small driver
that waits until the bot has *finished* handling an update (its inbox row is ``done``) instead of
sleeping and hoping.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any

import pytest

from kiebot.bot.guards import RateGuard
from kiebot.i18n import t
from kiebot.store import jobs
from kiebot.store.db import Conn
from kiebot.store.free_tier import FreeLimits
from kiebot.testing.harness import World, open_world
from kiebot.testing.telegram.model.state import CallbackAnswer, RequestRecord
from kiebot.testing.telegram.server import SimMessage
from tests.support.books import assert_books_balance

WorldFactory = Callable[..., AbstractAsyncContextManager[World]]

#: Bot API calls that put something on the screen.
SCREEN_METHODS = frozenset(
    (
        "sendmessage",
        "editmessagetext",
        "sendphoto",
        "senddocument",
        "editmessagecaption",
        "editmessagereplymarkup",
    )
)
OUTDATED_RU = t("ru", "common.outdated")
MAIN_MENU_RU = t("ru", "menu.title").split("\n")[0]
MAIN_MENU_EN = t("en", "menu.title").split("\n")[0]


@pytest.fixture
def admin_world(database_url: str) -> WorldFactory:
    """``async with admin_world(env={...}) as world:`` — the money invariant is checked at exit."""

    @contextlib.asynccontextmanager
    async def factory(env: Mapping[str, str] | None = None, **kwargs: Any) -> AsyncIterator[World]:
        async with open_world(database_url, env=env, **kwargs) as world:
            yield world
            await assert_books_balance(world.app.db)

    return factory


@dataclass
class Reaction:
    """What the bot did for one update in one chat: its screen calls and the callback answer."""

    screens: list[RequestRecord]
    answer: CallbackAnswer | None

    @property
    def texts(self) -> list[str]:
        out = []
        for r in self.screens:
            value = r.params.get("text", r.params.get("caption"))
            if isinstance(value, str):
                out.append(value)
        return out

    @property
    def outdated(self) -> bool:
        """The router's "this menu is outdated": a toast when it answers the query itself, and
        always a fresh main menu (a handler's BadCallback comes after the query was answered,
        so the menu is the only sign of it)."""
        toast = self.answer is not None and self.answer.text in (OUTDATED_RU, t("en", "common.outdated"))
        return toast or any(MAIN_MENU_RU in text or MAIN_MENU_EN in text for text in self.texts)


class Driver:
    """Acts as a Telegram user and waits for the bot to finish handling each action."""

    def __init__(self, world: World) -> None:
        self.world = world

    def allow_repeated_taps(self) -> None:
        """Turn off the router's 2-second double-tap filter (its own tests cover it) for tests that
        tap one button again on purpose, so they do not depend on how fast the machine is."""
        self.world.app.bot.guard = RateGuard(dedupe_s=0.0)

    @property
    def tg(self) -> Any:
        return self.world.tg

    async def settle(self, update_id: int, timeout: float = 20.0) -> None:  # noqa: ASYNC109
        """Until the update is stored and handled; it must have been handled without a failure."""
        await self.world.settle(upto=update_id, timeout_s=timeout)
        async with self.world.app.db.connection() as conn:
            status = await conn.fetchval("SELECT status FROM updates WHERE update_id = $1", update_id)
        assert status == "done", f"update {update_id} failed in the bot"

    def _since(self, index: int, chat_id: int) -> list[RequestRecord]:
        return [
            r
            for r in self.tg.requests[index:]
            if r.method.lower() in SCREEN_METHODS and str(r.params.get("chat_id")) == str(chat_id)
        ]

    async def start(self, user_id: int, first_name: str, **profile: Any) -> Reaction:
        """A user who opened the bot: added to the fake Telegram, then /start."""
        self.tg.add_user(user_id, first_name, **profile)
        return await self.send(user_id, "/start")

    async def send(self, user_id: int, text: str) -> Reaction:
        index = len(self.tg.requests)
        self.tg.send_text(user_id, text)
        await self.settle(self.tg.updates[-1]["update_id"])
        return Reaction(self._since(index, user_id), None)

    async def send_photo(self, user_id: int, data: bytes) -> tuple[dict[str, Any], Reaction]:
        index = len(self.tg.requests)
        message = self.tg.send_photo(user_id, data)
        await self.settle(self.tg.updates[-1]["update_id"])
        return message, Reaction(self._since(index, user_id), None)

    async def tap(self, user_id: int, message_id: int, data: str) -> Reaction:
        index = len(self.tg.requests)
        query_id = self.tg.tap(user_id, message_id, data, force=True)
        await self.settle(self.tg.updates[-1]["update_id"])
        answer = await self.tg.wait_for_callback_answer(query_id, timeout=5)
        return Reaction(self._since(index, user_id), answer)

    async def tap_button(self, user_id: int, message: SimMessage, text: str) -> Reaction:
        button = message.button(text)
        return await self.tap(user_id, message.message_id, str(button["callback_data"]))

    def last(self, user_id: int) -> SimMessage:
        message = self.tg.last_bot_message(user_id)
        assert message is not None
        return message

    def screen(self, user_id: int, reaction: Reaction) -> SimMessage:
        """The message the reaction's last screen call showed (edited or sent)."""
        assert reaction.screens, "the bot showed nothing"
        last = reaction.screens[-1]
        message_id = last.params.get("message_id")
        if message_id is not None:
            return self.tg.message(user_id, int(message_id))
        return self.last(user_id)


@pytest.fixture
def driver_for() -> Callable[[World], Driver]:
    return Driver


@pytest.fixture
def admin_driver(admin_world: WorldFactory) -> Callable[..., AbstractAsyncContextManager[Driver]]:
    """``async with admin_driver(env={...}) as d:`` — ``admin_world`` with a :class:`Driver` on it
    that may tap one button again at once (``allow_repeated_taps``); the world is ``d.world``."""

    @contextlib.asynccontextmanager
    async def factory(env: Mapping[str, str] | None = None, **kwargs: Any) -> AsyncIterator[Driver]:
        async with admin_world(env, **kwargs) as world:
            d = Driver(world)
            d.allow_repeated_taps()
            yield d

    return factory


async def finished_job(conn: Conn, user_id: int, *, key: str, outcome: str, free: bool = False) -> int:
    """A job that ran its whole course inside one transaction (no worker ever sees it queued):
    ``failed`` with a provider error, or ``delivered`` through every state with a Kie task id."""
    async with conn.transaction():
        created = await jobs.create_job(
            conn,
            user_id=user_id,
            chat_id=user_id,
            model_id="google/imagen4-fast",
            kind="text_to_image",
            params={"params": {"aspect_ratio": "16:9"}, "prompt": "a red fox", "media": {}, "lang": "ru"},
            quote_kopecks=0 if free else 1500,
            idempotency_key=key,
            timeout_s=600,
            credits=4.0,
            request_id=f"u-{key}",
            free=free,
            free_limits=FreeLimits(daily=5, hourly=2) if free else None,
        )
        job_id = created.job.id
        if outcome == "failed":
            await jobs.transition(
                conn, job_id, "failed", error_code="provider_failed", error_message="NSFW <b>filter</b>"
            )
            return job_id
        await jobs.transition(conn, job_id, "submitting")
        await jobs.transition(conn, job_id, "submitted", kie_task_id=f"task-{key}")
        await jobs.transition(conn, job_id, "succeeded", result={"urls": ["https://example.invalid/x.png"]})
        await jobs.transition(conn, job_id, "delivered")
        return job_id


@pytest.fixture
def make_finished_job() -> Callable[..., Awaitable[int]]:
    return finished_job
