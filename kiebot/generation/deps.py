"""The services the generation pipeline needs, wired once by ``app.py``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import trio

from kiebot.catalog import Registry
from kiebot.catalog.fx import FxRate, fallback_rate
from kiebot.config import Settings
from kiebot.generation.media_budget import MediaBudget
from kiebot.kie.client import KieClient
from kiebot.metrics import Metrics
from kiebot.store.db import Database
from kiebot.telegram.client import TelegramClient


def utcnow() -> datetime:
    return datetime.now(UTC)


class Wakeup:
    """An in-process nudge: a worker waiting for work wakes at once when another task made some.

    Other instances find the work by polling (every ``poll_s``), so a lost nudge costs at most
    one poll interval, never a job.
    """

    def __init__(self) -> None:
        self._event = trio.Event()

    def signal(self) -> None:
        self._event.set()

    async def wait(self, timeout_s: float) -> None:
        with trio.move_on_after(timeout_s):
            await self._event.wait()
        if self._event.is_set():
            self._event = trio.Event()


@dataclass
class GenDeps:
    settings: Settings
    db: Database
    tg: TelegramClient
    kie: KieClient | None
    registry: Registry
    metrics: Metrics
    worker: str
    now: Callable[[], datetime] = utcnow
    submit_wakeup: Wakeup = field(default_factory=Wakeup)
    deliver_wakeup: Wakeup = field(default_factory=Wakeup)
    #: Media bytes in memory across all jobs (``MEDIA_MEMORY_MB``); the app sizes it from settings.
    media: MediaBudget = field(default_factory=lambda: MediaBudget(128 * 1024 * 1024))
    #: Set by the app when Kie is local (the stub, or a test's fake): its own bound URL.
    callback_base_override: str | None = None
    #: Today's FX rate (the app's ``FxCache.current``); None: ``FX_RUB_PER_USD``. The drift check
    #: values billed credits with it (issue 15 item 2: "the billed cost at today's rate").
    fx: Callable[[], FxRate] | None = None
    #: The models given away within the free limits (their users pay nothing).
    free_tier: tuple[str, ...] = ()
    #: Called after a variant is paused, so this instance's availability cache shows it at once.
    on_variant_paused: Callable[[], None] | None = None

    def fx_now(self) -> FxRate:
        return self.fx() if self.fx is not None else fallback_rate(self.settings.fx_rub_per_usd)

    @property
    def callback_base(self) -> str:
        return self.settings.kie_callback_base or (self.callback_base_override or "")

    def callback_url(self, token: str) -> str | None:
        base = self.callback_base
        return f"{base}/kie/callback/{token}" if base else None
