"""The fake Telegram and fake Kie, served from the benchmark driver, and a tracker of the bot's
replies as the fake Telegram records them.

Both fakes run in the driver process (on the harness core, see :mod:`benchmarks._procs`): the bot
under test reaches them over real HTTP on 127.0.0.1 exactly as it would reach Telegram and Kie.
The fake Kie's limit of 20 creates per 10 s is lifted (``rate_limit=None``): Kie enforces it per
API key, and a benchmark of 10,000 jobs would otherwise measure only that limit.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import trio

from kiebot.testing.harness import KIE_KEY, TOKEN
from kiebot.testing.kie.server import FakeKie
from kiebot.testing.telegram.server import FakeTelegram


@dataclass
class Fakes:
    tg: FakeTelegram
    kie: FakeKie
    tg_url: str
    kie_url: str


@contextlib.asynccontextmanager
async def serve_fakes(*, kie_speed: float = 0.01, kie_hmac_key: str | None = None) -> AsyncIterator[Fakes]:
    """``kie_hmac_key``: the fake Kie signs its callbacks with it (give the app the same key)."""
    tg = FakeTelegram(token=TOKEN)
    kie = FakeKie(api_key=KIE_KEY, speed=kie_speed, rate_limit=None, credits=1e12, hmac_key=kie_hmac_key)
    async with trio.open_nursery() as nursery:
        tg_url = await nursery.start(tg.serve)
        kie_url = await nursery.start(kie.serve)
        yield Fakes(tg=tg, kie=kie, tg_url=tg_url, kie_url=kie_url)
        nursery.cancel_scope.cancel()


@dataclass
class ReplyTracker:
    """Counts the bot's messages per chat; a chat is *answered* when it has ``per_chat`` of them.

    Start it with ``nursery.start(tracker.run)`` before the load; :meth:`wait` returns when
    ``expected`` chats are answered.
    """

    tg: FakeTelegram
    per_chat: int
    expected: int
    counts: dict[int, int] = field(default_factory=dict)
    answered_at: dict[int, float] = field(default_factory=dict)
    first_at: dict[int, float] = field(default_factory=dict)
    _all: trio.Event = field(default_factory=trio.Event)

    async def run(self, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        events = self.tg.subscribe(buffer=10_000_000)
        task_status.started()
        async for event in events:
            if event.get("type") != "message_sent":
                continue
            chat = int(event["chat_id"])
            now = trio.current_time()
            n = self.counts.get(chat, 0) + 1
            self.counts[chat] = n
            if n == 1:
                self.first_at[chat] = now
            if n == self.per_chat:
                self.answered_at[chat] = now
                if len(self.answered_at) >= self.expected:
                    self._all.set()

    async def wait(self) -> None:
        await self._all.wait()
