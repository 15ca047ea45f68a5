"""Importing this module registers every screen's routes on ``kiebot.bot.router.routes``."""

from __future__ import annotations

import importlib

SCREENS = (
    "kiebot.bot.screens.start",
    "kiebot.bot.screens.catalog",
    "kiebot.bot.screens.find",
    "kiebot.bot.screens.my_models",
    "kiebot.bot.screens.wizard.handlers",
    "kiebot.bot.screens.wizard.inputs",
    "kiebot.bot.screens.results",
    "kiebot.bot.screens.history",
    "kiebot.bot.screens.free",
    "kiebot.bot.screens.referral",
    "kiebot.bot.screens.terms",
    "kiebot.bot.screens.manual_topup",
    "kiebot.bot.screens.balance",
    "kiebot.bot.screens.stars",
    "kiebot.bot.screens.admin.dashboard",
    "kiebot.bot.screens.admin.search",
    "kiebot.bot.screens.admin.jobcard",
    "kiebot.bot.screens.admin.users",
    "kiebot.bot.screens.admin.adjust",
    "kiebot.bot.screens.admin.refunds",
    "kiebot.bot.screens.admin.models",
    "kiebot.bot.screens.admin.catalog_sync",
    "kiebot.bot.screens.admin.variants",
    "kiebot.bot.screens.admin.topups",
    "kiebot.bot.screens.admin.broadcast",
    "kiebot.bot.screens.admin.audit",
)


def load() -> None:
    """Import every screen module once (idempotent)."""
    for name in SCREENS:
        importlib.import_module(name)
