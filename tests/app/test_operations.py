"""The operations endpoints (issue 17, point 4): /healthz and /readyz open and silent about the
business; /health and /metrics behind METRICS_TOKEN (404 without one in webhook mode, open in
polling mode); /health without money; and a flood of probes that cannot delay intake."""

from __future__ import annotations

import json

import httpx
import pytest
import trio

from kiebot.config import ConfigError, describe, load_settings
from kiebot.runtime.probes import ALLOWED, NOT_FOUND, UNAUTHORIZED, Shared, private_access
from kiebot.testing.harness import open_world
from tests.support.webhook import command, webhook_env

USER = 5_600_001
METRICS_TOKEN = "op3rator-metrics-token-0123456789"
# What no anonymous answer, and no /health at all, may contain.
MONEY_WORDS = ("revenue", "kopeck", "stars", "rub", "balance", "held", "price", "net_")


@pytest.mark.parametrize(
    ("env", "authorization", "verdict"),
    [
        ({"BOT_MODE": "webhook"}, None, NOT_FOUND),  # a public deployment without a token
        ({"BOT_MODE": "webhook"}, f"Bearer {METRICS_TOKEN}", NOT_FOUND),
        ({"BOT_MODE": "polling"}, None, ALLOWED),  # local runs and the sandbox
        ({"BOT_MODE": "webhook", "METRICS_TOKEN": METRICS_TOKEN}, None, UNAUTHORIZED),
        ({"BOT_MODE": "webhook", "METRICS_TOKEN": METRICS_TOKEN}, "Bearer wrong-token", UNAUTHORIZED),
        ({"BOT_MODE": "webhook", "METRICS_TOKEN": METRICS_TOKEN}, METRICS_TOKEN, UNAUTHORIZED),
        ({"BOT_MODE": "webhook", "METRICS_TOKEN": METRICS_TOKEN}, f"Basic {METRICS_TOKEN}", UNAUTHORIZED),
        ({"BOT_MODE": "webhook", "METRICS_TOKEN": METRICS_TOKEN}, f"Bearer {METRICS_TOKEN}", ALLOWED),
        ({"BOT_MODE": "webhook", "METRICS_TOKEN": METRICS_TOKEN}, f"bearer  {METRICS_TOKEN} ", ALLOWED),
        ({"BOT_MODE": "polling", "METRICS_TOKEN": METRICS_TOKEN}, None, UNAUTHORIZED),  # a token always counts
    ],
)
def test_who_may_read_health_and_metrics(env: dict[str, str], authorization: str | None, verdict: int) -> None:
    assert private_access(load_settings(env), authorization) == verdict


def test_metrics_token_is_a_masked_secret_of_some_length() -> None:
    with pytest.raises(ConfigError) as err:
        load_settings({"METRICS_TOKEN": "short"})
    assert str(err.value) == "METRICS_TOKEN: expected 16–512 printable characters without spaces"
    settings = load_settings({"METRICS_TOKEN": METRICS_TOKEN})
    assert METRICS_TOKEN in settings.secrets()  # redacted from every log line
    assert METRICS_TOKEN not in json.dumps(describe(settings))


async def test_shared_results_run_once_for_a_crowd_and_expire() -> None:
    calls = 0

    async def compute() -> int:
        nonlocal calls
        calls += 1
        await trio.sleep(0.05)
        return calls

    async def crowds(shared: Shared[int], size: int, *, second_after_s: float | None = None) -> list[int]:
        seen: list[int] = []

        async def ask() -> None:
            seen.append(await shared.get())

        async with trio.open_nursery() as nursery:
            for _ in range(size):
                nursery.start_soon(ask)
            if second_after_s is not None:
                await trio.sleep(second_after_s)  # the first crowd's computation is running
                for _ in range(size):
                    nursery.start_soon(ask)
        return seen

    with trio.fail_after(10):
        cached = Shared(compute, max_age_s=0.5)
        assert await crowds(cached, 200) == [1] * 200
        assert cached.computations == 1
        assert await cached.get() == 1  # young enough
        await trio.sleep(0.6)
        assert await cached.get() == 2

        # Never stale: whoever asks while a computation runs waits for the next one, which all of
        # them share; never more than one at a time.
        fresh = Shared(compute, max_age_s=0.0)
        seen = await crowds(fresh, 100, second_after_s=0.02)
        assert fresh.computations == 2
        assert sorted(seen) == [3] * 100 + [4] * 100


async def test_webhook_mode_keeps_health_and_metrics_private(database_url: str) -> None:
    with trio.fail_after(60):
        async with open_world(database_url, env=webhook_env(METRICS_TOKEN=METRICS_TOKEN)) as world:
            base = world.app.url
            bearer = {"Authorization": f"Bearer {METRICS_TOKEN}"}
            async with httpx.AsyncClient() as http:
                healthz = await http.get(base + "/healthz")
                readyz = await http.get(base + "/readyz")
                anonymous = [await http.get(base + path) for path in ("/health", "/metrics")]
                wrong = await http.get(base + "/metrics", headers={"Authorization": "Bearer nope-nope-nope-nope"})
                health = await http.get(base + "/health", headers=bearer)
                metrics = await http.get(base + "/metrics", headers=bearer)
            assert healthz.status_code == 200
            assert healthz.json() == {"status": "ok"}
            assert set(readyz.json()) <= {"ready", "mode", "instance", "db", "schema_version", "webhook", "reason"}
            for answer in (*anonymous, wrong):
                assert answer.status_code == 401
                assert answer.headers["WWW-Authenticate"].startswith("Bearer")
                assert "kiebot_" not in answer.text
            for answer in (healthz, readyz, *anonymous, wrong, health):
                lowered = answer.text.lower()
                assert not [word for word in MONEY_WORDS if word in lowered], answer.text
            assert health.status_code == 200
            assert health.json()["db"] == "ok"
            assert metrics.status_code == 200
            assert "kiebot_webhook_responses" in metrics.text


async def test_webhook_mode_without_a_token_has_no_health_or_metrics(database_url: str) -> None:
    with trio.fail_after(60):
        async with open_world(database_url, env=webhook_env()) as world:
            async with httpx.AsyncClient() as http:
                answers = [await http.get(world.app.url + path) for path in ("/health", "/metrics")]
                healthz = await http.get(world.app.url + "/healthz")
            assert [a.status_code for a in answers] == [404, 404]
            assert healthz.status_code == 200


async def test_polling_mode_leaves_them_open_and_health_has_no_money(database_url: str) -> None:
    with trio.fail_after(60):
        async with open_world(database_url) as world:
            async with httpx.AsyncClient() as http:
                health = await http.get(world.app.url + "/health")
                metrics = await http.get(world.app.url + "/metrics")
            assert health.status_code == 200
            body = health.json()
            assert body["db"] == "ok"
            assert "revenue_today" not in body
            assert "rub_per_usd" not in json.dumps(body)
            assert metrics.status_code == 200
            assert "kiebot_inbox_lag_seconds" in metrics.text


@pytest.mark.slow
async def test_a_flood_of_probes_cannot_delay_intake(database_url: str) -> None:
    """200 concurrent probe requests while updates arrive, with every pooled connection taken:
    each update is stored and acknowledged at once (the writer has a connection of its own), and
    the probes answer from what they share (one summary, one page, one ping at a time)."""
    env = webhook_env(METRICS_TOKEN=METRICS_TOKEN, DB_POOL_SIZE="2")
    with trio.fail_after(90):
        async with open_world(database_url, env=env) as world:
            base = world.app.url
            bearer = {"Authorization": f"Bearer {METRICS_TOKEN}"}
            secret = {"X-Telegram-Bot-Api-Secret-Token": world.settings.webhook_secret}
            limits = httpx.Limits(max_connections=400, max_keepalive_connections=400)
            probe_codes: list[int] = []
            acks: list[tuple[int, float]] = []
            async with httpx.AsyncClient(limits=limits, timeout=30) as http:
                # Prime the shared page and summary, then take the whole pool away from the app.
                assert (await http.get(base + "/metrics", headers=bearer)).status_code == 200
                assert (await http.get(base + "/health", headers=bearer)).status_code == 200

                async def probe(path: str) -> None:
                    probe_codes.append((await http.get(base + path, headers=bearer)).status_code)

                async def deliver(update_id: int) -> None:
                    await trio.sleep(0.01 * (update_id % 20))
                    began = trio.current_time()
                    answer = await http.post(world.settings.webhook_url, content=json.dumps(command(update_id, USER + update_id, "/help", first_name="Op")).encode(), headers=secret)
                    acks.append((answer.status_code, trio.current_time() - began))

                async with world.app.db.connection(), world.app.db.connection(), trio.open_nursery() as nursery:
                    for i in range(200):
                        nursery.start_soon(probe, ("/health", "/metrics", "/readyz", "/healthz")[i % 4])
                    for update_id in range(1, 41):
                        nursery.start_soon(deliver, update_id)
            assert len(acks) == 40
            assert [code for code, _ in acks] == [200] * 40
            # Nobody waited for a pool connection: a wait would last as long as the pool is held.
            assert max(seconds for _, seconds in acks) < 5.0
            assert len(probe_codes) == 200
            assert set(probe_codes) <= {200, 503}  # /readyz says 503 while the pool is held
            assert probe_codes.count(200) >= 150
            async with world.app.db.connection() as conn:
                stored = await conn.fetchval("SELECT count(*) FROM updates WHERE update_id BETWEEN 1 AND 40")
                assert stored == 40
