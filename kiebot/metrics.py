"""Prometheus metrics, one registry per app instance (tests run several instances in one process).

Exposed as text at ``GET /metrics``. Counters are bumped where things happen; gauges that describe
the database (inbox lag, jobs by state, held money) are refreshed by :meth:`Metrics.add_refresher`
callbacks while a page is rendered, so a scrape shows current numbers without a background loop.
The web layer renders at most one page per few seconds however often it is asked
(:mod:`kiebot.runtime.probes`). The Grafana dashboard and Prometheus alerts in ``deploy/`` use
these names: rename one and tests/deploy/test_operator_kit.py fails.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

log = logging.getLogger(__name__)

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_GENERATION_BUCKETS = (1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1200, 1800)


class Metrics:
    """Every metric kiebot exports, on a private registry."""

    def __init__(self) -> None:
        r = self.registry = CollectorRegistry(auto_describe=True)
        self.updates_received = Counter(
            "kiebot_updates_received", "Updates stored in the inbox", ["kind", "source"], registry=r
        )
        self.updates_duplicate = Counter(
            "kiebot_updates_duplicate", "Updates received again (already in the inbox)", ["source"], registry=r
        )
        self.updates_processed = Counter(
            "kiebot_updates_processed", "Updates handled, by outcome", ["kind", "outcome"], registry=r
        )
        self.handler_seconds = Histogram(
            "kiebot_handler_seconds", "Time to handle one update", ["kind"], buckets=_LATENCY_BUCKETS, registry=r
        )
        self.webhook_seconds = Histogram(
            "kiebot_webhook_ack_seconds", "Webhook request to acknowledgement", buckets=_LATENCY_BUCKETS, registry=r
        )
        self.webhook_rejected = Counter(
            "kiebot_webhook_rejected", "Webhook requests refused", ["reason"], registry=r
        )
        self.webhook_responses = Counter(
            "kiebot_webhook_responses", "Webhook answers by HTTP status code (a crash counts as 500)", ["code"], registry=r
        )
        self.inbox_pending = Gauge("kiebot_inbox_pending", "Updates waiting to be handled", registry=r)
        self.inbox_lag = Gauge("kiebot_inbox_lag_seconds", "Age of the oldest pending update", registry=r)
        self.telegram_calls = Counter(
            "kiebot_telegram_calls", "Bot API calls by method and outcome", ["method", "outcome"], registry=r
        )
        self.telegram_call_seconds = Histogram(
            "kiebot_telegram_call_seconds", "Bot API call latency", ["method"], buckets=_LATENCY_BUCKETS, registry=r
        )
        self.telegram_retry_after = Counter(
            "kiebot_telegram_retry_after_seconds", "Seconds waited because Telegram said retry_after", registry=r
        )
        self.kie_calls = Counter("kiebot_kie_calls", "Kie API calls by endpoint and code", ["endpoint", "code"], registry=r)
        self.kie_callbacks = Counter("kiebot_kie_callbacks", "Kie callbacks by outcome", ["outcome"], registry=r)
        self.kie_billing_drift = Counter(
            "kiebot_kie_billing_drift", "Jobs Kie billed more than 1% above their quote", ["model"], registry=r
        )
        self.jobs = Gauge("kiebot_jobs", "Jobs by state", ["state"], registry=r)
        self.jobs_by_kind = Gauge(
            "kiebot_jobs_by_kind", "Unfinished jobs by state and kind (pairs with none are absent)", ["state", "kind"], registry=r
        )
        self.jobs_finished = Counter("kiebot_jobs_finished", "Jobs that reached a final state", ["kind", "state"], registry=r)
        self.generation_seconds = Histogram(
            "kiebot_generation_seconds",
            "Confirm to delivery, by kind",
            ["kind"],
            buckets=_GENERATION_BUCKETS,
            registry=r,
        )
        self.held_kopecks = Gauge("kiebot_held_kopecks", "Money held for running jobs", registry=r)
        self.is_leader = Gauge("kiebot_is_leader", "1 while this instance leads", registry=r)
        self.kie_credits = Gauge("kiebot_kie_credits", "Kie credits left (last seen)", registry=r)
        self.fx_rate = Gauge("kiebot_fx_rub_per_usd", "RUB per USD used for prices", registry=r)
        self.supervisor_restarts = Counter(
            "kiebot_supervisor_restarts", "Background service restarts", ["service"], registry=r
        )
        self.circuit_open = Gauge("kiebot_model_circuit_open", "1 while a model is paused", ["model"], registry=r)
        # Media in memory (MEDIA_MEMORY_MB bounds both); the app points them at its budget.
        self.media_memory = Gauge("kiebot_media_memory_bytes", "Media bytes held in memory now", registry=r)
        self.media_memory_peak = Gauge(
            "kiebot_media_memory_peak_bytes", "Most media bytes held in memory at once since start", registry=r
        )
        # Payments (issue: Stars and manual top-ups).
        self.stars_payments = Counter("kiebot_stars_payments", "Stars payments credited", registry=r)
        self.stars_received = Counter("kiebot_stars_received", "Stars received", registry=r)
        self.stars_refunds = Counter("kiebot_stars_refunds", "Stars payments refunded", registry=r)
        self.topup_kopecks = Counter("kiebot_topup_kopecks", "Kopecks credited by top-ups", ["method"], registry=r)
        self.precheckout = Counter("kiebot_precheckout", "Pre-checkout answers", ["outcome"], registry=r)
        self.manual_topups = Counter("kiebot_manual_topups", "Manual top-up requests by outcome", ["outcome"], registry=r)
        self.broadcast_messages = Counter("kiebot_broadcast_messages", "Broadcast sends by outcome", ["outcome"], registry=r)
        self._refreshers: list[Callable[[], Awaitable[None]]] = []

    def restart_counter(self, service: str) -> None:
        self.supervisor_restarts.labels(service=service).inc()

    def add_refresher(self, refresh: Callable[[], Awaitable[None]]) -> None:
        """Register an async callback that updates gauges right before a scrape."""
        self._refreshers.append(refresh)

    async def render(self) -> bytes:
        for refresh in self._refreshers:
            try:
                await refresh()
            except Exception:  # a scrape must still answer when the database is down
                log.warning("metrics refresh failed", exc_info=True)
        return bytes(generate_latest(self.registry))

    def telegram_hook(self, method: str, outcome: str, seconds: float) -> None:
        self.telegram_calls.labels(method=method, outcome=outcome).inc()
        self.telegram_call_seconds.labels(method=method).observe(seconds)

    def kie_hook(self, endpoint: str, code: str) -> None:
        self.kie_calls.labels(endpoint=endpoint, code=code).inc()
