"""From outside: ``python -m kiebot sandbox`` as a real process, driven over HTTP like the page.

Two runs on one data directory. The first (``--reset``) serves the page and its assets, refuses
what it should, and the real bot answers /start — seen through the page's own server-sent events —
with the welcome bonus; SIGTERM exits 0 with a few friendly lines on the console and the app's
logs in the data directory. The second (no ``--reset``) remembers the user (no second bonus), and
the page's reset starts over (the bonus again).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio

from kiebot.chat.format import rub
from kiebot.i18n import t
from kiebot.sandbox.options import ADMIN, DEFAULT_WELCOME_RUB, USER
from kiebot.testing.harness import free_port

pytestmark = pytest.mark.slow

START_TIMEOUT_S = 60
STOP_TIMEOUT_S = 30


@pytest.fixture
def data_dir() -> Iterator[Path]:
    # Short, without spaces: the embedded PostgreSQL's socket path is limited to ~100 bytes.
    path = Path(tempfile.mkdtemp(prefix="kbsb-", dir="/tmp"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


class Sandbox:
    """A ``python -m kiebot sandbox`` process: its console, its URL, its events."""

    def __init__(self, process: trio.Process, console: list[str], port: int) -> None:
        self.process = process
        self.console = console
        self.url = f"http://127.0.0.1:{port}"

    async def stop(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        with trio.fail_after(STOP_TIMEOUT_S):
            return await self.process.wait()


async def _read_lines(
    stream: trio.abc.ReceiveStream, into: list[str], ready: trio.Event, expected: str
) -> None:
    buffer = b""
    async for chunk in stream:
        buffer += chunk
        while b"\n" in buffer:
            line, buffer = buffer.split(b"\n", 1)
            into.append(line.decode())
            if into[-1] == expected:
                ready.set()


async def start_sandbox(nursery: trio.Nursery, data_dir: Path, stderr: Any, *extra: str) -> Sandbox:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR")}
    process = await trio.lowlevel.open_process(
        [sys.executable, "-m", "kiebot", "sandbox", "--port", str(port), "--data-dir", str(data_dir), *extra],
        env=env,
        stdout=subprocess.PIPE,
        stderr=stderr,
    )
    console: list[str] = []
    ready = trio.Event()
    assert process.stdout is not None
    nursery.start_soon(_read_lines, process.stdout, console, ready, f"Open http://127.0.0.1:{port}")
    with trio.fail_after(START_TIMEOUT_S):
        await ready.wait()
    return Sandbox(process, console, port)


class Events:
    """The page's ``/_sim/events`` stream, read as the browser's EventSource would."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self._changed = trio.Event()
        self._scope = trio.CancelScope()

    @classmethod
    async def open(cls, nursery: trio.Nursery, http: httpx.AsyncClient, url: str) -> Events:
        """Connected and reading; :meth:`close` before the sandbox stops (it ends the stream)."""
        events = cls()
        await nursery.start(events._follow, http, url)
        return events

    def close(self) -> None:
        self._scope.cancel()

    async def _follow(self, http: httpx.AsyncClient, url: str, task_status: trio.TaskStatus[None]) -> None:
        with self._scope:
            async with http.stream("GET", url + "/_sim/events", timeout=None) as response:
                assert response.status_code == 200
                assert response.headers["content-type"].startswith("text/event-stream")
                task_status.started()
                async for line in response.aiter_lines():
                    if line.startswith("data: "):
                        self.received.append(json.loads(line[6:]))
                        self._changed.set()
                        self._changed = trio.Event()

    async def wait_for(self, check: Any) -> dict[str, Any]:
        """The first event (already received or still to come) for which ``check`` is true."""
        seen = 0
        while True:
            for event in self.received[seen:]:
                if check(event):
                    return event
            seen = len(self.received)
            await self._changed.wait()


def bot_message(chat_id: int, contains: str) -> Any:
    def check(event: dict[str, Any]) -> bool:
        message = event.get("message") or {}
        return (
            event["type"] in ("message_sent", "message_edited")
            and event.get("chat_id") == chat_id
            and message.get("from") == "bot"
            and contains in (message.get("content") or "")
        )

    return check


@pytest.fixture
def console_log() -> Iterator[Any]:
    with tempfile.TemporaryFile() as file:
        yield file


async def say(http: httpx.AsyncClient, url: str, text: str) -> None:
    answer = await http.post(f"{url}/_sim/users/{USER.id}/messages", json={"text": text})
    assert answer.status_code == 200, answer.text


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=30, trust_env=False) as client:
        yield client


async def test_sandbox_serves_the_page_runs_the_bot_and_stops_on_sigterm(
    data_dir: Path, console_log: Any, http: httpx.AsyncClient
) -> None:
    welcome = t("en", "menu.welcome_bonus", amount=rub(int(DEFAULT_WELCOME_RUB) * 100, "en"))
    menu_title = t("en", "menu.title", balance=rub(int(DEFAULT_WELCOME_RUB) * 100, "en")).split("\n")[0]
    menu_title = menu_title.replace("<b>", "").replace("</b>", "")
    with trio.fail_after(100):
        async with trio.open_nursery() as nursery:
            # ---- first run: a clean start
            sandbox = await start_sandbox(nursery, data_dir, console_log, "--reset")
            page = await http.get(sandbox.url + "/")
            assert page.status_code == 200
            assert page.headers["content-type"].startswith("text/html")
            assert '<script src="/static/app.js"' in page.text
            assert "default-src 'self'" in page.headers["content-security-policy"]
            for asset, kind in (("app.js", "text/javascript"), ("app.css", "text/css")):
                answer = await http.get(f"{sandbox.url}/static/{asset}")
                assert answer.status_code == 200
                assert answer.headers["content-type"].startswith(kind)
            assert (await http.get(sandbox.url + "/static/main.py")).status_code == 404
            assert (await http.get(sandbox.url + "/static/..%2Fmain.py")).status_code == 404
            # The fake Telegram's own reset would forget the people the database still knows.
            assert (await http.post(sandbox.url + "/_sim/reset")).status_code == 404
            assert (await http.post(sandbox.url + "/sandbox/lang", json={"lang": "de"})).status_code == 400

            config = (await http.get(sandbox.url + "/sandbox/config")).json()
            assert [(p["id"], p["role"]) for p in config["people"]] == [
                (USER.id, "user"),
                (ADMIN.id, "admin"),
            ]
            assert config["ready"] is True
            assert config["manual_topup"] is True
            assert config["welcome_balance_kopecks"] == int(DEFAULT_WELCOME_RUB) * 100
            assert set(config["texts"]) == {"ru", "en"}
            assert config["texts"]["en"]["reset"] == "Reset"

            assert (await http.post(sandbox.url + "/sandbox/lang", json={"lang": "en"})).json()[
                "lang"
            ] == "en"
            events = await Events.open(nursery, http, sandbox.url)
            await say(http, sandbox.url, "/start")
            await events.wait_for(bot_message(USER.id, welcome))
            menu = await events.wait_for(bot_message(USER.id, menu_title))
            assert menu["message"]["buttons"], "the main menu has an inline keyboard"
            first_run_chat = (await http.get(f"{sandbox.url}/_sim/chats/{USER.id}/transcript")).json()[
                "messages"
            ]
            events.close()
            assert await sandbox.stop() == 0
            console = list(sandbox.console)
            assert console[-1] == "kiebot sandbox: stopped."
            assert len(console) <= 10, console  # a few friendly lines, not the app's logs
            assert any(str(data_dir) in line for line in console)
            log_text = (data_dir / "sandbox.log").read_text()
            assert " ready " in log_text
            assert " stopped" in log_text

            # ---- second run: the same data directory remembers Anna and her chat; reset forgets both
            sandbox = await start_sandbox(nursery, data_dir, console_log)
            events = await Events.open(nursery, http, sandbox.url)
            kept = (await http.get(f"{sandbox.url}/_sim/chats/{USER.id}/transcript")).json()["messages"]
            assert [m["content"] for m in kept] == [m["content"] for m in first_run_chat]
            assert (await http.post(sandbox.url + "/sandbox/lang", json={"lang": "en"})).status_code == 200
            await say(http, sandbox.url, "/start")
            await events.wait_for(bot_message(USER.id, menu_title))
            welcomes = [e for e in events.received if bot_message(USER.id, welcome)(e)]
            assert welcomes == [], "a known user gets no second welcome bonus"

            with trio.fail_after(40):
                reset = await http.post(sandbox.url + "/sandbox/reset", timeout=40)
            assert reset.status_code == 200
            assert reset.json()["ready"] is True
            assert [e["phase"] for e in events.received if e["type"] == "sandbox"] == ["resetting", "ready"]
            assert any(e["type"] == "reset" for e in events.received)
            transcript = (await http.get(f"{sandbox.url}/_sim/chats/{USER.id}/transcript")).json()
            assert transcript["messages"] == []
            await say(http, sandbox.url, "/start")
            await events.wait_for(bot_message(USER.id, welcome))
            events.close()
            assert await sandbox.stop() == 0
            nursery.cancel_scope.cancel()
    console_log.seek(0)
    stderr = console_log.read().decode()
    assert "Traceback" not in stderr, stderr[-3000:]
