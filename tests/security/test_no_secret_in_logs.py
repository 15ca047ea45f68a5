"""No secret in any log line: the guard of the whole run (tests/log_guard.py), and a run of the
app this test makes noisy on purpose.

The bot token travels in every Bot API URL and in Telegram file URLs; httpx puts request URLs into
its log lines and exception texts. The run below exercises those paths at DEBUG level — webhook
mode with refused requests, a photo downloaded from Telegram and uploaded to Kie, Telegram
answering 500 and 429, Kie refusing a task, a handler failing — and every record is checked
before any formatter or redactor could hide a leak.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import textwrap
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest
import trio

from kiebot.config import Settings
from kiebot.testing.harness import KIE_KEY, TOKEN, free_port, open_world
from kiebot.testing.media import png
from tests.support import log_guard

GUARD_PATH = Path(__file__).parent.parent / "support" / "log_guard.py"
HMAC_KEY = "kie-hmac-key-for-the-log-test-0123456789"
USER = 5_800_001


def guard_module() -> ModuleType:
    return log_guard


def record(msg: str, *args: object, exc: BaseException | None = None, **extra: object) -> logging.LogRecord:
    made = logging.LogRecord("kiebot.test", logging.INFO, __file__, 1, msg, args, (type(exc), exc, None) if exc else None)
    for key, value in extra.items():
        setattr(made, key, value)
    return made


def test_the_guard_finds_a_secret_wherever_a_record_carries_it() -> None:
    guard = guard_module()
    secrets = guard.needles("bot token", TOKEN) | guard.needles("Kie key", KIE_KEY)
    half = TOKEN.split(":", 1)[1]
    leaky = [
        record("GET /bot%s/getMe", TOKEN),
        record(f"file at https://api.telegram.org/file/bot{TOKEN}/photos/1.jpg"),
        record("token %s", TOKEN.replace(":", "%3A")),  # URL-encoded: the secret half still shows
        record("call failed", exc=RuntimeError(f"ReadTimeout for https://x/bot{TOKEN}/sendMessage")),
        record("upload", headers={"Authorization": f"Bearer {KIE_KEY}"}),
        record("broken format %s %s", half),  # formatting fails: the raw args are still searched
    ]
    for made in leaky:
        assert guard.find_secrets(guard.render(made), secrets), made.msg
    clean = record("GET /bot***/getMe", extra_field="bot 123456789 and key kie-***")
    assert guard.find_secrets(guard.render(clean), secrets) == []
    masked = guard.mask(guard.render(leaky[0]), secrets)
    assert half not in masked
    assert "<bot token" in masked


def test_the_guard_is_active_for_this_run_and_learns_every_app_secret(request: pytest.FixtureRequest) -> None:
    guard = request.config.pluginmanager.get_plugin(guard_module().PLUGIN_NAME)
    assert guard is not None, "tests/conftest.py did not register the log guard"
    watched = set(guard.secrets)
    assert TOKEN.split(":", 1)[1] in watched
    assert KIE_KEY in watched
    assert Settings(telegram_bot_token=TOKEN).webhook_secret in watched
    assert logging.getLogger("kiebot.runtime.app").getEffectiveLevel() <= logging.DEBUG
    from kiebot.logs import redact

    redact.register(["a-secret-registered-by-an-app-0123"])
    assert "a-secret-registered-by-an-app-0123" in guard.secrets


@pytest.mark.slow
@pytest.mark.parametrize(
    ("leak", "workers"),
    [(True, []), (True, ["-p", "xdist", "-n", "2"]), (False, [])],
    ids=["a-leak-fails-the-run", "a-leak-fails-an-xdist-run", "a-clean-run-passes"],
)
def test_a_run_with_a_leaking_log_line_fails_at_the_end(tmp_path: Path, leak: bool, workers: list[str]) -> None:
    """A separate pytest process with only the guard: a test that passes but logs the token
    makes the run fail (also when pytest-xdist workers run it, as ``make test`` does), and the
    report names the secret without printing it, not even in the captured log."""
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    (tmp_path / "conftest.py").write_text(
        textwrap.dedent(
            f"""
            import importlib.util, sys
            def pytest_configure(config):
                spec = importlib.util.spec_from_file_location("kiebot_tests_log_guard", {str(GUARD_PATH)!r})
                module = sys.modules[spec.name] = importlib.util.module_from_spec(spec)
                spec.loader.exec_module(module)
                config.pluginmanager.register(module.make_guard(), module.PLUGIN_NAME)
            """
        )
    )
    line = 'logging.getLogger("httpx").warning("HTTP Request: POST %s", URL)' if leak else 'logging.getLogger("x").info("ok")'
    (tmp_path / "test_inner.py").write_text(
        textwrap.dedent(
            f"""
            import logging
            from kiebot.testing.harness import TOKEN
            URL = "http://127.0.0.1:1/bot" + TOKEN + "/getMe"
            def test_passes():
                {line}
            """
        )
    )
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly", *workers, str(tmp_path)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    output = done.stdout + done.stderr
    assert TOKEN.split(":", 1)[1] not in output
    if leak:
        assert done.returncode == 1, output
        assert "1 passed" in output
        assert "harness bot token" in output
        assert "test_inner.py::test_passes" in output
    else:
        assert done.returncode == 0, output
        assert "log guard: no secret" in output


@pytest.mark.slow
async def test_a_noisy_app_run_at_debug_level_logs_no_secret(database_url: str, sec: Any) -> None:
    guard = guard_module()
    port = free_port()
    env = {
        "BOT_MODE": "webhook",
        "PORT": str(port),
        "WEBHOOK_BASE_URL": f"http://127.0.0.1:{port}",
        "KIE_WEBHOOK_HMAC_KEY": HMAC_KEY,
        "LOG_LEVEL": "DEBUG",
    }
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    keep = Keep(level=logging.DEBUG)
    root = logging.getLogger()
    saved = root.level
    root.addHandler(keep)
    root.setLevel(logging.DEBUG)
    try:
        with trio.fail_after(100):
            async with open_world(database_url, env=env) as world, httpx.AsyncClient(timeout=20) as http:
                sec.relax(world)
                settings = world.settings
                world.tg.add_user(USER, "Noisy", language_code="en")
                # Refused webhook calls.
                await http.post(settings.webhook_url, content=b"{}", headers={"X-Telegram-Bot-Api-Secret-Token": "wrong"})
                await http.post(settings.webhook_url, content=b"{not json", headers={"X-Telegram-Bot-Api-Secret-Token": settings.webhook_secret})
                await http.post(f"{world.app.url}/kie/callback/unknown-token", content=b"{}")
                # Telegram trouble while the bot answers.
                world.tg.inject("sendMessage", status=500, times=2)
                world.tg.inject("sendMessage", status=429, retry_after=1, times=1)
                world.tg.send_text(USER, "/start")
                await world.tg.wait_for_message(USER, contains="Main menu", timeout=30)
                # A photo the bot must fetch from Telegram's file URL (the token is in it) ...
                world.tg.inject("getFile", status=500, times=1)
                world.tg.send_photo(USER, png(32, 32), caption="what is this")
                await sec.settle(world)
                # ... and a tampered button, an unknown command, a download that fails.
                message = world.tg.last_bot_message(USER)
                assert message is not None
                world.tg.tap(USER, message.message_id, "adm.ban:1:1", force=True)
                world.tg.send_text(USER, "/definitely_unknown")
                await sec.settle(world)
                with pytest.raises(Exception):  # noqa: B017 - any failure: only its logs matter
                    await world.app.bot.tg.download_file("photos/missing.jpg")
                secrets = {
                    **guard.needles("bot token", TOKEN),
                    **guard.needles("Kie key", KIE_KEY),
                    **guard.needles("webhook secret", settings.webhook_secret),
                    **guard.needles("HMAC key", HMAC_KEY),
                }
    finally:
        root.removeHandler(keep)
        root.setLevel(saved)
    # The run was noisy where it matters: Telegram calls at DEBUG, failures with tracebacks.
    assert len(records) > 20
    assert any(r.name.startswith("kiebot.telegram") and r.levelno == logging.DEBUG for r in records)
    assert any(r.exc_info for r in records), "no failure with a traceback was logged"
    # httpx writes every request line, token included, at INFO: the app keeps it quiet.
    assert [r.getMessage()[:80] for r in records if r.name.startswith(("httpx", "httpcore")) and r.levelno < logging.WARNING] == []
    leaks = [guard.mask(guard.render(r), secrets)[:300] for r in records if guard.find_secrets(guard.render(r), secrets)]
    assert leaks == []
