"""HTTP: the Telegram webhook, Kie callbacks, health and readiness probes, Prometheus metrics.

The webhook is the durability boundary (DESIGN.md "Two flows"): Telegram gets a 2xx only after
the update is stored in the inbox, so a crash after the answer loses nothing; when the database
cannot take it the answer is 503 with ``Retry-After`` and Telegram re-delivers later
(https://core.telegram.org/bots/api#setwebhook: "In case of an unsuccessful request, we will
repeat the request"). The handler does nothing slow: check the secret in constant time, bound the
body, decode, insert (together with the updates arriving at the same moment, see
:mod:`kiebot.intake.writer`), answer — on a plain ASGI path in front of Quart
(:mod:`kiebot.runtime.webhook_asgi`; the checks are :mod:`kiebot.intake.verdict`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import msgspec
import trio
from quart import Response, request
from quart_trio import QuartTrio
from werkzeug.exceptions import HTTPException

from kiebot.config import Settings
from kiebot.intake.gate import IntakeGate
from kiebot.intake.verdict import RETRY_AFTER_S, Verdict, judge_length
from kiebot.intake.writer import InboxWriter
from kiebot.metrics import Metrics
from kiebot.runtime.http_server import serve_asgi
from kiebot.runtime.probes import ALLOWED, NOT_FOUND, Shared, private_access
from kiebot.runtime.webhook_asgi import ASGIApp, WebhookFastPath, WebhookIntake
from kiebot.store.db import Database, DatabaseUnavailable
from kiebot.telegram.webhook import SECRET_HEADER

log = logging.getLogger(__name__)



@dataclass
class Readiness:
    """What ``/readyz`` reports. ``webhook`` is "registered", "pending", "error: …" or "not used"."""

    migrated: bool = False
    schema_version: int = 0
    webhook: str = "not used"
    mode: str = "passive"
    reasons: list[str] = field(default_factory=list)

    def problems(self, *, needs_webhook: bool) -> list[str]:
        out = []
        if not self.migrated:
            out.append("database not migrated")
        if needs_webhook and self.mode == "active" and self.webhook != "registered":
            out.append(f"webhook {self.webhook}")
        return out + self.reasons


KieCallbackHandler = Callable[[str, Mapping[str, str], bytes], Awaitable[int]]
Summary = Callable[[], Awaitable[dict[str, Any]]]


@dataclass
class WebDeps:
    settings: Settings
    db: Database
    metrics: Metrics
    readiness: Readiness
    instance: str
    on_kie_callback: KieCallbackHandler
    summary: Summary
    #: Group commit of webhook updates (:mod:`kiebot.intake.writer`); the caller runs its ``run``.
    writer: InboxWriter
    accepting: Callable[[], bool] = lambda: True
    source: str = "webhook"
    #: Marks webhook requests so handling yields to them (:mod:`kiebot.intake.gate`).
    gate: IntakeGate | None = None


_json = msgspec.json.Encoder()
def _json_response(payload: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    return Response(_json.encode(payload), status=status, headers=dict(headers or {}), content_type="application/json")


def _verdict_response(verdict: Verdict) -> Response:
    return Response(verdict.body, status=verdict.status, headers=dict(verdict.headers), content_type="application/json")


def webhook_intake(deps: WebDeps) -> WebhookIntake:
    """The webhook's checks and storage (:mod:`kiebot.runtime.webhook_asgi`), for both front ends."""
    return WebhookIntake(
        secret=deps.settings.webhook_secret,
        max_body=deps.settings.webhook_max_body_bytes,
        writer=deps.writer,
        metrics=deps.metrics,
        accepting=deps.accepting,
        source=deps.source,
        gate=deps.gate,
    )


def create_asgi_app(deps: WebDeps) -> ASGIApp:
    """What :func:`serve_web` serves: the webhook's plain ASGI fast path in front of Quart."""
    return WebhookFastPath(create_web_app(deps), deps.settings.telegram_webhook_path, webhook_intake(deps))


def create_web_app(deps: WebDeps) -> QuartTrio:
    """The quart-trio application; :func:`serve_web` serves it (behind the webhook fast path)."""
    settings = deps.settings
    app = QuartTrio("kiebot")
    app.config["MAX_CONTENT_LENGTH"] = settings.webhook_max_body_bytes
    app.config["PROVIDE_AUTOMATIC_OPTIONS"] = False
    metrics = deps.metrics
    intake = webhook_intake(deps)

    @app.post(settings.telegram_webhook_path)
    async def webhook() -> Response:
        # Every answer is counted by status code, a crash as 500: the webhook 5xx alert
        # (deploy/prometheus/alerts.yml) watches this.
        try:
            response = await receive_update()
        except HTTPException as exc:  # raised by quart itself, e.g. 413 while reading the body
            metrics.webhook_responses.labels(code=str(exc.code or 500)).inc()
            raise
        except Exception:
            metrics.webhook_responses.labels(code="500").inc()
            raise
        metrics.webhook_responses.labels(code=str(response.status_code)).inc()
        return response

    async def receive_update() -> Response:
        # Reached only without the ASGI fast path in front (create_asgi_app); same checks.
        began = time.perf_counter()
        with intake.request():
            early = judge_length(request.content_length, intake.max_body)
            if early is not None:
                return _verdict_response(intake.refuse(early))
            body = await request.get_data(cache=False)
            assert isinstance(body, bytes)
            return _verdict_response(await intake.take(body, request.headers.get(SECRET_HEADER), began))

    @app.post("/kie/callback/<token>")
    async def kie_callback(token: str) -> Response:
        if len(token) > 128:
            return _json_response({"ok": False}, 404)
        body = await request.get_data(cache=False)
        assert isinstance(body, bytes)
        headers = {k: v for k, v in request.headers.items()}
        try:
            status = await deps.on_kie_callback(token, headers, body)
        except DatabaseUnavailable:
            return _json_response({"ok": False, "error": "try again"}, 503, {"Retry-After": str(RETRY_AFTER_S)})
        return _json_response({"ok": status == 200}, status)

    @app.get("/healthz")
    async def healthz() -> Response:
        # Answering at all proves the event loop is responsive.
        return _json_response({"status": "ok"})

    # Shared by concurrent probes (kiebot.runtime.probes): a flood of probe requests runs one
    # database ping at a time, one /health summary and one /metrics page per probe_cache_s.
    ping = Shared(deps.db.ping, max_age_s=0.0)
    summary = Shared(deps.summary, max_age_s=settings.limits.probe_cache_s)
    page = Shared(metrics.render, max_age_s=settings.limits.probe_cache_s)

    @app.get("/readyz")
    async def readyz() -> Response:
        readiness = deps.readiness
        db_ok = await ping.get()
        problems = readiness.problems(needs_webhook=settings.bot_mode == "webhook")
        if not db_ok:
            problems.insert(0, "database unreachable")
        payload: dict[str, Any] = {
            "ready": not problems,
            "mode": readiness.mode,
            "instance": deps.instance,
            "db": "ok" if db_ok else "unreachable",
            "schema_version": readiness.schema_version,
            "webhook": readiness.webhook,
        }
        if problems:
            payload["reason"] = "; ".join(problems)
        return _json_response(payload, 200 if not problems else 503)

    def refused() -> Response | None:
        """None when the caller may read /health and /metrics, else the answer to give."""
        verdict = private_access(settings, request.headers.get("Authorization"))
        if verdict == ALLOWED:
            return None
        if verdict == NOT_FOUND:
            return _json_response({"ok": False, "error": "not found"}, 404)
        return _json_response({"ok": False, "error": "unauthorized"}, 401, {"WWW-Authenticate": 'Bearer realm="kiebot"'})

    @app.get("/health")
    async def health() -> Response:
        if (answer := refused()) is not None:
            return answer
        try:
            body = await summary.get()
        except DatabaseUnavailable:
            body = {"db": "unreachable"}
        return _json_response(body)

    @app.get("/metrics")
    async def metrics_route() -> Response:
        if (answer := refused()) is not None:
            return answer
        body = await page.get()
        return Response(body, content_type="text/plain; version=0.0.4; charset=utf-8")

    @app.errorhandler(413)
    async def too_large(_: Any) -> Response:
        metrics.webhook_rejected.labels(reason="too_large").inc()
        return _json_response({"ok": False, "error": "body too large"}, 413)

    @app.errorhandler(404)
    async def not_found(_: Any) -> Response:
        return _json_response({"ok": False, "error": "not found"}, 404)

    @app.errorhandler(405)
    async def not_allowed(_: Any) -> Response:
        return _json_response({"ok": False, "error": "method not allowed"}, 405)

    return app


async def serve_web(
    app: ASGIApp,
    host: str,
    port: int,
    *,
    shutdown_trigger: Callable[[], Awaitable[None]],
    graceful_timeout: float = 5.0,
    task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve ``app`` (:mod:`kiebot.runtime.http_server`) until ``shutdown_trigger`` returns; reports
    the bound URL. Connections stay open 75 s between requests: Telegram keeps webhook
    connections open."""
    await serve_asgi(
        app,
        host,
        port,
        shutdown_trigger=shutdown_trigger,
        graceful_s=graceful_timeout,
        keep_alive_s=75.0,
        task_status=task_status,
    )
