"""HTTP: the Telegram webhook, Kie callbacks, health and readiness probes, Prometheus metrics.

The webhook is the durability boundary (DESIGN.md "Two flows"): Telegram gets a 2xx only after
the update is stored in the inbox, so a crash after the answer loses nothing; when the database
cannot take it the answer is 503 with ``Retry-After`` and Telegram re-delivers later
(https://core.telegram.org/bots/api#setwebhook: "In case of an unsuccessful request, we will
repeat the request"). The handler does nothing slow: check the secret in constant time, bound the
body, decode, insert (together with the updates arriving at the same moment, see
:mod:`kiebot.intake.writer`), answer.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import msgspec
import trio
from quart import Response, request
from quart_trio import QuartTrio
from werkzeug.exceptions import HTTPException

from kiebot.config import Settings
from kiebot.intake.dispatch import chat_key_of, check_storable
from kiebot.intake.writer import InboxWriter
from kiebot.metrics import Metrics
from kiebot.runtime.probes import ALLOWED, NOT_FOUND, Shared, private_access
from kiebot.store.db import Database, DatabaseUnavailable
from kiebot.store.inbox import InboxItem
from kiebot.telegram.types import decode_update_lenient
from kiebot.telegram.webhook import SECRET_HEADER, secret_token_matches

log = logging.getLogger(__name__)

RETRY_AFTER_S = 5
_ACK_DEADLINE_S = 8.0  # Telegram gives up on a webhook request after ~10 s and re-sends it


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


_json = msgspec.json.Encoder()
def _json_response(payload: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    return Response(_json.encode(payload), status=status, headers=dict(headers or {}), content_type="application/json")


def create_web_app(deps: WebDeps) -> QuartTrio:
    """The quart-trio application; :func:`serve_web` runs it on hypercorn."""
    settings = deps.settings
    app = QuartTrio("kiebot")
    app.config["MAX_CONTENT_LENGTH"] = settings.webhook_max_body_bytes
    app.config["PROVIDE_AUTOMATIC_OPTIONS"] = False
    secret = settings.webhook_secret
    metrics = deps.metrics

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
        began = time.perf_counter()
        length = request.content_length
        if length is not None and length > settings.webhook_max_body_bytes:
            metrics.webhook_rejected.labels(reason="too_large").inc()
            return _json_response({"ok": False, "error": "body too large"}, 413, {"Connection": "close"})
        # Read the (bounded) body before answering anything: an answer with the body left unread
        # can stall the next request on the same keep-alive connection.
        body = await request.get_data(cache=False)
        assert isinstance(body, bytes)
        if not secret_token_matches(secret, request.headers.get(SECRET_HEADER)):
            metrics.webhook_rejected.labels(reason="secret").inc()
            return _json_response({"ok": False, "error": "unauthorized"}, 401)
        if not deps.accepting():
            metrics.webhook_rejected.labels(reason="shutting_down").inc()
            return _json_response({"ok": False, "error": "shutting down"}, 503, {"Retry-After": str(RETRY_AFTER_S)})
        try:
            update = decode_update_lenient(body)
            check_storable(update, body)
        except (msgspec.DecodeError, ValueError, RecursionError):
            metrics.webhook_rejected.labels(reason="malformed").inc()
            return _json_response({"ok": False, "error": "malformed update"}, 400)
        kind = update.kind
        chat_key = chat_key_of(update)
        try:
            with trio.fail_after(_ACK_DEADLINE_S):
                new = await deps.writer.put(InboxItem(update.update_id, chat_key, kind, body, deps.source))
        except (DatabaseUnavailable, trio.TooSlowError):
            metrics.webhook_rejected.labels(reason="database").inc()
            log.warning("webhook: database unavailable, asking Telegram to retry", extra={"update_id": update.update_id})
            return _json_response({"ok": False, "error": "try again"}, 503, {"Retry-After": str(RETRY_AFTER_S)})
        if new:
            metrics.updates_received.labels(kind=kind, source=deps.source).inc()
        else:
            metrics.updates_duplicate.labels(source=deps.source).inc()
        metrics.webhook_seconds.observe(time.perf_counter() - began)
        return _json_response({"ok": True})

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
    app: QuartTrio,
    host: str,
    port: int,
    *,
    shutdown_trigger: Callable[[], Awaitable[None]],
    graceful_timeout: float = 5.0,
    task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve ``app`` with hypercorn until ``shutdown_trigger`` returns; reports the bound URL."""
    from hypercorn.config import Config
    from hypercorn.trio import serve

    config = Config()
    config.bind = [f"{host}:{port}"]
    config.accesslog = None
    config.errorlog = logging.getLogger("hypercorn.error")
    config.graceful_timeout = graceful_timeout
    config.keep_alive_timeout = 75  # Telegram keeps webhook connections open
    async with trio.open_nursery() as nursery:
        binds: list[str] = await nursery.start(partial(serve, app, config, shutdown_trigger=shutdown_trigger))
        task_status.started(binds[0])
