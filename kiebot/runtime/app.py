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
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
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
from kiebot.catalog import Registry, load_registry
from kiebot.catalog.availability import Availability
from kiebot.catalog.fx import FxCache, FxRate, fallback_rate
from kiebot.catalog.pricing import free_tier
from kiebot.chat.broadcast import BroadcastSender
from kiebot.chat.callback_data import ModelCodes
from kiebot.config import Settings, check_runnable
from kiebot.generation.deps import GenDeps
from kiebot.generation.kie_news import handle_kie_callback
from kiebot.generation.media_budget import MIB, MediaBudget
from kiebot.generation.notify import Notifier
from kiebot.generation.workers import GenerationWorkers
from kiebot.intake import dispatch as intake
from kiebot.intake.gate import IntakeGate
from kiebot.intake.writer import InboxWriter
from kiebot.kie.client import KieClient
from kiebot.kie.pacing import Pacer
from kiebot.kie.result_fetch import ResultFetcher
from kiebot.kie.result_guard import TrustedHosts
from kiebot.kie.throttle import SlidingWindowThrottle
from kiebot.logs import quiet_third_party_loggers, redact, setup_logging
from kiebot.metrics import Metrics
from kiebot.payments.reconcile_job import reconcile_and_announce
from kiebot.runtime.catalog_duties import CatalogWatch, catalog_jobs
from kiebot.runtime.duties import leader_duties, with_retries
from kiebot.runtime.handle import AppHandle as AppHandle  # re-exported: callers start the app from here
from kiebot.runtime.health import refresh_gauges
from kiebot.runtime.health import summary as health_summary
from kiebot.runtime.heap import freeze_startup_heap
from kiebot.runtime.leader import Leadership, run_while_leader
from kiebot.runtime.scheduler import Periodic
from kiebot.runtime.supervisor import supervise
from kiebot.runtime.web import Readiness, WebDeps, create_asgi_app, serve_web
from kiebot.runtime.webhook_asgi import ASGIApp
from kiebot.store import kv
from kiebot.store.connect import open_store
from kiebot.store.db import Database, DatabaseUnavailable
from kiebot.store.migrations import schema_version
from kiebot.telegram.client import TelegramClient
from kiebot.telegram.lean_http import LeanTransport
from kiebot.telegram.limiter import FloodLimiter

log = logging.getLogger(__name__)

#: Starts the in-process fake Kie for ``KIE_STUB``/``TEST_MODE`` and returns it with a client
#: pointed at it. Chosen at the edge (``kiebot.__main__``, the sandbox): production code never
#: imports the fakes (``kiebot.testing``).
KieStub = Callable[[trio.Nursery, Settings, Metrics, httpx.AsyncClient], Awaitable[tuple[object, KieClient]]]


def _http(timeout: httpx.Timeout, *, lean: LeanTransport | None = None) -> httpx.AsyncClient:
    """``lean``: the Telegram client's transport (:mod:`kiebot.telegram.lean_http`, issue 18): its
    calls are most of a handler's own CPU time, and httpcore's pool costs more than the request."""
    if lean is not None:
        return httpx.AsyncClient(timeout=timeout, transport=lean)
    return httpx.AsyncClient(timeout=timeout, limits=httpx.Limits(max_connections=200, max_keepalive_connections=50))


async def run_app(
    settings: Settings,
    *,
    install_signals: bool = False,
    kie_stub: KieStub | None = None,
    task_status: trio.TaskStatus[AppHandle] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Run kiebot until shutdown is requested (signal or :meth:`AppHandle.request_shutdown`).

    Every tunable rate and duration comes from ``settings.limits`` (tests and benchmarks pass
    their own :class:`~kiebot.limits.Limits`)."""
    quiet_third_party_loggers()
    redact.register(settings.secrets())
    async with contextlib.AsyncExitStack() as stack:
        if trio_asyncio.current_loop.get() is None:
            # Ours to open; a caller that already runs one (the test harness, the sandbox) shares it,
            # so it can use the app's database from its own tasks.
            await stack.enter_async_context(trio_asyncio.open_loop())
        db = await _open_store_retrying(stack, settings)
        await _serve(db, settings, install_signals, kie_stub, task_status)


@dataclass
class _Parts:
    """Everything one instance is made of, built before anything starts."""

    handle: AppHandle
    tg: TelegramClient
    tg_http: httpx.AsyncClient
    fx: FxCache
    fx_http: httpx.AsyncClient | None
    kie: KieClient | None
    notifier: Notifier
    writer: InboxWriter
    gate: IntakeGate
    dispatcher: intake.Dispatcher
    workers: GenerationWorkers
    periodic: list[Periodic]


async def _serve(
    db: Database, settings: Settings, install_signals: bool, kie_stub: KieStub | None, task_status: trio.TaskStatus[AppHandle]
) -> None:
    """Start order: parts built → intake writer → web server → leadership → dispatch and
    generation workers → leader duties → signals; then wait for shutdown and stop in reverse."""
    async with trio.open_nursery() as root:
        parts = await _build(db, settings, root, kie_stub)
        handle = parts.handle
        await root.start(partial(supervise, "webhook writer", parts.writer.run, on_restart=handle.metrics.restart_counter))
        await root.start(partial(supervise, "intake gate", parts.gate.run, on_restart=handle.metrics.restart_counter))
        stop_web = trio.Event()
        web_done = trio.Event()
        handle.url = await root.start(partial(_serve_web, _web_app(parts), settings, stop_web, web_done))
        if handle.fake_kie is not None and not settings.kie_callback_base:
            handle.gen.callback_base_override = handle.url.replace("://0.0.0.0:", "://127.0.0.1:")
        await root.start(handle.leadership.run)
        handle.readiness.mode = handle.leadership.mode
        root.start_soon(_track_mode, handle.leadership, handle.readiness, handle.metrics)
        root.start_soon(_fetch_me, parts.tg, handle.bot)
        work_done = trio.Event()
        await root.start(partial(_run_work, parts, work_done))
        duties = partial(leader_duties, handle, parts.tg, parts.fx, parts.kie, parts.notifier, parts.periodic)
        root.start_soon(
            partial(
                supervise,
                "leader",
                partial(_as_service, partial(run_while_leader, handle.leadership, duties)),
                on_restart=handle.metrics.restart_counter,
            )
        )
        if install_signals:
            root.start_soon(_watch_signals, handle)
            freeze_startup_heap()  # the process's own loop only (kiebot.runtime.heap)
        _log_ready(handle, parts)
        task_status.started(handle)

        await handle.shutdown.wait()
        await _shut_down(handle, parts, root, stop_web, web_done, work_done)
    await parts.tg_http.aclose()
    if parts.fx_http is not None:
        await parts.fx_http.aclose()
    log.info("stopped")


async def _build(db: Database, settings: Settings, root: trio.Nursery, kie_stub: KieStub | None) -> _Parts:
    limits = settings.limits
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
    fx_http = None if settings.test_mode else _http(httpx.Timeout(10.0))
    fx = FxCache(fallback=fallback, client=fx_http)
    await _seed_fx(db, fx)
    tiers = free_tier(registry, fallback, settings.pricing_markup, settings.free_tier_model_ids)
    tg_transport = LeanTransport(max_connections=200, max_idle_per_origin=50)
    tg_http = _http(httpx.Timeout(connect=10.0, read=70.0, write=60.0, pool=10.0), lean=tg_transport)
    tg = TelegramClient(
        tg_http,
        settings.telegram_bot_token,
        json_poster=tg_transport,
        base_url=settings.telegram_api_url,
        limiter=FloodLimiter(
            per_chat_rate=limits.telegram_chat_per_second,
            per_chat_burst=limits.telegram_chat_burst,
            group_per_minute=limits.telegram_group_per_minute,
            global_per_second=limits.telegram_global_per_second,
            bulk_per_second=limits.telegram_bulk_per_second,
        ),
        on_call=metrics.telegram_hook,
        on_retry_after=lambda method, seconds: metrics.telegram_retry_after.inc(seconds),
    )
    fake_kie, kie = await _start_kie(root, settings, metrics, kie_stub)
    media = MediaBudget(
        settings.media_memory_mb * MIB,
        small_file_bytes=limits.media_small_file_bytes,
        write_batch_bytes=limits.media_write_batch_bytes,
    )
    metrics.media_memory.set_function(lambda: media.in_use)
    metrics.media_memory_peak.set_function(lambda: media.peak)
    availability = Availability(db, registry)
    gen = GenDeps(
        settings=settings,
        db=db,
        tg=tg,
        kie=kie,
        registry=registry,
        metrics=metrics,
        worker=worker,
        media=media,
        fx=fx.current,
        free_tier=tiers,
        on_variant_paused=availability.invalidate,
    )
    notifier = Notifier(settings, db, tg, registry)
    broadcast_sender = BroadcastSender(
        db,
        tg,
        poll_every_s=limits.broadcast_poll_s,
        on_outcome=lambda outcome: metrics.broadcast_messages.labels(outcome=outcome).inc(),
    )
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
        notifier=notifier,
        broadcast=broadcast_sender,
        media=media,
    )
    bot_handlers.load()
    leadership = Leadership(
        db,
        instance=settings.instance_name,
        heartbeat_s=limits.leadership_heartbeat_s,
        retry_s=limits.leadership_retry_s,
        timeout_s=limits.leadership_timeout_s,
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
        shutdown=trio.Event(),
        cancel_scope=root.cancel_scope,
        fake_kie=fake_kie,
    )
    metrics.fx_rate.set(float(fx.current().rub_per_usd))
    metrics.add_refresher(partial(refresh_gauges, db, metrics, leadership, db_s=limits.probe_db_s))

    async def reconcile_stars() -> None:
        await reconcile_and_announce(
            db, tg, metrics, rub_per_star=settings.stars_rub_rate, now=bot.now().timestamp(), admins=notifier
        )

    periodic = [
        Periodic("broadcast", limits.broadcast_poll_s, broadcast_sender.serve),
        Periodic(
            "stars-reconcile", limits.stars_reconcile_every_s, reconcile_stars, first_after_s=limits.stars_reconcile_first_after_s
        ),
    ]
    if kie is not None:
        # The daily catalogue sync and the 15-minute health read share Kie's 1 request/s budget.
        catalogue = kie.catalogue(Pacer(limits.kie_catalogue_interval_s))
        handle.catalog_watch = CatalogWatch(db, registry, catalogue, notifier, bot.availability)
        periodic += catalog_jobs(handle.catalog_watch, limits)
    gate = IntakeGate(
        busy_concurrency=limits.dispatch_concurrency_under_intake,
        quiet_s=limits.intake_quiet_s,
        lag_budget_s=limits.intake_lag_budget_s,
    )
    dispatcher = intake.Dispatcher(
        db,
        partial(handle_update, bot),
        metrics,
        worker=worker,
        concurrency=settings.dispatch_concurrency,
        lease_s=limits.dispatch_lease_s,
        poll_s=limits.dispatch_poll_s,
        admission=gate,
        clock=lambda: bot.now(),  # read at each claim: tests replace the bot's clock
    )
    handle.dispatcher = dispatcher
    return _Parts(
        handle=handle,
        tg=tg,
        tg_http=tg_http,
        fx=fx,
        fx_http=fx_http,
        kie=kie,
        notifier=notifier,
        writer=InboxWriter(db, max_batch=limits.intake_max_batch, max_idle_s=limits.intake_conn_max_idle_s),
        gate=gate,
        dispatcher=dispatcher,
        workers=GenerationWorkers(gen, notifier, concurrency=settings.generation_concurrency, lease_s=limits.generation_lease_s),
        periodic=periodic,
    )


def _web_app(parts: _Parts) -> ASGIApp:
    handle = parts.handle

    async def summary() -> dict[str, Any]:
        return await health_summary(handle, parts.fx)

    return create_asgi_app(
        WebDeps(
            settings=handle.settings,
            db=handle.db,
            metrics=handle.metrics,
            readiness=handle.readiness,
            instance=handle.settings.instance_name,
            on_kie_callback=partial(handle_kie_callback, handle.gen, parts.notifier),
            summary=summary,
            accepting=lambda: handle.accepting,
            writer=parts.writer,
            gate=parts.gate,
        )
    )


async def _serve_web(
    web: ASGIApp, settings: Settings, stop: trio.Event, done: trio.Event, task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED
) -> None:
    """The HTTP server until ``stop``; ``done`` tells shutdown that open requests have been answered."""
    try:
        await serve_web(
            web, settings.host, settings.port, shutdown_trigger=stop.wait, graceful_timeout=settings.limits.web_graceful_s, task_status=task_status
        )
    finally:
        done.set()


async def _run_work(parts: _Parts, done: trio.Event, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
    """Dispatch and generation workers; ``done`` is set once both have finished their work in flight."""
    restarts = parts.handle.metrics.restart_counter
    try:
        async with trio.open_nursery() as nursery:
            await nursery.start(partial(supervise, "dispatch", parts.dispatcher.run, on_restart=restarts))
            await nursery.start(partial(supervise, "generation", parts.workers.run, on_restart=restarts))
            task_status.started()
    finally:
        done.set()


async def _shut_down(
    handle: AppHandle, parts: _Parts, root: trio.Nursery, stop_web: trio.Event, web_done: trio.Event, work_done: trio.Event
) -> None:
    """Stop taking work, give work in flight its grace (a deadline, not a cancel), then let the HTTP server
    answer what is open within its graceful period, and only then cancel what is left."""
    settings = handle.settings
    log.info("shutting down", extra={"grace_s": settings.shutdown_grace_s})
    handle.accepting = False
    parts.dispatcher.stop()
    parts.workers.stop()
    root.cancel_scope.deadline = trio.current_time() + settings.shutdown_grace_s + settings.limits.web_graceful_s + 2.0
    with trio.move_on_after(settings.shutdown_grace_s):
        await work_done.wait()
    stop_web.set()
    with trio.move_on_after(settings.limits.web_graceful_s + 0.5):
        await web_done.wait()
    root.cancel_scope.cancel()


def _log_ready(handle: AppHandle, parts: _Parts) -> None:
    settings = handle.settings
    log.info(
        "ready",
        extra={
            "url": handle.url,
            "mode": settings.bot_mode,
            "models": len(handle.bot.registry.models),
            "free_tier": ",".join(handle.bot.free_tier),
            "schema_version": handle.readiness.schema_version,
            "leader": handle.leadership.is_leader,
            "kie": "stub" if handle.fake_kie is not None else ("dry-run" if parts.kie is None else "kie.ai"),
        },
    )


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


async def _start_kie(
    nursery: trio.Nursery, settings: Settings, metrics: Metrics, kie_stub: KieStub | None
) -> tuple[object | None, KieClient | None]:
    """The Kie client: Kie.ai itself, or (``KIE_STUB``/``TEST_MODE``) the fake the edge passed in,
    or none at all under ``DRY_RUN`` (nothing may call Kie then).

    Result files are fetched only from public https hosts, except those named in
    ``KIE_TRUSTED_RESULT_HOSTS`` (the stub adds its own origin: :mod:`kiebot.testing.kie.stub`).
    """
    if settings.dry_run and not (settings.kie_stub or settings.test_mode):
        return None, None
    if not settings.kie_webhook_hmac_key:
        log.warning(
            "KIE_WEBHOOK_HMAC_KEY is not set: Kie callbacks cannot be authenticated, so each one is "
            "confirmed with Kie's recordInfo before a result is delivered or money moves"
        )
    http = _http(httpx.Timeout(30.0))
    limits = settings.limits
    if settings.kie_stub or settings.test_mode:
        if kie_stub is None:
            raise RuntimeError("KIE_STUB/TEST_MODE: the caller must pass the fake Kie's factory (kie_stub)")
        return await kie_stub(nursery, settings, metrics, http)
    return None, KieClient(
        http,
        api_key=settings.kie_api_key,
        api_url=settings.kie_api_url,
        upload_url=settings.kie_upload_url,
        throttle=SlidingWindowThrottle(limits.kie_creates_per_window, limits.kie_create_window_s),
        observer=metrics.kie_hook,
        results=ResultFetcher(TrustedHosts.parse(settings.kie_trusted_result_hosts)),
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


def main(settings: Settings, kie_stub: KieStub | None = None) -> int:
    """``python -m kiebot run`` with the settings the entry point loaded; ``kie_stub`` is chosen
    there too when ``KIE_STUB`` is set."""
    setup_logging(settings.log_level, settings.log_format, settings.secrets())
    check_runnable(settings)
    try:
        trio.run(partial(run_app, settings, install_signals=True, kie_stub=kie_stub))
    except KeyboardInterrupt:
        return 0
    return 0
