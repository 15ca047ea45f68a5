"""What a started app reports to whoever started it (tests, the sandbox, the benchmarks)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import trio

from kiebot.bot.context import BotDeps
from kiebot.config import Settings
from kiebot.generation.deps import GenDeps
from kiebot.intake.dispatch import Dispatcher
from kiebot.metrics import Metrics
from kiebot.runtime.catalog_duties import CatalogWatch
from kiebot.runtime.leader import Leadership
from kiebot.runtime.web import Readiness
from kiebot.store.db import Database


@dataclass
class AppHandle:
    """What a started app reports (tests and the sandbox use it)."""

    url: str
    settings: Settings
    db: Database
    metrics: Metrics
    readiness: Readiness
    leadership: Leadership
    bot: BotDeps
    gen: GenDeps
    shutdown: trio.Event
    cancel_scope: trio.CancelScope
    started_at: float = field(default_factory=time.time)
    accepting: bool = True
    fake_kie: Any = None
    #: Per-chat dispatch of this instance (tests follow its progress through ``on_handled``).
    dispatcher: Dispatcher | None = None
    #: The catalogue sync and model health (run by the leader's scheduler; None without Kie).
    catalog_watch: CatalogWatch | None = None

    def request_shutdown(self) -> None:
        self.shutdown.set()
