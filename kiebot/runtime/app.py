"""The supervisor: one trio nursery that runs the whole service, and ``python -m kiebot run``.

Start-up order (each with ``nursery.start``, so the next starts only when the previous is ready):
database (embedded server when ``DATABASE_URL`` is unset) and migrations → web server → leadership
→ dispatch workers → generation workers → leader duties (polling or webhook registration, the
scheduler, the reconciler), which run only while this instance leads.

Shutdown (SIGTERM/SIGINT, DESIGN "Concurrency"): the webhook answers 503 (Telegram retries), the
dispatcher and the generation stages stop claiming, work in flight gets ``SHUTDOWN_GRACE_S``
(a deadline, not a cancel), then everything is cancelled; ledger writes are shielded in the store
and the dispatcher. Exit code 0. A second signal cancels at once. Jobs left mid-way keep their
row state and resume on the next start.

This is the only module that wires concrete things together; everything else receives what it
needs.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import signal
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from decimal import Decimal
from functools import partial
from typing import Any

import httpx
import trio
import trio_asyncio

from kiebot.bot import handlers as bot_handlers
from kiebot.bot.context import BotDeps
from kiebot.bot.guards import RateGuard
from kiebot.bot.router import handle_update
from kiebot.bot.screens import stars as stars_screens
from kiebot.catalog import Registry, load_registry
from kiebot.catalog.availability import Availability
from kiebot.catalog.fx import FxCache, FxRate, fallback_rate
from kiebot.catalog.pricing import free_tier
from kiebot.chat.broadcast import BroadcastSender
from kiebot.chat.callback_data import ModelCodes
from kiebot.config import Settings, check_runnable, load_settings
from kiebot.generation.deps import GenDeps
from kiebot.generation.kie_news import handle_kie_callback
from kiebot.generation.notify import Notifier
from kiebot.generation.workers import GenerationWorkers
from kiebot.intake import dispatch as intake
from kiebot.intake.writer import InboxWriter
from kiebot.kie.client import KieClient
from kiebot.logs import quiet_third_party_loggers, redact, setup_logging
from kiebot.metrics import Metrics
from kiebot.runtime.duties import leader_duties, with_retries
from kiebot.runtime.handle import AppHandle as AppHandle  # re-exported: callers start the app from here
from kiebot.runtime.health import refresh_gauges
from kiebot.runtime.health import summary as health_summary
from kiebot.runtime.leader import Leadership, run_while_leader
from kiebot.runtime.supervisor import supervise
from kiebot.runtime.web import Readiness, WebDeps, create_web_app, serve_web
from kiebot.store import kv
from kiebot.store.connect import open_store
from kiebot.store.db import Database, DatabaseUnavailable
from kiebot.store.migrations import schema_version
from kiebot.telegram.client import TelegramClient
from kiebot.telegram.limiter import FloodLimiter

log = logging.getLogger(__name__)

def utcnow() -> datetime:
    return datetime.now(UTC)


def _http(timeout: httpx.Timeout) -> httpx.AsyncClient:
    return httpx.AsyncClient(timeout=timeout, limits=httpx.Limits(max_connections=200, max_keepalive_connections=50))


async def run_app(
    settings: Settings,
    *,
    install_signals: bool = False,
    kie_stub_speed: float = 0.05,
    leadership_timing: tuple[float, float, float] = (20.0, 15.0, 5.0),
    reconcile_every_s: float = 2.0,
    telegram_limiter: FloodLimiter | None = None,
    task_status: trio.TaskStatus[AppHandle] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Run kiebot until shutdown is requested (signal or :meth:`AppHandle.request_shutdown`).

    ``telegram_limiter`` replaces the flood limiter with Telegram's limits (the test harness
    passes one with a faster per-chat pace, so a scripted user need not wait a second a reply)."""
    quiet_third_party_loggers()
    redact.register(settings.secrets())
    async with contextlib.AsyncExitStack() as stack:
        if trio_asyncio.current_loop.get() is None:
            # Ours to open; a caller that already runs one (the test harness, the sandbox) shares it,
            # so it can use the app's database from its own tasks.
            await stack.enter_async_context(trio_asyncio.open_loop())
        db = await _open_store_retrying(stack, settings)
        await _serve(
            db, settings, install_signals, kie_stub_speed, leadership_timing, reconcile_every_s, telegram_limiter, task_status
        )


async def _serve(
    db: Database,
    settings: Settings,
    install_signals: bool,
    kie_stub_speed: float,
    leadership_timing: tuple[float, float, float],
    reconcile_every_s: float,
    telegram_limiter: FloodLimiter | None,
    task_status: trio.TaskStatus[AppHandle],
) -> None:
    metrics = Metrics()
    readiness = Readiness(mode="passive")
    # Leases name their owner: unique per process, so two processes started with the same
    # INSTANCE_NAME (the default is the host name) never pass each other's owner checks.
    worker = f"{settings.instance_name}:{os.getpid()}:{secrets.token_hex(3)}"
    async with db.connection() as conn:
        applied = await schema_version(conn)
    readiness.migrated = True
    readiness.schema_version = applied.version if applied is not None else 0
    registry: Registry = load_registry()
    fallback = fallback_rate(settings.fx_rub_per_usd)
    offline = settings.test_mode
    fx_http = None if offline else _http(httpx.Timeout(10.0))
    fx = FxCache(fallback=fallback, client=fx_http)
    await _seed_fx(db, fx)
    tiers = free_tier(registry, fallback, settings.pricing_markup, settings.free_tier_model_ids)
    tg_http = _http(httpx.Timeout(connect=10.0, read=70.0, write=60.0, pool=10.0))
    tg = TelegramClient(
        tg_http,
        settings.telegram_bot_token,
        base_url=settings.telegram_api_url,
        limiter=telegram_limiter,
        on_call=metrics.telegram_hook,
        on_retry_after=lambda method, seconds: metrics.telegram_retry_after.inc(seconds),
    )
    shutdown = trio.Event()
    async with trio.open_nursery() as root:
        fake_kie, kie = await _start_kie(root, settings, metrics, kie_stub_speed)
        availability = Availability(db, registry)
        gen = GenDeps(settings=settings, db=db, tg=tg, kie=kie, registry=registry, metrics=metrics, worker=worker)
        notifier = Notifier(settings, db, tg, registry)
        bot = BotDeps(
            settings=settings,
            db=db,
            tg=tg,
            registry=registry,
            codes=ModelCodes(m.id for m in registry.models),
            fx=fx,
            free_tier=tiers,
            metrics=metrics,
            availability=availability,
            guard=RateGuard(),
            wake_generation=gen.submit_wakeup.signal,
            spawn=lambda fn: root.start_soon(fn),
        )
        bot.extras["gen"] = gen
        bot.extras["notifier"] = notifier
        broadcast_sender = BroadcastSender(
            db, tg, on_outcome=lambda outcome: metrics.broadcast_messages.labels(outcome=outcome).inc()
        )
        bot.extras["broadcast"] = broadcast_sender
        bot.extras.setdefault("periodic", []).append(broadcast_sender.periodic())
        bot_handlers.load()
        bot.extras.setdefault("periodic", []).append(stars_screens.reconcile_job(bot))
        leadership = Leadership(
            db,
            instance=settings.instance_name,
            heartbeat_s=leadership_timing[0],
            retry_s=leadership_timing[1],
            timeout_s=leadership_timing[2],
        )
        handle = AppHandle(
            url="",
            settings=settings,
            db=db,
            metrics=metrics,
            readiness=readiness,
            leadership=leadership,
            bot=bot,
            gen=gen,
            shutdown=shutdown,
            cancel_scope=root.cancel_scope,
            fake_kie=fake_kie,
        )
        metrics.fx_rate.set(float(fx.current().rub_per_usd))
        metrics.add_refresher(partial(refresh_gauges, db, metrics, leadership))

        async def summary() -> dict[str, Any]:
            return await health_summary(handle, fx)

        writer = InboxWriter(db)
        await root.start(partial(supervise, "webhook writer", writer.run, on_restart=metrics.restart_counter))
        web = create_web_app(
            WebDeps(
                settings=settings,
                db=db,
                metrics=metrics,
                readiness=readiness,
                instance=settings.instance_name,
                on_kie_callback=partial(handle_kie_callback, gen, notifier),
                summary=summary,
                accepting=lambda: handle.accepting,
                writer=writer,
            )
        )
        stop_web = trio.Event()
        handle.url = await root.start(
            partial(serve_web, web, settings.host, settings.port, shutdown_trigger=stop_web.wait, graceful_timeout=3.0)
        )
        if fake_kie is not None and not settings.kie_callback_base:
            gen.callback_base_override = handle.url.replace("://0.0.0.0:", "://127.0.0.1:")
        await root.start(leadership.run)
        readiness.mode = leadership.mode
        root.start_soon(_track_mode, leadership, readiness, metrics)
        root.start_soon(_fetch_me, tg, bot)

        dispatcher = intake.Dispatcher(
            db,
            partial(handle_update, bot),
            metrics,
            worker=worker,
            concurrency=settings.dispatch_concurrency,
        )
        workers = GenerationWorkers(gen, notifier, concurrency=settings.generation_concurrency)
        work_done = trio.Event()

        async def work(task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
            try:
                async with trio.open_nursery() as nursery:
                    await nursery.start(partial(supervise, "dispatch", dispatcher.run, on_restart=metrics.restart_counter))
                    await nursery.start(partial(supervise, "generation", workers.run, on_restart=metrics.restart_counter))
                    task_status.started()
            finally:
                work_done.set()

        await root.start(work)
        duties = partial(leader_duties, handle, tg, fx, kie, notifier, reconcile_every_s)
        root.start_soon(partial(supervise, "leader", partial(_as_service, partial(run_while_leader, leadership, duties)), on_restart=metrics.restart_counter))
        if install_signals:
            root.start_soon(_watch_signals, handle)
        log.info(
            "ready",
            extra={
                "url": handle.url,
                "mode": settings.bot_mode,
                "models": len(registry.models),
                "free_tier": ",".join(tiers),
                "schema_version": readiness.schema_version,
                "leader": leadership.is_leader,
                "kie": "stub" if fake_kie is not None else ("dry-run" if kie is None else "kie.ai"),
            },
        )
        task_status.started(handle)

        await shutdown.wait()
        log.info("shutting down", extra={"grace_s": settings.shutdown_grace_s})
        handle.accepting = False
        dispatcher.stop()
        workers.stop()
        root.cancel_scope.deadline = trio.current_time() + settings.shutdown_grace_s + 2.0
        with trio.move_on_after(settings.shutdown_grace_s):
            await work_done.wait()
        stop_web.set()
        root.cancel_scope.cancel()
    await tg_http.aclose()
    if fx_http is not None:
        await fx_http.aclose()
    log.info("stopped")


async def _open_store_retrying(stack: contextlib.AsyncExitStack, settings: Settings) -> Database:
    """Open the database, waiting (with back-off) while it is unreachable: a bot started during a
    database outage comes up when the database does, instead of exiting in a restart loop."""
    delay = 1.0
    while True:
        try:
            return await stack.enter_async_context(open_store(settings))
        except DatabaseUnavailable as exc:
            log.warning("database unreachable at start-up; retrying", extra={"error": str(exc), "retry_s": delay})
        await trio.sleep(delay)
        delay = min(30.0, delay * 2)


async def _as_service(fn: Callable[[], Awaitable[object]], task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
    task_status.started()
    await fn()


async def _start_kie(nursery: trio.Nursery, settings: Settings, metrics: Metrics, speed: float) -> tuple[Any, KieClient | None]:
    """The Kie client: Kie.ai itself, or (``KIE_STUB``/``TEST_MODE``) the in-process fake, or none
    at all under ``DRY_RUN`` (nothing may call Kie then)."""
    if settings.dry_run and not (settings.kie_stub or settings.test_mode):
        return None, None
    http = _http(httpx.Timeout(30.0))
    if settings.kie_stub or settings.test_mode:
        from kiebot.testing.kie.server import FakeKie

        key = settings.kie_api_key or "kie-stub-key"
        fake = FakeKie(api_key=key, speed=speed, hmac_key=settings.kie_webhook_hmac_key or None, rate_limit=None)
        base = await nursery.start(fake.serve)
        return fake, KieClient(http, api_key=key, api_url=base, upload_url=base, observer=metrics.kie_hook)
    return None, KieClient(
        http, api_key=settings.kie_api_key, api_url=settings.kie_api_url, upload_url=settings.kie_upload_url, observer=metrics.kie_hook
    )


async def _seed_fx(db: Database, fx: FxCache) -> None:
    async with db.connection() as conn:
        stored = await kv.get(conn, "fx")
    if stored is not None and isinstance(stored.value, dict):
        try:
            rate = FxRate(
                rub_per_usd=Decimal(str(stored.value["rub_per_usd"])),
                date=datetime.fromisoformat(stored.value["date"]).date() if stored.value.get("date") else None,
                source=stored.value.get("source", "fallback"),
            )
        except (KeyError, ValueError, TypeError):
            return
        fx.seed(rate)


async def _fetch_me(tg: TelegramClient, bot: BotDeps) -> None:
    async def once() -> None:
        me = await tg.get_me()
        bot.bot_username = me.username or bot.bot_username

    await with_retries("getMe", once)


async def _track_mode(leadership: Leadership, readiness: Readiness, metrics: Metrics) -> None:
    while True:
        readiness.mode = leadership.mode
        metrics.is_leader.set(1 if leadership.is_leader else 0)
        if leadership.is_leader:
            await leadership.wait_until_follower()
        else:
            await leadership.wait_until_leader()


async def _watch_signals(handle: AppHandle) -> None:
    with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async for signum in signals:
            if not handle.shutdown.is_set():
                log.info("signal received; shutting down gracefully", extra={"signal": signal.Signals(signum).name})
                handle.shutdown.set()
            else:
                log.warning("second signal; exiting now")
                handle.cancel_scope.cancel()
                return


def main() -> int:
    """``python -m kiebot run``."""
    settings = load_settings()
    setup_logging(settings.log_level, settings.log_format, settings.secrets())
    check_runnable(settings)
    try:
        trio.run(partial(run_app, settings, install_signals=True))
    except KeyboardInterrupt:
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
