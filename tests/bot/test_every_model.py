"""Every model on sale, walked through the real wizard to a delivered result on the fake Kie.

One world (fake Telegram, fake Kie, the app) serves the whole module: it runs in its own thread
and trio loop, and each test runs its scenario there (pytest-trio fixtures are per test, and a
world per model would spend most of the time starting apps). Each model gets its own user, so
the tests stay independent; the fake Kie runs tasks at 0.2 % of their real duration.

For each model: defaults for every button, sample files (a PNG, an MP3 of 3 s, an MP4) for its
inputs, a Sora link or an earlier Grok video where needed, then Confirm → the job is delivered,
Kie got a body it accepts (the fake answers 422 to anything else), no Telegram file URL ever
reached Kie, and the user paid exactly the quote — the catalogue price at the default choices
and the measured quantity — or used a free generation.
"""

from __future__ import annotations

import asyncio
import math
import secrets
import threading
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import Future
from typing import Any

import asyncpg
import pytest
import trio

from kiebot.catalog import load_registry
from kiebot.logs import redact
from kiebot.pricing import quote
from kiebot.store import money
from kiebot.telegram.limiter import FloodLimiter
from kiebot.testing.harness import World, open_world

REGISTRY = load_registry()
ON_SALE = [spec.id for spec in REGISTRY.enabled]
PROMPT = "a lighthouse on a cliff at sunset"
AUDIO_SECONDS = 3
START_KOPECKS = 1_000_000
GROK_SOURCES = ("grok-imagine/text-to-video", "grok-imagine/image-to-video")

pytestmark = pytest.mark.slow

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
    name = "tm_" + secrets.token_hex(6)
    asyncio.run(_admin(pg_admin_dsn, f"CREATE DATABASE {name}"))
    head, _, query = pg_admin_dsn.partition("?")
    url = f"{head.rsplit('/', 1)[0]}/{name}" + (f"?{query}" if query else "")
    try:
        with SharedWorld(url) as shared:
            yield shared
    finally:
        asyncio.run(_admin(pg_admin_dsn, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


def _expected_quantity(model_id: str) -> int | None:
    spec = REGISTRY.require(model_id)
    source = spec.pricing.quantity
    if source == "text_chars":
        return max(1, math.ceil(len(PROMPT) / 1000))
    if source == "input_audio_seconds":
        return AUDIO_SECONDS
    return None


@pytest.mark.parametrize("model_id", ON_SALE)
async def test_model_walks_from_card_to_delivered_result(model_id: str, shared_world: SharedWorld, bot_user) -> None:
    user_id = 6_000_000 + ON_SALE.index(model_id)

    async def scenario(world: World) -> None:
        redact.register(world.settings.secrets())
        ann = bot_user(world, user_id)
        await ann.start()
        await ann.credit(START_KOPECKS)
        spec = REGISTRY.require(model_id)
        if any(p.type == "task_ref" for p in spec.params):
            # Grok upscale takes one of the user's own earlier Grok videos: make one first.
            await ann.confirm(await ann.walk(GROK_SOURCES[0], prompt=PROMPT))
            await ann.wait_job("delivered")
        before = await ann.account()
        summary = await ann.walk(model_id, prompt=PROMPT)
        assert "Проверьте заказ" in summary.content, summary.content
        progress = await ann.confirm(summary)
        job = await ann.wait_job("delivered", "failed", "timed_out", "cancelled")
        assert job.state == "delivered", f"{job.state}: {job.error_code} {job.error_message}"
        assert job.model_id == model_id
        assert job.progress_message_id == progress.message_id
        result = await ann.wait_for(predicate=lambda m: m.kind in ("photo", "video", "audio", "document"), after=progress.message_id)
        assert result.file is not None

        task = world.kie.tasks[str(job.kie_task_id)]
        assert task.model == spec.request_model
        assert world.kie.telegram_urls_seen == []

        after = await ann.account()
        assert after.held == 0
        if job.free:
            assert model_id in world.app.bot.free_tier
            assert after.balance == before.balance
        else:
            expected = quote(spec, {}, fx=78, markup=2, quantity=_expected_quantity(model_id))
            assert job.quote_kopecks == expected.kopecks
            assert after.balance == before.balance - expected.kopecks
        async with world.app.db.connection() as conn:
            assert await money.check_invariants(conn) == []

    with trio.fail_after(70):
        await shared_world.run(scenario)


async def test_disabled_models_are_neither_listed_nor_startable(shared_world: SharedWorld, bot_user) -> None:
    disabled = [spec for spec in REGISTRY.models if not spec.enabled]
    assert disabled, "the registry has no disabled model to check"

    async def scenario(world: World) -> None:
        ann = bot_user(world, 6_100_000)
        await ann.start()
        for spec in disabled:
            code = world.app.bot.codes.code(spec.id)
            card = await ann.open_model(spec.id)
            assert "недоступна" in card.content
            assert not any(d.startswith("go:") for d in card.callback_data())
            started = await ann.press(card, f"go:{code}:m", force=True)
            assert await ann.draft() is None, started.content
        popular = await ann.press(ann._expect(await ann.say("/menu")), "pop:0")
        titles = " ".join(ann.labels(popular))
        assert all(spec.title.ru not in titles for spec in disabled)

    with trio.fail_after(70):
        await shared_world.run(scenario)
