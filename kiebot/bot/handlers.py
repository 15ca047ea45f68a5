"""Importing this module registers every screen's routes on ``kiebot.bot.router.routes``."""

from __future__ import annotations

import importlib

SCREENS = (
    "kiebot.bot.screens.start",
    "kiebot.bot.screens.manual_topup",
    "kiebot.bot.screens.balance",
    "kiebot.bot.screens.stars",
)


def load() -> None:
    """Import every screen module once (idempotent)."""
    for name in SCREENS:
        importlib.import_module(name)
