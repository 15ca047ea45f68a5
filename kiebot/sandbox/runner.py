"""The sandbox world: embedded PostgreSQL + fake Telegram + the real app (with its fake Kie) + the page.

Start-up order: the embedded PostgreSQL in ``<data dir>/pgdata`` (its ``kiebot`` database wiped
first with ``--reset``) → the fake Bot API on a private 127.0.0.1 port, its chats restored from
the last run (``snapshot``) and its update ids continuing past the inbox's → the two simulated people
→ the real app in polling mode (``kiebot.runtime.app.run_app`` with ``KIE_STUB=1``: it starts the
in-process fake Kie itself and polls the fake Telegram like it would poll Telegram) → the page
server on ``--host:--port``. Only then :func:`run_sandbox` reports the page URL.

The sandbox owns the PostgreSQL server (the app gets its ``DATABASE_URL``) so that the page's
reset button can stop the app, drop and recreate the database and start the app again in a couple
of seconds, without restarting PostgreSQL. Everything else is the production code path.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import msgspec
import trio
import trio_asyncio
import triopg

from kiebot.config import load_settings
from kiebot.runtime.app import AppHandle, run_app
from kiebot.sandbox import snapshot
from kiebot.sandbox.options import (
    BOT_NAME,
    BOT_USERNAME,
    OVERBILL_FACTOR,
    OVERBILLED_VARIANT,
    PEOPLE,
    SANDBOX_TOKEN,
    Lang,
    SandboxOptions,
    sandbox_env,
)
from kiebot.sandbox.server import create_page_app, serve_page
from kiebot.store.embedded import DEFAULT_DATABASE, EmbeddedPostgres, embedded_postgres
from kiebot.testing.kie.stub import start_stub_kie
from kiebot.testing.telegram.model.state import State
from kiebot.testing.telegram.server import FakeTelegram
from kiebot.testing.telegram.updates import UpdateQueue

log = logging.getLogger(__name__)

#: Upper bound for the app to stop (its grace period plus the cancellation that follows).
APP_STOP_TIMEOUT_S = 30.0
#: How often the chats are written to the data directory while they change (see ``snapshot``).
SNAPSHOT_EVERY_S = 3.0


async def last_update_id(url: str) -> int:
    """The highest ``update_id`` the bot's inbox holds (0 for a new database): the fake must not
    hand out one of those again, or the inbox would drop it as a duplicate."""
    async with triopg.connect(url) as conn:
        if await conn.fetchval("SELECT to_regclass('updates')") is None:
            return 0
        return int(await conn.fetchval("SELECT coalesce(max(update_id), 0) FROM updates"))


async def recreate_database(admin_url: str, name: str = DEFAULT_DATABASE) -> None:
    """Drop the sandbox database (closing any session still on it) and create it empty."""
    async with triopg.connect(admin_url) as conn:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{name}"')


@dataclass
class Sandbox:
    """The running pieces, and what the page may ask of them (reset, language)."""

    options: SandboxOptions
    tg: FakeTelegram
    postgres: EmbeddedPostgres
    nursery: trio.Nursery
    operator_env: Mapping[str, str]
    first_update_id: int = 1
    lang: Lang = "ru"
    app: AppHandle | None = None
    url: str = ""
    resets: int = 0
    _app_stopped: trio.Event = field(default_factory=trio.Event)
    _lock: trio.Lock = field(default_factory=trio.Lock)
    _reset_done: trio.Event | None = None

    @property
    def state(self) -> State:
        """The fake Telegram's world (the page server mounts its ``/_sim`` API on it)."""
        return self.tg.state

    @property
    def busy(self) -> bool:
        """A reset is under way (the page shows it and waits)."""
        return self._lock.locked()

    def env(self) -> dict[str, str]:
        assert self.tg.base_url is not None, "the fake Telegram is not serving"
        return sandbox_env(
            telegram_api_url=self.tg.base_url,
            database_url=self.postgres.url,
            data_dir=self.options.data_dir,
            operator_env=self.operator_env,
        )

    @property
    def snapshot_path(self) -> Path:
        return self.options.data_dir / snapshot.FILE_NAME

    def add_people(self) -> None:
        """The two people, unless a restored snapshot already has them."""
        for person in PEOPLE:
            if person.id not in self.tg.state.world.users:
                self.tg.add_user(
                    person.id, person.first_name, username=person.username, language_code=self.lang
                )

    def next_update_id(self) -> int:
        created = self.tg.state.updates.created
        return max(self.first_update_id, created[-1]["update_id"] + 1 if created else 1)

    def save_snapshot(self) -> None:
        snapshot.save(self.tg.state, self.snapshot_path, next_update_id=self.next_update_id())

    async def keep_snapshot(self) -> None:
        """Write the chats whenever they changed in the last few seconds (and on :meth:`close`)."""
        saved_at = self.tg.state.bus.count
        while True:
            await trio.sleep(SNAPSHOT_EVERY_S)
            if self.tg.state.bus.count != saved_at and not self.busy:
                saved_at = self.tg.state.bus.count
                self.save_snapshot()

    def set_language(self, lang: Lang) -> None:
        """The Telegram language of the simulated people. The bot takes it when it first meets a
        user (after that the user's own /lang choice counts), so it shows after a reset."""
        self.lang = lang
        for person in PEOPLE:
            user = self.tg.state.world.users.get(person.id)
            if user is not None:
                user.language_code = lang

    async def start_app(self) -> AppHandle:
        settings = load_settings(self.env())
        # The catalogue sync runs first thing, so the sandbox's admin finds its report in 🎨 Models
        # about a minute after start (at Kie's real pace) instead of after the production delay.
        limits = msgspec.structs.replace(settings.limits, kie_stub_speed=self.options.speed, catalog_sync_first_after_s=3.0)
        settings = msgspec.structs.replace(settings, limits=limits)
        stopped = self._app_stopped = trio.Event()

        async def run(task_status: trio.TaskStatus[AppHandle] = trio.TASK_STATUS_IGNORED) -> None:
            try:
                await run_app(settings, kie_stub=start_stub_kie, task_status=task_status)
            finally:
                stopped.set()

        self.app = await self.nursery.start(run)
        fake_kie = self.app.fake_kie
        if fake_kie is not None:
            model, values = OVERBILLED_VARIANT
            fake_kie.bill_next(model, when=values, factor=OVERBILL_FACTOR, times=1_000_000)
        return self.app

    async def stop_app(self) -> None:
        """Graceful: the app stops taking work and lets in-flight work finish (its grace period)."""
        if self.app is None:
            return
        self.app.request_shutdown()
        with trio.fail_after(APP_STOP_TIMEOUT_S):
            await self._app_stopped.wait()
        self.app = None

    async def reset(self) -> None:
        """Start over: an empty database, an empty chat for both people, a fresh app and fake Kie."""
        async with self._lock:
            self.tg.state.publish("sandbox", phase="resetting")
            await self.stop_app()
            await recreate_database(self.postgres.admin_url)
            self.tg.reset()
            self.add_people()
            self.save_snapshot()
            await self.start_app()
            self.resets += 1
            log.info("sandbox reset", extra={"resets": self.resets})
            self.tg.state.publish("sandbox", phase="ready")

    def start_soon_reset(self) -> trio.Event:
        """Reset in the sandbox's nursery (not in the caller's task, which a closed page may
        cancel); returns an event set when it is done. Resets asked for meanwhile join it."""
        if self._reset_done is None or self._reset_done.is_set():
            done = self._reset_done = trio.Event()

            async def run() -> None:
                try:
                    await self.reset()
                finally:
                    done.set()

            self.nursery.start_soon(run)
        return self._reset_done

    async def close(self) -> None:
        """Let a reset under way finish, then stop the app (while PostgreSQL still runs)."""
        async with self._lock:
            await self.stop_app()
            self.save_snapshot()

    def describe(self) -> dict[str, Any]:
        """What the page needs to draw itself."""
        app = self.app
        return {
            "bot": self.tg.bot,
            # The fake Bot API itself (127.0.0.1 only; the token is the sandbox's made-up one), for
            # pointing another client at the same chats.
            "telegram_api_url": self.tg.base_url,
            "telegram_token": SANDBOX_TOKEN,
            "people": [p.to_json() for p in PEOPLE],
            "lang": self.lang,
            "speed": self.options.speed,
            "ready": app is not None and not self.busy,
            "welcome_balance_kopecks": app.settings.welcome_balance_kopecks if app is not None else None,
            "manual_topup": app.settings.manual_topup_enabled if app is not None else None,
        }


@contextlib.asynccontextmanager
async def _postgres(options: SandboxOptions) -> AsyncIterator[EmbeddedPostgres]:
    async with embedded_postgres(options.pgdata) as server:
        if options.reset:
            await recreate_database(server.admin_url)
            log.info("sandbox database wiped (--reset)")
        yield server


async def run_sandbox(
    options: SandboxOptions,
    *,
    stop: trio.Event | None = None,
    operator_env: Mapping[str, str] | None = None,
    task_status: trio.TaskStatus[Sandbox] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Run the sandbox until ``stop`` is set (never, without one); reports the :class:`Sandbox`
    once the page is served (``sandbox.url``). On stop the app shuts down gracefully first."""
    stop = trio.Event() if stop is None else stop
    tg = FakeTelegram(token=SANDBOX_TOKEN, bot_username=BOT_USERNAME, bot_first_name=BOT_NAME)
    async with trio_asyncio.open_loop(), _postgres(options) as postgres, trio.open_nursery() as nursery:
        path = options.data_dir / snapshot.FILE_NAME
        if options.reset:
            path.unlink(missing_ok=True)
        first = max(snapshot.restore(tg.state, path), await last_update_id(postgres.url) + 1)
        tg.state.updates = UpdateQueue(first_update_id=first)
        await nursery.start(tg.serve)
        sandbox = Sandbox(
            options=options,
            tg=tg,
            postgres=postgres,
            nursery=nursery,
            operator_env=dict(os.environ if operator_env is None else operator_env),
            first_update_id=first,
        )
        sandbox.add_people()
        await sandbox.start_app()
        nursery.start_soon(sandbox.keep_snapshot)
        sandbox.url = await nursery.start(
            partial(serve_page, create_page_app(sandbox), options.host, options.port)
        )
        task_status.started(sandbox)
        await stop.wait()
        log.info("sandbox stopping")
        with trio.move_on_after(APP_STOP_TIMEOUT_S * 2):
            await sandbox.close()
        nursery.cancel_scope.cancel()
