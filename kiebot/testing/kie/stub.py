"""``KIE_STUB``/``TEST_MODE``: the fake Kie started inside the bot's own process.

The entry points (``python -m kiebot run``, the sandbox) pass :func:`start_stub_kie` to
:func:`kiebot.runtime.app.run_app`; the runtime never imports the fakes itself.
"""

from __future__ import annotations

import httpx
import trio

from kiebot.config import Settings
from kiebot.kie.client import KieClient
from kiebot.kie.result_fetch import ResultFetcher
from kiebot.kie.result_guard import TrustedHosts
from kiebot.metrics import Metrics
from kiebot.testing.kie.server import FakeKie


async def start_stub_kie(nursery: trio.Nursery, settings: Settings, metrics: Metrics, http: httpx.AsyncClient) -> tuple[FakeKie, KieClient]:
    """Serve a fake Kie on 127.0.0.1 in ``nursery``; return it and a client pointed at it. The
    fake finishes tasks at ``settings.limits.kie_stub_speed`` of real time and has no create limit.
    The client trusts the fake's own origin (plain http on loopback) for result files, besides
    ``KIE_TRUSTED_RESULT_HOSTS``."""
    key = settings.kie_api_key or "kie-stub-key"
    fake = FakeKie(api_key=key, speed=settings.limits.kie_stub_speed, hmac_key=settings.kie_webhook_hmac_key or None, rate_limit=None)
    base = await nursery.start(fake.serve)
    origin = httpx.URL(base)
    trusted = TrustedHosts.parse(settings.kie_trusted_result_hosts).with_origin(origin.raw_host.decode("ascii"), origin.port or 80)
    client = KieClient(http, api_key=key, api_url=base, upload_url=base, observer=metrics.kie_hook, results=ResultFetcher(trusted))
    return fake, client
