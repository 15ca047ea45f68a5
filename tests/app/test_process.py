"""From outside: ``python -m kiebot run`` as a real process against the fake Bot API, with the
in-process fake Kie (``KIE_STUB=1``): probes, metrics, a bad secret refused, /start answered
through the webhook, /health and /metrics only with the operator's token, SIGTERM → exit 0, and no
secret in its logs."""

from __future__ import annotations

import json
import sys
import tempfile

import httpx
import pytest
import trio

from kiebot.config import load_settings
from kiebot.testing.harness import TOKEN, free_port
from kiebot.testing.telegram.server import FakeTelegram
from tests.support.process import bot_process, inherited_env, sigterm, until_ok
from tests.support.webhook import command

USER = 5_400_001
METRICS_TOKEN = "process-metrics-token-0123456789"


def _update(update_id: int, text: str) -> bytes:
    return json.dumps(command(update_id, USER, text, first_name="Ann", language_code="ru")).encode()


@pytest.mark.slow
async def test_run_command_serves_probes_and_answers_start(database_url: str) -> None:
    fake = FakeTelegram(token=TOKEN)
    port = free_port()
    env = {
        **inherited_env(),
        "TELEGRAM_BOT_TOKEN": TOKEN,
        "KIE_STUB": "1",
        "DATABASE_URL": database_url,
        "BOT_MODE": "webhook",
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "WEBHOOK_BASE_URL": f"http://127.0.0.1:{port}",
        "LOG_FORMAT": "json",
        "LOG_LEVEL": "DEBUG",
        "SHUTDOWN_GRACE_S": "3",
        "METRICS_TOKEN": METRICS_TOKEN,
    }
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryFile() as log_file, trio.fail_after(90):
        async with trio.open_nursery() as nursery:
            env["TELEGRAM_API_URL"] = await nursery.start(fake.serve)
            secret = load_settings(env).webhook_secret
            fake.add_user(USER, "Ann", language_code="ru")
            async with bot_process([sys.executable, "-m", "kiebot", "run"], env=env, log_file=log_file) as process:
                async with httpx.AsyncClient() as http:
                    health = await until_ok(http, base + "/healthz")
                    assert health.json() == {"status": "ok"}
                    # An instance is ready as soon as it can take webhooks, possibly before its
                    # first leadership attempt succeeded (a follower is ready too): wait for the
                    # leader's registration to show.
                    ready = await until_ok(http, base + "/readyz", until=lambda body: body["webhook"] == "registered")
                    assert ready.json()["ready"] is True
                    assert ready.json()["mode"] == "active"
                    hook = base + "/webhook"
                    bad = await http.post(hook, content=_update(1, "/start"), headers={"X-Telegram-Bot-Api-Secret-Token": "wrong"})
                    assert bad.status_code == 401
                    good = await http.post(hook, content=_update(2, "/start"), headers={"X-Telegram-Bot-Api-Secret-Token": secret})
                    assert good.status_code == 200
                    await fake.wait_for_message(USER, contains="Главное меню", timeout=30)
                    # A public deployment: /health and /metrics answer only the operator's token.
                    assert (await http.get(base + "/metrics")).status_code == 401
                    assert (await http.get(base + "/health")).status_code == 401
                    metrics = (await http.get(base + "/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})).text
                    assert 'kiebot_updates_received_total{kind="message",source="webhook"} 1.0' in metrics
                    assert "kiebot_webhook_rejected_total" in metrics
                assert await sigterm(process) == 0
            nursery.cancel_scope.cancel()
        log_file.seek(0)
        logs = log_file.read().decode()
    secret_part = TOKEN.split(":", 1)[1]
    assert secret_part not in logs
    assert secret not in logs
    assert METRICS_TOKEN not in logs
    lines = [line for line in logs.splitlines() if line.startswith("{")]
    assert lines, logs[:2000]
    events = [json.loads(line)["event"] for line in lines]
    assert "ready" in events
    assert "stopped" in events
