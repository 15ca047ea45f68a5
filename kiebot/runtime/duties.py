"""What only the leader does (DESIGN "Leadership"): take updates from Telegram (long polling) or
register the webhook, set the command menus, and run the reconciler and the scheduler. Everything
here is cancelled the moment leadership is lost, and started again by the next leader.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from functools import partial

import trio

from kiebot.catalog.fx import SANE_RANGE, FxCache
from kiebot.generation.notify import Notifier
from kiebot.generation.reconcile import run_reconciler
from kiebot.i18n import LANGS, t
from kiebot.intake import dispatch as intake
from kiebot.kie.client import KieClient
from kiebot.metrics import Metrics
from kiebot.runtime.handle import AppHandle
from kiebot.runtime.scheduler import Periodic, run_schedule
from kiebot.store import conversations, events, inbox, kv, payments
from kiebot.store.db import Database
from kiebot.telegram.client import TelegramClient
from kiebot.telegram.errors import TelegramError
from kiebot.telegram.polling import Poller
from kiebot.telegram.types import BotCommand
from kiebot.telegram.webhook import set_webhook

log = logging.getLogger(__name__)

COMMANDS = ("start", "menu", "models", "balance", "history", "help", "terms", "paysupport", "lang", "cancel")


def utcnow() -> datetime:
    return datetime.now(UTC)


async def with_retries(what: str, fn: Callable[[], Awaitable[object]], *, first_s: float = 1.0, max_s: float = 60.0) -> None:
    """Call ``fn`` until it succeeds, with capped exponential back-off."""
    delay = first_s
    while True:
        try:
            await fn()
            return
        except (TelegramError, ValueError) as exc:
            log.warning("%s failed; retrying", what, extra={"error": type(exc).__name__, "retry_s": delay})
        await trio.sleep(delay)
        delay = min(max_s, delay * 2)


async def _set_commands(tg: TelegramClient) -> None:
    for lang in LANGS:
        commands = [BotCommand(command=c, description=t(lang, f"commands.{c}")) for c in COMMANDS]
        await tg.set_my_commands(commands, language_code=lang)
    await tg.set_my_commands([BotCommand(command=c, description=t("ru", f"commands.{c}")) for c in COMMANDS])


async def leader_duties(
    handle: AppHandle,
    tg: TelegramClient,
    fx: FxCache,
    kie: KieClient | None,
    notifier: Notifier,
    periodic: Sequence[Periodic] = (),
) -> None:
    """Everything only the leader does; cancelled the moment leadership is lost. ``periodic`` are
    the scheduled jobs of other parts (broadcasts, Stars reconciliation), run beside the leader's own."""
    settings = handle.settings
    async with trio.open_nursery() as nursery:
        if settings.bot_mode == "webhook":
            nursery.start_soon(_register_webhook, handle, tg)
        else:
            handle.readiness.webhook = "not used"
            nursery.start_soon(_poll, handle, tg)
        nursery.start_soon(with_retries, "setMyCommands", partial(_set_commands, tg))
        await nursery.start(partial(run_reconciler, handle.gen, notifier, every_s=settings.limits.reconcile_every_s))
        await nursery.start(run_schedule, [*_schedule(handle, fx, kie, notifier), *periodic])


async def _register_webhook(handle: AppHandle, tg: TelegramClient) -> None:
    settings = handle.settings
    handle.readiness.webhook = "pending"

    async def once() -> None:
        try:
            await set_webhook(tg, settings.webhook_url, settings.webhook_secret, intake.ALLOWED_UPDATES)
        except TelegramError as exc:
            handle.readiness.webhook = f"error: {type(exc).__name__}"
            raise
        handle.readiness.webhook = "registered"
        log.info("webhook registered", extra={"path": settings.telegram_webhook_path})

    await with_retries("setWebhook", once, first_s=2.0, max_s=300.0)


async def _poll(handle: AppHandle, tg: TelegramClient) -> None:
    await with_retries("deleteWebhook", lambda: tg.delete_webhook())
    poller = Poller(tg, allowed_updates=intake.ALLOWED_UPDATES)
    await intake.poll_updates(poller, handle.db, handle.metrics)


AdminAlert = Callable[..., Awaitable[None]]
"""``alert(locale_key, topic=..., **params)`` — :meth:`kiebot.generation.notify.Notifier.admins`."""


async def refresh_fx(db: Database, fx: FxCache, metrics: Metrics, alert: AdminAlert) -> None:
    """The FX duty: fetch the Bank of Russia rate and store it for the next start.

    A fetched rate outside ``FX_RUB_PER_USD``'s sane range (20–500) is ignored by the cache — the
    last good rate keeps pricing — and the admins are told once, since pricing with it would sell
    at a loss or at a price nobody pays (issue 13 item 7).
    """
    rate = await fx.refresh()
    if fx.last_refused is not None:
        low, high = SANE_RANGE
        log.error("fetched FX rate ignored: outside the sane range", extra={"rate": str(fx.last_refused)})
        await alert(
            "edges.fx_refused",
            topic="fx:range",
            rate=str(fx.last_refused),
            low=str(low),
            high=str(high),
            kept=str(rate.rub_per_usd),
        )
    metrics.fx_rate.set(float(rate.rub_per_usd))
    async with db.connection() as conn:
        await kv.put(
            conn,
            "fx",
            {"rub_per_usd": str(rate.rub_per_usd), "date": rate.date.isoformat() if rate.date else None, "source": rate.source},
        )


async def cleanup_tables(db: Database) -> dict[str, int]:
    """The clean-up duty: handled updates, old events and long-dead conversation states go."""
    async with db.connection() as conn:
        removed = {
            "updates": await inbox.cleanup(conn),
            "events": await events.cleanup(conn),
            "states": await conversations.cleanup(conn),
        }
    log.info("cleanup", extra=removed)
    return removed


def _schedule(handle: AppHandle, fx: FxCache, kie: KieClient | None, notifier: Notifier) -> list[Periodic]:
    db = handle.db
    settings = handle.settings
    metrics = handle.metrics

    async def expire_orders() -> None:
        async with db.connection() as conn:
            await payments.expire_orders(conn, utcnow())

    async def watch_kie_balance() -> None:
        if kie is None:
            return
        credits = await kie.remaining_credits()
        metrics.kie_credits.set(credits)
        async with db.connection() as conn:
            await kv.put(conn, "kie_credits", {"credits": credits})
        if credits < settings.kie_low_credits:
            await notifier.admins("generation.admin.low_credits", topic="kie:low", credits=credits, threshold=settings.kie_low_credits)

    return [
        Periodic("fx", 12 * 3600, partial(refresh_fx, db, fx, metrics, notifier.admins)),
        Periodic("cleanup", 6 * 3600, partial(cleanup_tables, db), first_after_s=60),
        Periodic("orders", 300, expire_orders, first_after_s=30),
        Periodic("kie-balance", 600, watch_kie_balance, first_after_s=5),
    ]
