"""Media memory (issue 17 item 3): N video jobs finishing at once, each with a big result — the
app's peak RSS while it downloads them all from Kie and uploads them all to Telegram.

Set-up as in :mod:`benchmarks.generations` (users with money, N jobs confirmed through
:func:`kiebot.generation.service.confirm`), but the model is a text-to-video one and the fake Kie
pads every video result to ``KIEBOT_BENCH_MEDIA_MB`` MB (``FakeKie.video_result_bytes``: the
sample MP4 followed by zeros, streamed with a Content-Length). The tasks all take the same time
on the fake (60 s × ``KIEBOT_BENCH_KIE_SPEED``, default 0.05 → 3 s) and are created within a
fraction of that, so their results arrive together and ``GENERATION_CONCURRENCY`` (32)
deliveries run at once: 32 × 50 MB held whole would be 1.6 GB. The app runs with its defaults
(``MEDIA_MEMORY_MB=128``), so the figure is what a deployment sees; the driver checks that every
chat received a video of the full size.

Kie's create rate and Telegram's overall rate are lifted as in :mod:`benchmarks.generations`.
The fake Telegram keeps what it receives (about N × size in the driver, not in the app).
Sizes: ``KIEBOT_BENCH_MEDIA_JOBS`` (default 32), ``KIEBOT_BENCH_MEDIA_MB`` (default 50, i.e.
50,000,000 bytes: Telegram's upload limit). Run ``python -m benchmarks.media``.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass

import trio
import trio_asyncio

from benchmarks._common import Result
from benchmarks._fakes import Fakes, serve_fakes
from benchmarks._procs import (
    AppMeter,
    Usage,
    app_env,
    bench_postgres,
    lifted_env,
    log_dir,
    mib,
    new_port,
    placement,
    run_driver,
    running_app,
)
from kiebot.catalog import load_registry
from kiebot.catalog.pricing import quote
from kiebot.config import Settings, load_settings
from kiebot.generation.request import JobRequest
from kiebot.generation.service import Confirmed, confirm
from kiebot.store import money, users
from kiebot.store.db import Database
from kiebot.store.migrations import apply_migrations

MODEL = "sora-2-text-to-video"
FIRST_USER = 41_000_000
TARGET_RSS = 300 * 1024 * 1024
BENCH_HMAC_KEY = "kiebot-bench-hmac-key-0123456789"


@dataclass
class MediaReport:
    jobs: int
    result_bytes: int
    delivered: int
    complete_videos: int
    states: dict[str, int]
    drain_s: float
    peak_rss: int
    idle_rss: int
    most_delivering: int
    usage: Usage

    @property
    def met(self) -> bool:
        return self.complete_videos == self.jobs and self.peak_rss < TARGET_RSS


async def _create_jobs(db: Database, settings: Settings, count: int) -> None:
    spec = load_registry().require(MODEL)
    q = quote(spec, {}, fx=settings.fx_rub_per_usd, markup=settings.pricing_markup)
    async with db.connection() as conn:
        for n in range(count):
            user_id = FIRST_USER + n
            await users.touch_user(conn, user_id, first_name="Bench", language="en")
            await money.credit(conn, user_id, 100_000_000, kind="topup_manual", key=f"bench-media-credit:{user_id}")
    for n in range(count):
        user_id = FIRST_USER + n
        outcome = await confirm(
            db,
            settings,
            user_id=user_id,
            chat_id=user_id,
            spec=spec,
            request=JobRequest(params={}, prompt=f"a lighthouse at dawn, take {n}", lang="en"),
            quote=q,
            free=False,
            idempotency_key=f"bench-media:{n}",
            request_id=f"bench-media-{n}",
            wake=lambda: None,
        )
        if not isinstance(outcome, Confirmed):
            raise RuntimeError(f"job {n} was not confirmed: {outcome}")


async def _states(db: Database) -> dict[str, int]:
    rows = await db.fetch("SELECT state, count(*) AS n FROM jobs GROUP BY state")
    return {str(r["state"]): int(r["n"]) for r in rows}


def _complete_videos(fakes: Fakes, count: int, size: int) -> int:
    """Chats that received one video of the full size."""
    complete = 0
    for n in range(count):
        videos = [m for m in fakes.tg.transcript(FIRST_USER + n) if m.from_bot and m.kind == "video" and m.file is not None]
        complete += len(videos) == 1 and videos[0].file is not None and videos[0].file.size == size
    return complete


async def measure(count: int, result_bytes: int, kie_speed: float) -> MediaReport:
    logs = log_dir("media")
    async with trio_asyncio.open_loop(), bench_postgres() as pg, serve_fakes(kie_speed=kie_speed, kie_hmac_key=BENCH_HMAC_KEY) as fakes:
        fakes.kie.video_result_bytes = result_bytes
        database_url = await pg.create_database("media")
        async with Database.open(database_url, max_size=4) as db:
            await apply_migrations(db)
            port = new_port()
            env = app_env(
                database_url=database_url,
                telegram_url=fakes.tg_url,
                kie_url=fakes.kie_url,
                port=port,
                extra={"PUBLIC_BASE_URL": f"http://127.0.0.1:{port}", "KIE_WEBHOOK_HMAC_KEY": BENCH_HMAC_KEY, **lifted_env()},
            )
            await _create_jobs(db, load_settings(env), count)
            for n in range(count):
                fakes.tg.add_user(FIRST_USER + n, "Bench", language_code="en")
            async with running_app(env, logs / "app.log") as (app, _, _):
                idle_rss = app.rss_bytes()
                began = trio.current_time()
                meter = AppMeter(app, pg.pgdata)
                meter.start()
                most_delivering = 0
                states: dict[str, int] = {}
                with trio.move_on_after(float(os.environ.get("KIEBOT_BENCH_JOBS_TIMEOUT_S", "600"))):
                    while True:
                        states = await _states(db)
                        most_delivering = max(most_delivering, states.get("succeeded", 0))
                        if states.get("delivered", 0) + states.get("failed", 0) + states.get("timed_out", 0) >= count:
                            break
                        await trio.sleep(0.1)
                drain_s = trio.current_time() - began
                usage = meter.stop()
                peak_rss = app.peak_rss_bytes()
            complete = _complete_videos(fakes, count, result_bytes)
            fakes.tg.state.world.files.by_id.clear()  # let the driver's copies go
            fakes.tg.state.world.files.by_path.clear()
    return MediaReport(
        jobs=count,
        result_bytes=result_bytes,
        delivered=states.get("delivered", 0),
        complete_videos=complete,
        states=states,
        drain_s=drain_s,
        peak_rss=peak_rss,
        idle_rss=idle_rss,
        most_delivering=most_delivering,
        usage=usage,
    )


def results(r: MediaReport) -> list[Result]:
    size = f"{r.result_bytes / 1_000_000:g} MB"
    return [
        Result(
            area="Media memory",
            measure=f"{r.jobs} jobs finishing at once, each a {size} video: peak RSS of the app",
            value=mib(r.peak_rss),
            target="< 300 MB",
            met=r.met,
            note=f"kernel VmHWM; MEDIA_MEMORY_MB=128 (default); {r.complete_videos}/{r.jobs} full-size videos received, "
            f"up to {r.most_delivering} delivering at once, drained in {r.drain_s:.1f} s; "
            f"{mib(r.idle_rss)} when ready; {r.usage.describe()}",
        )
    ]


def format_report(r: MediaReport) -> str:
    return "\n".join(
        [
            f"- {r.jobs} jobs, each a {r.result_bytes:,}-byte video; final states {r.states}",
            f"- full-size videos received {r.complete_videos}/{r.jobs}; most delivering at once {r.most_delivering}",
            f"- app RSS when ready {mib(r.idle_rss)}, peak {mib(r.peak_rss)} (target < 300 MB)",
            f"- drained in {r.drain_s:.1f} s; {r.usage.describe()}",
        ]
    )


def _sizes() -> tuple[int, int, float]:
    return (
        int(os.environ.get("KIEBOT_BENCH_MEDIA_JOBS", "32")),
        int(float(os.environ.get("KIEBOT_BENCH_MEDIA_MB", "50")) * 1_000_000),
        float(os.environ.get("KIEBOT_BENCH_KIE_SPEED", "0.05")),
    )


def collect() -> list[Result]:
    return results(run_driver(measure, *_sizes()))


def main() -> int:
    report = run_driver(measure, *_sizes())
    print(f"### Media memory ({placement()})\n")
    print(format_report(report))
    print()
    return 0 if report.met else 1


if __name__ == "__main__":
    sys.exit(main())
