"""Processes for the benchmarks: the embedded PostgreSQL, the app as ``python -m kiebot run``, CPU
placement and memory readings.

**Placement on a 2-core machine.** The system under test — the bot process (kiebot or the aiogram
peer) — gets core 0 to itself. Everything else shares core 1: the benchmark driver (load
generator, fake Telegram, fake Kie) and PostgreSQL. That mirrors a deployment, where the database
is a managed server on another machine (Render PostgreSQL), and it keeps the harness from stealing
the bot's CPU. With fewer than two cores nothing is pinned (and the table says so).

**Nothing leaves the machine.** Outside ``TEST_MODE`` the app refreshes the Bank of Russia rate
over https at start; the app's environment sets ``HTTPS_PROXY`` to a closed local port (and
``NO_PROXY`` for 127.0.0.1), so that fetch fails locally and the fallback rate is used, while the
fakes (plain http on 127.0.0.1) are reached directly.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, TypeVar

import httpx
import psutil  # type: ignore[import-untyped]
import trio
import triopg

from benchmarks._common import ROOT
from kiebot.store.embedded import embedded_postgres
from kiebot.testing.harness import KIE_KEY, TOKEN, free_port

T = TypeVar("T")

APP_CORE = 0
HARNESS_CORE = 1
#: ``split`` (default): PostgreSQL with the harness; ``db-with-app``: PostgreSQL on the bot's core;
#: ``none``: nothing pinned.
PLACEMENT = os.environ.get("KIEBOT_BENCH_PLACEMENT", "split")
DB_CORE = APP_CORE if PLACEMENT == "db-with-app" else HARNESS_CORE


#: The cores this machine gives the benchmarks, read once at import: the driver later narrows its
#: own affinity to the harness core, and a check made after that would see one core and pin nothing
#: (every process would then inherit the driver's core and share it).
_CORES = frozenset(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else frozenset()


def can_pin() -> bool:
    return PLACEMENT != "none" and hasattr(os, "sched_setaffinity") and len(_CORES) >= 2


def placement() -> str:
    nice = f", nice {NICE}" if NICE else ""
    if not can_pin():
        return "processes not pinned" + nice
    if DB_CORE == APP_CORE:
        return f"bot and PostgreSQL on core {APP_CORE}; driver and fakes on core {HARNESS_CORE}{nice}"
    return f"bot on core {APP_CORE}; driver, fakes and PostgreSQL on core {HARNESS_CORE}{nice}"


#: ``KIEBOT_BENCH_NICE=-5``: run the bot, the driver and PostgreSQL at that nice value, so that
#: other work on a shared machine disturbs the measurement less (needs root; 0 = unchanged).
NICE = int(os.environ.get("KIEBOT_BENCH_NICE", "0"))


def prioritize(pid: int) -> None:
    if NICE:
        with contextlib.suppress(ProcessLookupError, PermissionError, psutil.NoSuchProcess):
            for thread in psutil.Process(pid).threads():
                os.setpriority(os.PRIO_PROCESS, thread.id, NICE)


def pin(pid: int, core: int) -> None:
    """Bind ``pid`` (and its threads) to one core, at ``KIEBOT_BENCH_NICE``; a no-op where that
    cannot be done."""
    prioritize(pid)
    if not can_pin():
        return
    with contextlib.suppress(ProcessLookupError, PermissionError, psutil.NoSuchProcess):
        for thread in psutil.Process(pid).threads():
            os.sched_setaffinity(thread.id, {core})
        os.sched_setaffinity(pid, {core})


def run_driver(measure: Callable[..., Awaitable[T]], *args: Any) -> T:
    """``trio.run(measure, *args)`` on the harness core: how every process-level benchmark drives."""
    with driver_on_harness_core():
        return trio.run(measure, *args)


@contextlib.contextmanager
def driver_on_harness_core() -> Iterator[None]:
    """Run the calling (driver) process on the harness core (at ``KIEBOT_BENCH_NICE``) for the
    duration."""
    niceness = os.getpriority(os.PRIO_PROCESS, 0)
    prioritize(os.getpid())
    before = os.sched_getaffinity(0)
    if can_pin():
        os.sched_setaffinity(0, {HARNESS_CORE})
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)
        if NICE:
            with contextlib.suppress(PermissionError):
                os.setpriority(os.PRIO_PROCESS, 0, niceness)


@dataclass
class BenchPostgres:
    """An embedded PostgreSQL in a temporary directory, pinned to ``DB_CORE``."""

    admin_url: str
    pgdata: Path
    version: str = ""
    created: list[str] = field(default_factory=list)

    def pin(self) -> None:
        """Pin the postmaster and every backend; backends forked later inherit the mask."""
        try:
            pid = int((self.pgdata / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return
        pin(pid, DB_CORE)
        with contextlib.suppress(psutil.NoSuchProcess):
            for child in psutil.Process(pid).children(recursive=True):
                pin(child.pid, DB_CORE)

    async def create_database(self, name: str) -> str:
        """A new, empty database named ``kbb_<name>_<random>`` (never an existing one: with
        ``KIEBOT_BENCH_DATABASE_URL`` the server may be shared)."""
        database = f"kbb_{name}_{secrets.token_hex(4)}"
        async with triopg.connect(self.admin_url) as conn:
            await conn.execute(f'CREATE DATABASE "{database}"')
        self.created.append(database)
        self.pin()
        return _with_database(self.admin_url, database)

    async def drop_created(self) -> None:
        async with triopg.connect(self.admin_url) as conn:
            for database in self.created:
                await conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        self.created.clear()


def _with_database(url: str, database: str) -> str:
    head, _, tail = url.partition("?")
    base = head.rsplit("/", 1)[0]
    return f"{base}/{database}" + (f"?{tail}" if tail else "")


@contextlib.asynccontextmanager
async def bench_postgres() -> AsyncIterator[BenchPostgres]:
    """Start an embedded PostgreSQL for one benchmark (inside ``trio_asyncio.open_loop()``)."""
    url = os.environ.get("KIEBOT_BENCH_DATABASE_URL")
    if url:
        pg = BenchPostgres(admin_url=url, pgdata=Path("/nonexistent"), version="external")
        try:
            yield pg
        finally:
            with trio.CancelScope(shield=True):
                await pg.drop_created()
        return
    root = Path(tempfile.mkdtemp(prefix="kbb-", dir="/tmp"))
    try:
        async with embedded_postgres(root / "pgdata", database="bench") as server:
            pg = BenchPostgres(admin_url=server.admin_url, pgdata=server.pgdata, version=str(server.postgres_version))
            pg.pin()
            yield pg
    finally:
        shutil.rmtree(root, ignore_errors=True)


#: Two third-party rate limits lifted, for benchmarks only, through the injected limits object
#: (``KIEBOT_LIMITS``, kiebot/limits.py): Telegram's overall ~30 messages/s and Kie's 20 creates per
#: 10 s. Both are rules of the real services and kiebot keeps to them; a benchmark of the deployed
#: bot would measure those rules (15 two-message replies/s, 2 generations/s), not the bot. Per-chat
#: and per-group limits are kept. Never deploy a bot like this.
LIFTED_LIMITS: dict[str, float] = {
    "telegram_global_per_second": float(os.environ.get("KIEBOT_BENCH_GLOBAL_PER_SECOND", "100000")),
    "telegram_bulk_per_second": float(os.environ.get("KIEBOT_BENCH_GLOBAL_PER_SECOND", "100000")),
    "kie_creates_per_window": float(os.environ.get("KIEBOT_BENCH_KIE_CREATES_PER_SECOND", "100000")),
    "kie_create_window_s": 1.0,
}


def lifted_env() -> dict[str, str]:
    """``KIEBOT_LIMITS`` for a bot with :data:`LIFTED_LIMITS`."""
    return {"KIEBOT_LIMITS": json.dumps({k: int(v) if k != "kie_create_window_s" else v for k, v in LIFTED_LIMITS.items()})}


def app_env(
    *,
    database_url: str,
    telegram_url: str,
    kie_url: str,
    port: int,
    extra: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The environment of ``python -m kiebot run`` in webhook mode against the fakes."""
    keep = ("PATH", "HOME", "LANG", "TMPDIR", "VIRTUAL_ENV")
    env = {k: v for k, v in os.environ.items() if k in keep}
    env.update(
        {
            "PYTHONPATH": str(ROOT),
            "TELEGRAM_BOT_TOKEN": TOKEN,
            "TELEGRAM_API_URL": telegram_url,
            "KIE_API_KEY": KIE_KEY,
            "KIE_API_URL": kie_url,
            "KIE_UPLOAD_URL": kie_url,
            "KIE_TRUSTED_RESULT_HOSTS": "127.0.0.1",  # the fake Kie serves results over http from loopback
            "DATABASE_URL": database_url,
            "BOT_MODE": "webhook",
            "HOST": "127.0.0.1",
            "PORT": str(port),
            "WEBHOOK_BASE_URL": f"http://127.0.0.1:{port}",
            "INSTANCE_NAME": "bench-1",
            "LOG_FORMAT": "json",
            "LOG_LEVEL": "INFO",
            "SHUTDOWN_GRACE_S": "2",
            "HTTPS_PROXY": "http://127.0.0.1:9",
            "https_proxy": "http://127.0.0.1:9",
            "NO_PROXY": "127.0.0.1,localhost",
            "no_proxy": "127.0.0.1,localhost",
        }
    )
    env.update(extra or {})
    env.update(extra_app_env())
    return env


def extra_app_env() -> dict[str, str]:
    """``KIEBOT_BENCH_APP_ENV="DB_POOL_SIZE=40 GENERATION_CONCURRENCY=64"``: settings to try in
    every benchmark's app (they override the benchmark's own)."""
    pairs = os.environ.get("KIEBOT_BENCH_APP_ENV", "").split()
    return dict(p.split("=", 1) for p in pairs if "=" in p)


@dataclass
class Process:
    """A child process with its log file; :meth:`stop` sends SIGTERM and waits."""

    proc: trio.Process
    log_path: Path
    started_at: float
    log_file: IO[bytes]
    extra_files: list[IO[bytes]] = field(default_factory=list)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def rss_bytes(self) -> int:
        try:
            return int(psutil.Process(self.pid).memory_info().rss)
        except psutil.NoSuchProcess:
            return 0

    def peak_rss_bytes(self) -> int:
        """The kernel's high-water mark of the resident set (``VmHWM``): exact, no sampling."""
        try:
            for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
        except OSError:
            pass
        return 0

    def sched(self) -> tuple[float, float]:
        """(seconds on a CPU, seconds runnable but waiting for a CPU), all threads, from the
        kernel's ``/proc/<pid>/task/*/schedstat``. The second is the time other processes on the
        machine took from the bot: the evidence that a figure is contention, not the bot."""
        run = wait = 0
        with contextlib.suppress(OSError):
            for task in Path(f"/proc/{self.pid}/task").iterdir():
                with contextlib.suppress(OSError, ValueError, IndexError):
                    fields = (task / "schedstat").read_text().split()
                    run += int(fields[0])
                    wait += int(fields[1])
        return run / 1e9, wait / 1e9

    def cpu_seconds(self) -> float:
        try:
            times = psutil.Process(self.pid).cpu_times()
        except psutil.NoSuchProcess:
            return 0.0
        return float(times.user + times.system)

    async def stop(self, timeout_s: float = 20.0) -> int | None:
        if self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signal.SIGTERM)
            with trio.move_on_after(timeout_s):
                await self.proc.wait()
            if self.proc.returncode is None:
                self.proc.kill()
                await self.proc.wait()
        self.log_file.close()
        return self.proc.returncode

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


async def spawn(argv: Sequence[str], env: Mapping[str, str], log_path: Path, *, core: int | None = APP_CORE) -> Process:
    log_file = log_path.open("wb")
    started = trio.current_time()
    proc = await trio.lowlevel.open_process(list(argv), env=dict(env), stdout=log_file, stderr=subprocess.STDOUT, cwd=str(ROOT))
    if core is not None:
        pin(proc.pid, core)
    return Process(proc=proc, log_path=log_path, started_at=started, log_file=log_file)


async def wait_ready(process: Process, url: str, *, path: str = "/readyz", timeout_s: float = 60.0, interval_s: float = 0.01) -> float:
    """Poll ``url + path`` until it answers 200; returns seconds since the process was spawned."""
    async with httpx.AsyncClient(trust_env=False, timeout=2.0) as http:
        with trio.fail_after(timeout_s):
            while True:
                if process.proc.returncode is not None:
                    raise RuntimeError(f"process exited with {process.proc.returncode}:\n{process.log_tail()}")
                try:
                    answer = await http.get(url + path)
                    if answer.status_code == 200:
                        return trio.current_time() - process.started_at
                except httpx.TransportError:
                    pass
                await trio.sleep(interval_s)


@contextlib.asynccontextmanager
async def running_app(
    env: Mapping[str, str],
    log_path: Path,
    *,
    module: str = "kiebot",
    args: Sequence[str] = ("run",),
    ready_timeout_s: float = 90.0,
) -> AsyncIterator[tuple[Process, str, float]]:
    """Start the app (``python -m <module> <args>``) pinned to the app core; yields (process,
    base URL, seconds to ready); stops it with SIGTERM on exit."""
    url = f"http://127.0.0.1:{env['PORT']}"
    process = await spawn([sys.executable, "-m", module, *args], env, log_path)
    profiler: trio.Process | None = None
    try:
        ready_s = await wait_ready(process, url, timeout_s=ready_timeout_s)
        pin(process.pid, APP_CORE)  # threads started after the spawn (asyncpg, trio workers)
        _check_placement(process.pid, APP_CORE)
        profiler = await _start_profiler(process, log_path)
        yield process, url, ready_s
    finally:
        with trio.CancelScope(shield=True):
            if profiler is not None:
                profiler.send_signal(signal.SIGINT)  # py-spy writes its file on Ctrl-C
                with trio.move_on_after(30):
                    await profiler.wait()
            await process.stop()


def _check_placement(pid: int, core: int) -> None:
    """Refuse to measure a bot that is not where the table says it is (a figure taken with the bot
    sharing the harness core describes a different machine)."""
    if can_pin() and os.sched_getaffinity(pid) != {core}:
        raise RuntimeError(f"the bot process is on cores {sorted(os.sched_getaffinity(pid))}, not on core {core}")


async def _start_profiler(process: Process, log_path: Path) -> trio.Process | None:
    """``KIEBOT_BENCH_PROFILE=<dir>``: sample the bot with py-spy from ready to stop, as
    ``<dir>/<benchmark>-<log name>.txt`` in py-spy's collapsed-stack format (idle stacks
    excluded; note that a process waiting for a core is not idle, so on a busy machine the
    samples pile up at system calls, where the kernel switches tasks)."""
    folder = os.environ.get("KIEBOT_BENCH_PROFILE")
    py_spy = shutil.which("py-spy") or os.path.join(os.path.dirname(sys.executable), "py-spy")
    if not folder or not os.path.exists(py_spy):  # noqa: ASYNC240 - a stat before a benchmark, not in it
        return None
    os.makedirs(folder, exist_ok=True)
    benchmark = log_path.parent.name.removeprefix("kbb-").split("-")[0]
    out = Path(folder) / f"{benchmark}-{log_path.stem}.txt"  # e.g. gen-app.txt
    argv = [py_spy, "record", "--pid", str(process.pid), "--format", "raw", "--rate", "200", "--nonblocking", "-o", str(out)]
    spy = await trio.lowlevel.open_process(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    pin(spy.pid, HARNESS_CORE)
    return spy


@dataclass
class Usage:
    """Shares of one core over a measured interval."""

    app: float = 0.0  # the bot process on a CPU
    app_waiting: float = 0.0  # the bot process runnable, waiting for a CPU (others had it)
    driver: float = 0.0  # the benchmark driver with the fakes
    postgres: float = 0.0

    def describe(self) -> str:
        return (
            f"CPU: bot {self.app:.0%} (+{self.app_waiting:.0%} waiting for a core), "
            f"fakes+driver {self.driver:.0%}, PostgreSQL {self.postgres:.0%}"
        )


class AppMeter:
    """:class:`Usage` of the bot process, the driver and PostgreSQL between start and stop."""

    def __init__(self, process: Process, pgdata: Path | None) -> None:
        self._process = process
        self._cpu = CpuMeter(pgdata)
        self._t0 = 0.0
        self._sched0 = (0.0, 0.0)

    def start(self) -> None:
        self._t0 = trio.current_time()
        self._sched0 = self._process.sched()
        self._cpu.start()

    def stop(self) -> Usage:
        elapsed = max(1e-9, trio.current_time() - self._t0)
        run, wait = self._process.sched()
        driver, postgres = self._cpu.shares()
        return Usage(
            app=(run - self._sched0[0]) / elapsed,
            app_waiting=(wait - self._sched0[1]) / elapsed,
            driver=driver,
            postgres=postgres,
        )


class CpuMeter:
    """CPU seconds used by this process (the driver, with the fakes) and by PostgreSQL, between
    :meth:`start` and :meth:`shares` — to tell whether the harness, not the bot, was the limit."""

    def __init__(self, pgdata: Path | None) -> None:
        self._pgdata = pgdata
        self._t0 = 0.0
        self._driver0 = 0.0
        self._pg0 = 0.0

    def _pg_seconds(self) -> float:
        if self._pgdata is None:
            return 0.0
        try:
            pid = int((self._pgdata / "postmaster.pid").read_text().split()[0])
            root = psutil.Process(pid)
            total = 0.0
            for proc in [root, *root.children(recursive=True)]:
                with contextlib.suppress(psutil.NoSuchProcess):
                    times = proc.cpu_times()
                    total += times.user + times.system
            return total
        except (OSError, ValueError, IndexError, psutil.NoSuchProcess):
            return 0.0

    @staticmethod
    def _driver_seconds() -> float:
        times = psutil.Process().cpu_times()
        return float(times.user + times.system)

    def start(self) -> None:
        self._t0 = trio.current_time()
        self._driver0 = self._driver_seconds()
        self._pg0 = self._pg_seconds()

    def shares(self) -> tuple[float, float]:
        """(driver, PostgreSQL) CPU since :meth:`start`, as shares of one core."""
        elapsed = max(1e-9, trio.current_time() - self._t0)
        return (self._driver_seconds() - self._driver0) / elapsed, (self._pg_seconds() - self._pg0) / elapsed


def log_dir(name: str) -> Path:
    """Where a benchmark's processes write their logs: ``$KIEBOT_BENCH_LOGS/<name>-…`` (kept), or a
    temporary directory removed when the driver exits."""
    keep = os.environ.get("KIEBOT_BENCH_LOGS")
    if keep:
        os.makedirs(keep, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix=f"{name}-", dir=keep))
    path = Path(tempfile.mkdtemp(prefix=f"kbb-{name}-"))
    atexit.register(shutil.rmtree, path, True)
    return path


def new_port() -> int:
    return free_port()


def mib(n: float) -> str:
    return f"{n / 1024 / 1024:,.0f} MiB"


__all__ = [
    "APP_CORE",
    "HARNESS_CORE",
    "KIE_KEY",
    "TOKEN",
    "AppMeter",
    "BenchPostgres",
    "CpuMeter",
    "Process",
    "Usage",
    "app_env",
    "bench_postgres",
    "can_pin",
    "driver_on_harness_core",
    "log_dir",
    "mib",
    "new_port",
    "pin",
    "placement",
    "running_app",
    "spawn",
    "wait_ready",
]
