"""A simulated user for end-to-end bot tests: acts through the fake Telegram and waits until the
real app has handled each action (its ``updates`` row is done), then reads the screen.

Tests get the class through the ``bot_user`` fixture (test modules cannot import each other under
``--import-mode=importlib``)::

    async with open_world(database_url) as world:
        ann = bot_user(world, 5_000_001)
        menu = await ann.start()
        screen = await ann.press(menu, "🖼")
"""

from __future__ import annotations

import asyncio
import secrets
import threading
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import Future
from typing import Any

import asyncpg
import pytest
import trio

from kiebot.bot.guards import RateGuard
from kiebot.bot.screens.wizard import state as ws
from kiebot.logs import redact
from kiebot.store import jobs as jobs_store
from kiebot.store import money
from kiebot.store.jobs import Job
from kiebot.telegram.limiter import FloodLimiter
from kiebot.testing import media
from kiebot.testing.harness import World, open_world
from kiebot.testing.kie import media as kie_media
from kiebot.testing.telegram.server import SimMessage

SETTLE_TIMEOUT_S = 20.0


class BotUser:
    def __init__(self, world: World, user_id: int, name: str = "Ann", lang: str = "ru") -> None:
        self.world = world
        self.user_id = user_id
        self.name = name
        self.lang = lang

    # ---- acting ---------------------------------------------------------------------------------

    async def start(self, arg: str = "") -> SimMessage:
        """Join (first time) and /start; returns the main menu."""
        if self.user_id not in self.world.tg.state.world.users:
            self.world.tg.add_user(self.user_id, self.name, language_code=self.lang)
        await self.say("/start" + (f" {arg}" if arg else ""))
        menu = self.last()
        assert menu is not None, "no answer to /start"
        assert menu.reply_markup is not None, "no main menu after /start"
        return menu

    async def say(self, text: str) -> SimMessage | None:
        before = self._last_id()
        self.world.tg.send_text(self.user_id, text)
        await self.settle()
        return self._newest_since(before)

    async def send_photo(self, data: bytes, *, caption: str | None = None) -> SimMessage | None:
        before = self._last_id()
        self.world.tg.send_photo(self.user_id, data, caption=caption)
        await self.settle()
        return self._newest_since(before)

    async def send(self, kind: str, data: bytes, **fields: Any) -> SimMessage | None:
        """Any file: ``kind`` is document, audio, voice or video (see FakeTelegram.send_*)."""
        before = self._last_id()
        getattr(self.world.tg, f"send_{kind}")(self.user_id, data, **fields)
        await self.settle()
        return self._newest_since(before)

    async def press(self, message: SimMessage, label_or_data: str, *, force: bool = False) -> SimMessage:
        """Tap a button (by exact callback data, or by a piece of its label); returns the screen
        shown after: a new message if one was sent, else the tapped message as edited."""
        data = label_or_data if force or label_or_data in message.callback_data() else self.data_of(message, label_or_data)
        before = self._last_id()
        self.world.tg.tap(self.user_id, message.message_id, data, force=force)
        await self.settle()
        return self._newest_since(before) or self.world.tg.message(self.user_id, message.message_id)

    def forget_taps(self) -> None:
        """A scripted user taps the same button again faster than a person would: forget earlier
        taps so the 2-second double-tap guard does not take the second one for a double tap."""
        self.world.app.bot.guard = RateGuard()

    async def tap_twice(self, message: SimMessage, data: str) -> None:
        self.world.tg.tap(self.user_id, message.message_id, data)
        self.world.tg.tap(self.user_id, message.message_id, data)
        await self.settle()

    # ---- waiting ----------------------------------------------------------------------------------

    async def settle(self) -> None:
        """Wait until the app has handled every update created so far."""
        await self.world.settle(timeout_s=SETTLE_TIMEOUT_S)

    async def wait_for(
        self, *, contains: str | None = None, predicate: Callable[[SimMessage], bool] | None = None, after: int = 0
    ) -> SimMessage:
        """The newest bot message (id > ``after``) matching, now or once it is sent or edited."""
        return await self.world.tg.wait_for_message(
            self.user_id, contains=contains, predicate=predicate, after=after, timeout=SETTLE_TIMEOUT_S
        )

    # ---- reading ----------------------------------------------------------------------------------

    def last(self) -> SimMessage | None:
        return self.world.tg.last_bot_message(self.user_id)

    def texts(self) -> list[str]:
        return [m.content for m in self.world.tg.bot_messages(self.user_id)]

    def _last_id(self) -> int:
        transcript = self.world.tg.transcript(self.user_id) if self.user_id in self.world.tg.state.world.chats else []
        return max((m.message_id for m in transcript), default=0)

    def _newest_since(self, before: int) -> SimMessage | None:
        newer = [m for m in self.world.tg.bot_messages(self.user_id) if m.message_id > before]
        return newer[-1] if newer else None

    @staticmethod
    def data_of(message: SimMessage, label: str) -> str:
        button = message.button(label)
        return str(button["callback_data"])

    @staticmethod
    def labels(message: SimMessage) -> list[str]:
        return [str(b.get("text")) for row in message.buttons for b in row]

    @staticmethod
    def relax_flood_limits(world: World) -> None:
        """Let the app send to a chat without the 1 message/s spacing (the limiter keeps the
        order and the global window). Tests of flows, not of flood control, then take
        milliseconds per screen instead of a second."""
        world.app.bot.tg.limiter = FloodLimiter(per_chat_rate=1000.0, per_chat_burst=1000)

    @classmethod
    async def ready(cls, world: World, user_id: int, name: str = "Ann", *, credit: int = 0) -> BotUser:
        """Where most flow tests begin: a user who has sent /start, flood spacing relaxed (see
        ``relax_flood_limits``) and ``credit`` kopecks topped up when given."""
        user = cls(world, user_id, name)
        await user.start()
        cls.relax_flood_limits(world)
        if credit:
            await user.credit(credit)
        return user

    # ---- the wizard --------------------------------------------------------------------------------

    async def open_model(self, model_id: str, origin: str = "m") -> SimMessage:
        """The model's card, as if opened from a list (a tap on ``mdl:<code>:<origin>`` on a
        fresh /menu, so no earlier message — a progress message — is edited away)."""
        anchor = self._expect(await self.say("/menu"))
        self.forget_taps()
        code = self.world.app.bot.codes.code(model_id)
        return await self.press(anchor, f"mdl:{code}:{origin}", force=True)

    async def draft(self) -> tuple[ws.Draft, int] | None:
        async with self.world.app.db.connection() as conn:
            return await ws.load(conn, self.user_id)

    async def walk(
        self,
        model_id: str,
        *,
        prompt: str = "a lighthouse on a cliff at sunset",
        link: str = "https://sora.chatgpt.com/p/s_68e8abc123",
        photo: bytes | None = None,
    ) -> SimMessage:
        """Open the model and answer every step with defaults and sample files; returns the
        summary screen. Steps are read from the stored draft, not guessed from texts."""
        screen = await self.press(await self.open_model(model_id), "▶️")
        spec = self.world.app.bot.registry.require(model_id)
        for _ in range(20):
            loaded = await self.draft()
            assert loaded is not None, f"no wizard state; screen: {screen.content[:200]!r}"
            draft, version = loaded
            step = draft.step
            if step == ws.SUMMARY:
                return screen
            if step == ws.PARAMS:
                screen = await self.press(screen, f"wz:{version}:nx")
            elif step == ws.PROMPT:
                screen = self._expect(await self.say(prompt))
            elif step.startswith("media:"):
                media = spec.media_input(step[6:])
                assert media is not None
                if media.min_count == 0 and not draft.files(media.wire):
                    screen = await self.press(screen, f"wz:{version}:nx")
                    continue
                screen = self._expect(await self.send_media(media.type, photo=photo))
                if (await self.draft() or (draft, 0))[0].step == step:
                    loaded = await self.draft()
                    assert loaded is not None
                    screen = await self.press(screen, f"wz:{loaded[1]}:nx")
            elif step.startswith("user:"):
                param = spec.param(step[5:])
                assert param is not None
                if param.type == "url":
                    screen = self._expect(await self.say(link))
                else:
                    choices = [d for d in screen.callback_data() if d.startswith(f"wz:{version}:tr:")]
                    assert choices, f"no earlier result to pick: {screen.content[:200]!r}"
                    screen = await self.press(screen, choices[0])
            else:
                raise AssertionError(f"unknown step {step}")
        raise AssertionError("the wizard did not reach the summary")

    async def send_media(self, media_type: str, *, photo: bytes | None = None) -> SimMessage | None:
        if media_type == "image":
            return await self.send_photo(photo or media.png(64, 48))
        if media_type == "audio":
            return await self.send("audio", kie_media.sample_mp3(), duration=3)
        return await self.send("video", kie_media.sample_mp4(), duration=3)

    @staticmethod
    def _expect(message: SimMessage | None) -> SimMessage:
        assert message is not None, "the bot did not answer"
        return message

    async def confirm(self, summary: SimMessage) -> SimMessage:
        """Tap the summary's Confirm (free or paid); returns the progress message."""
        data = [d for d in summary.callback_data() if ":ok:" in d]
        assert data, f"no confirm button: {summary.content[:300]!r}"
        return await self.press(summary, data[0])

    async def jobs(self) -> list[Job]:
        async with self.world.app.db.connection() as conn:
            return await jobs_store.recent_jobs(conn, self.user_id, limit=50)

    async def wait_job(self, *states: str, job_id: int | None = None) -> Job:
        """The user's newest job (or job ``job_id``) once it is in one of ``states``."""
        with trio.fail_after(SETTLE_TIMEOUT_S):
            while True:
                found = [j for j in await self.jobs() if job_id is None or j.id == job_id]
                if found and found[0].state in states:
                    return found[0]
                await trio.sleep(0.02)

    # ---- money ------------------------------------------------------------------------------------

    async def credit(self, kopecks: int, key: str = "test-topup") -> None:
        async with self.world.app.db.transaction() as conn:
            await money.credit(conn, self.user_id, kopecks, kind="topup_manual", key=f"{key}:{self.user_id}")

    async def account(self) -> money.Account:
        async with self.world.app.db.connection() as conn:
            return await money.get_account(conn, self.user_id)


@pytest.fixture
def bot_user() -> type[BotUser]:
    return BotUser


# ---- one world for a whole test module ---------------------------------------------------------

Scenario = Callable[[World], Awaitable[Any]]


class SharedWorld:
    """``open_world`` in a background thread with its own trio loop, for a whole module.

    Scenarios run as tasks of a nursery inside ``open_world`` (so they share its asyncio loop
    and can use the app's database), handed over through a memory channel; the result or the
    exception comes back through a ``concurrent.futures.Future``.
    """

    def __init__(self, database_url: str) -> None:
        self._url = database_url
        self._ready = threading.Event()
        self._token: trio.lowlevel.TrioToken | None = None
        self._send: trio.MemorySendChannel[tuple[Scenario, Future[Any]]] | None = None
        self._failure: Exception | None = None
        self.world: World | None = None
        self._thread = threading.Thread(target=self._thread_main, name="shared-world", daemon=True)

    def __enter__(self) -> SharedWorld:
        self._thread.start()
        if not self._ready.wait(60):
            raise RuntimeError("the shared world did not start within 60 s")
        if self._failure is not None:
            raise RuntimeError("the shared world failed to start") from self._failure
        return self

    def __exit__(self, *exc: object) -> None:
        if self._token is not None and self._send is not None:
            trio.from_thread.run_sync(self._send.close, trio_token=self._token)
        self._thread.join(60)

    def _thread_main(self) -> None:
        try:
            trio.run(self._main)
        except Exception as failure:  # reported to the test thread waiting in __enter__
            self._failure = failure
            self._ready.set()

    async def _main(self) -> None:
        self._token = trio.lowlevel.current_trio_token()
        send, receive = trio.open_memory_channel[tuple[Scenario, Future[Any]]](0)
        self._send = send
        async with open_world(self._url, kie_speed=0.002) as world:
            # Flows, not flood control, are under test here (see BotUser.relax_flood_limits).
            world.app.bot.tg.limiter = FloodLimiter(per_chat_rate=1000.0, per_chat_burst=1000)
            self.world = world
            self._ready.set()
            async with trio.open_nursery() as nursery:
                async for scenario, future in receive:
                    nursery.start_soon(self._serve, world, scenario, future)

    @staticmethod
    async def _serve(world: World, scenario: Scenario, future: Future[Any]) -> None:
        # The autouse fixture clears the log redactor after every test; this world outlives them.
        redact.register(world.settings.secrets())
        try:
            result = await scenario(world)
        except Exception as error:  # handed to the test that asked for it
            future.set_exception(error)
        else:
            future.set_result(result)

    async def run(self, scenario: Scenario, *, timeout_s: float = 60.0) -> Any:
        """Run ``scenario(world)`` in the world's loop; awaitable from a test's own trio loop."""
        token, send = self._token, self._send
        assert token is not None
        assert send is not None
        future: Future[Any] = Future()

        def call() -> Any:
            trio.from_thread.run(send.send, (scenario, future), trio_token=token)
            return future.result(timeout=timeout_s)

        return await trio.to_thread.run_sync(call, abandon_on_cancel=True)


async def _admin(dsn: str, statement: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


@pytest.fixture(scope="module")
def shared_world(pg_admin_dsn: str) -> Iterator[SharedWorld]:
    """A world (fake Telegram, fake Kie at 0.2 % speed, the app on a fresh database) for every
    test of a module; tests run ``await shared_world.run(scenario)`` with their own users."""
    name = "tm_" + secrets.token_hex(6)
    asyncio.run(_admin(pg_admin_dsn, f"CREATE DATABASE {name}"))
    head, _, query = pg_admin_dsn.partition("?")
    url = f"{head.rsplit('/', 1)[0]}/{name}" + (f"?{query}" if query else "")
    try:
        with SharedWorld(url) as shared:
            yield shared
    finally:
        asyncio.run(_admin(pg_admin_dsn, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
