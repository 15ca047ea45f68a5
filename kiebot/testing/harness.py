"""A whole world on 127.0.0.1 for tests, benchmarks and the sandbox: the fake Telegram Bot API,
the fake Kie server, and the real app (``kiebot.runtime.app.run_app``) pointed at both.

Usage::

    async with open_world(database_url) as world:
        world.tg.add_user(USER, "Ann")
        world.tg.send_text(USER, "/start")
        await world.tg.wait_for_message(USER, contains="Главное меню")
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any, Final

import msgspec
import trio
import trio_asyncio

from kiebot.config import load_settings
from kiebot.runtime.app import AppHandle, run_app
from kiebot.testing.kie.server import FakeKie
from kiebot.testing.telegram.server import FakeTelegram

TOKEN = "123456789:AAHfakeTokenForKiebotTests_abcdefghij"
KIE_KEY = "kie-test-key-0123456789"
ADMIN_ID = 900_000_001
#: Messages per second the app may send into one chat of the fake (Telegram allows about one).
#: Scripted users tap faster than people: at Telegram's pace every step of a test would wait a
#: second for the per-chat bucket. Global and group limits stay Telegram's; the limiter's own
#: tests and the fake's opt-in flood rules (``tg_options={"flood_rules": ...}``, which restore
#: this pace) cover the per-chat limit itself.
TEST_CHAT_RATE = 200.0
#: Leadership and the reconciler at test pace: a leader is elected within a second, a job with no
#: callback is polled every 0.2 s.
TEST_LIMITS: Final[dict[str, float]] = {
    "leadership_heartbeat_s": 1.0,
    "leadership_retry_s": 0.5,
    "leadership_timeout_s": 2.0,
    "reconcile_every_s": 0.2,
}


class World:
    """The fakes plus the running app; :meth:`restart_app` swaps the app, keeping the fakes."""

    def __init__(
        self,
        tg: FakeTelegram,
        kie: FakeKie,
        nursery: trio.Nursery,
        env: Mapping[str, str],
        *,
        chat_rate: float | None = TEST_CHAT_RATE,
    ) -> None:
        self.tg = tg
        self.chat_rate = chat_rate
        self.kie = kie
        self.nursery = nursery
        self.env = dict(env)
        self.settings = load_settings(self.env)
        self._stopped = trio.Event()
        self._app: AppHandle | None = None
        self._handled = trio.Event()

    @property
    def app(self) -> AppHandle:
        assert self._app is not None, "the app is not running"
        return self._app

    async def start_app(self, **overrides: str) -> AppHandle:
        env = dict(self.env)
        env.update(overrides)
        settings = load_settings(env)
        self.settings = settings
        self._stopped = stopped = trio.Event()

        limits = msgspec.structs.replace(settings.limits, **TEST_LIMITS)
        if self.chat_rate is not None:
            limits = msgspec.structs.replace(limits, telegram_chat_per_second=self.chat_rate)
        settings = self.settings = msgspec.structs.replace(settings, limits=limits)

        async def run(task_status: trio.TaskStatus[AppHandle] = trio.TASK_STATUS_IGNORED) -> None:
            try:
                await run_app(settings, task_status=task_status)
            finally:
                stopped.set()

        self._app = await self.nursery.start(run)
        assert self._app.dispatcher is not None
        self._app.dispatcher.on_handled = self._note_handled
        if not settings.kie_callback_base:
            self._app.gen.callback_base_override = self._app.url.replace("://0.0.0.0:", "://127.0.0.1:")
        return self._app

    async def stop_app(self) -> None:
        if self._app is not None:
            self._app.request_shutdown()
            with trio.fail_after(30):
                await self._stopped.wait()
            self._app = None

    def _note_handled(self, update_id: int) -> None:
        self._handled.set()
        self._handled = trio.Event()

    async def settle(self, *, upto: int | None = None, timeout_s: float = 20.0) -> None:
        """Until every update the fake Telegram made so far (or up to ``upto``) is stored and
        handled. The inbox is checked each time the bot reports a handled update, not on a timer;
        a short fallback covers an update the bot has not stored yet."""
        if upto is None:
            if not self.tg.updates:
                return
            upto = int(self.tg.updates[-1]["update_id"])
        with trio.fail_after(timeout_s):
            while not await self._handled_upto(upto):
                with trio.move_on_after(0.5):
                    await self._handled.wait()

    async def _handled_upto(self, upto: int) -> bool:
        async with self.app.db.connection() as conn:
            # One statement, one snapshot: the row must exist and nothing up to it be unfinished.
            row = await conn.fetchrow(
                """
                SELECT count(*) FILTER (WHERE update_id = $1) AS stored,
                       count(*) FILTER (WHERE status IN ('pending', 'claimed')) AS unfinished
                FROM updates WHERE update_id <= $1
                """,
                upto,
            )
        return row is not None and bool(row["stored"]) and not row["unfinished"]

    async def restart_app(self, **overrides: str) -> AppHandle:
        """Stop the app gracefully and start a new one on the same database and fakes."""
        await self.stop_app()
        return await self.start_app(**overrides)


async def eventually(check: Callable[[], Awaitable[bool]], *, interval: float = 0.1) -> None:
    """Wait until ``check()`` (e.g. a database query) is true; wrap it in ``trio.fail_after``.
    For state outside the fakes — the fakes themselves wake waiters without polling."""
    while not await check():  # noqa: ASYNC110 - the state lives in PostgreSQL, there is no event to wait on
        await trio.sleep(interval)


def free_port() -> int:
    """A port that was free a moment ago (for settings that must know the port before binding)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def base_env(database_url: str, tg_url: str, kie_url: str, **extra: str) -> dict[str, str]:
    env = {
        "TELEGRAM_BOT_TOKEN": TOKEN,
        "TELEGRAM_API_URL": tg_url,
        "KIE_API_KEY": KIE_KEY,
        "KIE_API_URL": kie_url,
        "KIE_UPLOAD_URL": kie_url,
        "KIE_TRUSTED_RESULT_HOSTS": "127.0.0.1",  # the fake Kie serves results over http from loopback
        "DATABASE_URL": database_url,
        "HOST": "127.0.0.1",
        "PORT": "0",
        "BOT_MODE": "polling",
        "ADMIN_IDS": str(ADMIN_ID),
        "TEST_MODE": "0",
        "INSTANCE_NAME": "test-1",
        "LOG_FORMAT": "text",
        "SHUTDOWN_GRACE_S": "5",
        "FX_RUB_PER_USD": "78",
    }
    env.update(extra)
    return env


@contextlib.asynccontextmanager
async def open_world(
    database_url: str,
    *,
    env: Mapping[str, str] | None = None,
    kie_speed: float = 0.01,
    kie_options: Mapping[str, Any] | None = None,
    tg_options: Mapping[str, Any] | None = None,
) -> AsyncIterator[World]:
    """Start the fakes and the app; stop everything on exit."""
    tg = FakeTelegram(token=TOKEN, **dict(tg_options or {}))
    kie = FakeKie(api_key=KIE_KEY, speed=kie_speed, **dict(kie_options or {}))
    # One asyncio loop for the app and the test, so tests can query the app's database.
    async with trio_asyncio.open_loop(), trio.open_nursery() as nursery:
        tg_url = await nursery.start(tg.serve)
        kie_url = await nursery.start(kie.serve)
        env = base_env(database_url, tg_url, kie_url, **dict(env or {}))
        # With the fake's flood rules on, the app keeps Telegram's own per-chat pace.
        world = World(tg, kie, nursery, env, chat_rate=None if tg_options and tg_options.get("flood_rules") else TEST_CHAT_RATE)

        await world.start_app()
        try:
            yield world
        finally:
            with trio.move_on_after(30):
                await world.stop_app()
            nursery.cancel_scope.cancel()
