"""Generations: N paid jobs in flight at once on the fast fake Kie — time to drain, the app's peak
RSS, and Kie API requests per completed job, with signed callbacks and without.

Set-up (driver, before the app starts): a migrated database, ``N / JOBS_PER_USER`` users with
money, and N jobs confirmed through :func:`kiebot.generation.service.confirm` — the same call the
wizard's Confirm button makes: quote frozen, balance held, job ``queued``, all in one transaction.
The users exist in the fake Telegram. Then the app starts (``python -m kiebot run`` with ``KIEBOT_LIMITS``
in webhook mode, its own process on the bot core) with all N jobs waiting, and the driver watches
the ``jobs`` table until every job is ``delivered``: submitted to the fake Kie with a callback URL,
called back, result downloaded, sent to the chat as a photo, hold captured.

What is not as in production, and why:

* Kie's 20 creates per 10 s is lifted, in the fake (``rate_limit=None``) and in the app's Kie
  client (see :data:`benchmarks._procs.LIFTED_LIMITS`), and a picture takes
  ``8 s × KIEBOT_BENCH_KIE_SPEED`` (default 0.05 → 0.4 s): Kie's real rate would make 10,000 jobs
  take 80 minutes of waiting, which measures Kie, not kiebot;
* Telegram's overall 30 messages/s is lifted (see :data:`benchmarks._procs.LIFTED_LIMITS`) for the same
  reason (10,000 photos would take 5.6 minutes); per-chat limits stay;
* jobs have no progress message (the wizard's summary becomes one), so no progress edits are sent.

Two modes (issue 13, item 3): **signed** — ``KIE_WEBHOOK_HMAC_KEY`` set and the fake signs its
callbacks, which are trusted as they come (about one Kie request per job: createTask); and
**unsigned** — no key, so each final callback is confirmed with ``recordInfo`` before the job is
delivered (about two). The signed run is the one sized by ``KIEBOT_BENCH_JOBS``; the unsigned run
measures the same ratio on ``KIEBOT_BENCH_UNSIGNED_JOBS`` jobs (default 2000: the ratio does not
depend on the size, the drain time would only repeat the first run).

``KIEBOT_BENCH_APP_MODULE`` replaces the launcher (an experiment that lifts the limits itself).
Sizes: ``KIEBOT_BENCH_JOBS`` (default 10000, issue 9's figure; about six minutes of ``make bench``
on 2 cores, ``KIEBOT_BENCH_JOBS=2000`` for a quicker look), ``KIEBOT_BENCH_UNSIGNED_JOBS``,
``KIEBOT_BENCH_KIE_SPEED``. Run ``python -m benchmarks.generations``.
"""

from __future__ import annotations

import os
import sys
from collections import Counter
from dataclasses import dataclass, field

import trio
import trio_asyncio

from benchmarks._common import Result
from benchmarks._fakes import serve_fakes
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

MODEL = "z-image"
PARAMS: dict[str, str | int | float | bool] = {"aspect_ratio": "1:1"}
JOBS_PER_USER = 5
FIRST_USER = 40_000_000
TARGET_RSS = 400 * 1024 * 1024
TARGET_REQUESTS_PER_JOB = 1.5
#: Without the HMAC key every final callback costs one recordInfo more.
TARGET_UNSIGNED_REQUESTS_PER_JOB = 2.5
BENCH_HMAC_KEY = "kiebot-bench-hmac-key-0123456789"
KIE_API_PATHS = ("/api/v1/jobs/createTask", "/api/v1/jobs/recordInfo", "/api/v1/common/download-url", "/api/file-stream-upload")


@dataclass
class GenerationsReport:
    signed: bool
    jobs: int
    delivered: int
    setup_s: float
    drain_s: float
    peak_rss: int
    idle_rss_before: int
    kie_requests: Counter[str]
    states: dict[str, int]
    peak_at_kie: int
    usage: Usage
    timeline: list[tuple[float, dict[str, int]]] = field(default_factory=list)

    @property
    def api_requests(self) -> int:
        return sum(self.kie_requests[p] for p in KIE_API_PATHS)

    @property
    def per_job(self) -> float:
        return self.api_requests / self.delivered if self.delivered else float("inf")

    @property
    def mode(self) -> str:
        return "signed callbacks" if self.signed else "unsigned callbacks, each confirmed with recordInfo"

    @property
    def target_per_job(self) -> float:
        return TARGET_REQUESTS_PER_JOB if self.signed else TARGET_UNSIGNED_REQUESTS_PER_JOB


async def _create_jobs(db: Database, settings: Settings, count: int) -> None:
    registry = load_registry()
    spec = registry.require(MODEL)
    q = quote(spec, PARAMS, fx=settings.fx_rub_per_usd, markup=settings.pricing_markup)
    user_count = max(1, (count + JOBS_PER_USER - 1) // JOBS_PER_USER)
    work = iter(range(count))

    async def worker() -> None:
        for n in work:
            user_id = FIRST_USER + n % user_count
            outcome = await confirm(
                db,
                settings,
                user_id=user_id,
                chat_id=user_id,
                spec=spec,
                request=JobRequest(params=PARAMS, prompt=f"a lighthouse at dawn, variant {n}", lang="ru"),
                quote=q,
                free=False,
                idempotency_key=f"bench-confirm:{n}",
                request_id=f"bench-{n}",
                wake=lambda: None,
            )
            if not isinstance(outcome, Confirmed):
                raise RuntimeError(f"job {n} was not confirmed: {outcome}")

    async with db.connection() as conn:
        for i in range(user_count):
            user_id = FIRST_USER + i
            await users.touch_user(conn, user_id, first_name="Bench", language="ru")
            await money.credit(conn, user_id, 10_000_000, kind="topup_manual", key=f"bench-credit:{user_id}")
    async with trio.open_nursery() as nursery:
        for _ in range(8):
            nursery.start_soon(worker)


async def _states(db: Database) -> dict[str, int]:
    rows = await db.fetch("SELECT state, count(*) AS n FROM jobs GROUP BY state")
    return {str(r["state"]): int(r["n"]) for r in rows}


async def measure(count: int, kie_speed: float, signed: bool = True) -> GenerationsReport:
    logs = log_dir("gen" if signed else "gen-unsigned")
    key = BENCH_HMAC_KEY if signed else None
    async with trio_asyncio.open_loop(), bench_postgres() as pg, serve_fakes(kie_speed=kie_speed, kie_hmac_key=key) as fakes:
        database_url = await pg.create_database("generations")
        async with Database.open(database_url, max_size=10) as db:
            await apply_migrations(db)
            port = new_port()
            env = app_env(
                database_url=database_url,
                telegram_url=fakes.tg_url,
                kie_url=fakes.kie_url,
                port=port,
                # Every user's jobs are confirmed before any runs: the fair-queue cap must admit them.
                extra={
                    "PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
                    "MAX_ACTIVE_JOBS_PER_USER": str(JOBS_PER_USER),
                    **lifted_env(),
                    **({"KIE_WEBHOOK_HMAC_KEY": key} if key else {}),
                },
            )
            started = trio.current_time()
            await _create_jobs(db, load_settings(env), count)
            for i in range(max(1, (count + JOBS_PER_USER - 1) // JOBS_PER_USER)):
                fakes.tg.add_user(FIRST_USER + i, "Bench", language_code="ru")
            await db.execute("ANALYZE")
            setup_s = trio.current_time() - started
            module = os.environ.get("KIEBOT_BENCH_APP_MODULE", "kiebot")
            async with running_app(env, logs / "app.log", module=module, args=("run",) if module == "kiebot" else ()) as (app, _, _):
                idle_rss = app.rss_bytes()
                began = trio.current_time()
                meter = AppMeter(app, pg.pgdata)
                meter.start()
                timeline: list[tuple[float, dict[str, int]]] = []
                peak_at_kie = 0
                states: dict[str, int] = {}
                with trio.move_on_after(float(os.environ.get("KIEBOT_BENCH_JOBS_TIMEOUT_S", "900"))):
                    while True:
                        states = await _states(db)
                        timeline.append((trio.current_time() - began, states))
                        peak_at_kie = max(peak_at_kie, states.get("submitting", 0) + states.get("submitted", 0))
                        if states.get("delivered", 0) + states.get("failed", 0) + states.get("timed_out", 0) >= count:
                            break
                        await trio.sleep(0.25)
                drain_s = trio.current_time() - began
                usage = meter.stop()
                peak_rss = app.peak_rss_bytes()
            async with db.connection() as conn:
                violations = await money.check_invariants(conn)
            if violations:
                raise AssertionError(f"money invariants broken: {violations[:3]}")
    return GenerationsReport(
        signed=signed,
        jobs=count,
        delivered=states.get("delivered", 0),
        setup_s=setup_s,
        drain_s=drain_s,
        peak_rss=peak_rss,
        idle_rss_before=idle_rss,
        kie_requests=Counter(fakes.kie.requests),
        states=states,
        peak_at_kie=peak_at_kie,
        usage=usage,
        timeline=timeline,
    )


def results(r: GenerationsReport, unsigned: GenerationsReport | None = None) -> list[Result]:
    lifted = "Kie's 20 creates/10 s and Telegram's 30 msg/s lifted (KIEBOT_LIMITS, benchmarks/_procs.py)"
    rows = [
        Result(
            area="Generations",
            measure=f"{r.jobs:,} jobs in flight: time to drain",
            value=f"{r.drain_s:,.1f} s ({r.delivered / r.drain_s if r.drain_s else 0:,.0f} jobs/s)",
            note=f"{r.delivered:,} delivered; {r.mode}; {lifted}; {r.usage.describe()}",
        ),
        Result(
            area="Generations",
            measure="peak RSS of the app",
            value=mib(r.peak_rss),
            target="< 400 MB",
            met=r.peak_rss < TARGET_RSS,
            note=f"kernel VmHWM; {mib(r.idle_rss_before)} when ready with {r.jobs:,} jobs queued",
        ),
    ]
    for report in (r, unsigned):
        if report is None:
            continue
        rows.append(
            Result(
                area="Generations",
                measure=f"Kie API requests per completed job ({'signed' if report.signed else 'unsigned'} callbacks)",
                value=f"{report.per_job:.2f}",
                target=f"≤ {report.target_per_job:g}",
                met=report.delivered == report.jobs and report.per_job <= report.target_per_job,
                note=f"{report.jobs:,} jobs, {report.mode}: "
                + ", ".join(f"{p.rsplit('/', 1)[-1]} {report.kie_requests[p]:,}" for p in KIE_API_PATHS if report.kie_requests[p])
                + "; result downloads not counted",
            )
        )
    return rows


def _by_path(requests: Counter[str]) -> dict[str, int]:
    """Requests per endpoint, result files (``/files/<task>/<name>``) folded into one entry."""
    out: Counter[str] = Counter()
    for path, n in requests.items():
        out["/files/* (result downloads)" if path.startswith("/files/") else path] += n
    return dict(sorted(out.items()))


def format_report(r: GenerationsReport) -> str:
    lines = [
        f"- mode: {r.mode}",
        f"- jobs {r.jobs:,}, delivered {r.delivered:,}, final states {r.states}",
        f"- set-up (users, money, {r.jobs:,} confirms) {r.setup_s:.1f} s; drain {r.drain_s:.1f} s; {r.usage.describe()}",
        f"- app RSS when ready {mib(r.idle_rss_before)}, peak {mib(r.peak_rss)}; most jobs at Kie at once {r.peak_at_kie:,}",
        f"- Kie requests by path: {_by_path(r.kie_requests)}",
    ]
    step = max(1, len(r.timeline) // 12)
    lines.append("- timeline (s: states): " + "; ".join(f"{t:.0f}: {s}" for t, s in r.timeline[::step]))
    return "\n".join(lines)


def _sizes() -> tuple[int, float]:
    return int(os.environ.get("KIEBOT_BENCH_JOBS", "10000")), float(os.environ.get("KIEBOT_BENCH_KIE_SPEED", "0.05"))


def _unsigned_jobs() -> int:
    return int(os.environ.get("KIEBOT_BENCH_UNSIGNED_JOBS", "2000"))


def _both() -> tuple[GenerationsReport, GenerationsReport]:
    count, speed = _sizes()
    signed = run_driver(measure, count, speed, True)
    unsigned = run_driver(measure, _unsigned_jobs(), speed, False)
    return signed, unsigned


def collect() -> list[Result]:
    return results(*_both())


def main() -> int:
    signed, unsigned = _both()
    print(f"### Generations ({placement()})\n")
    print(format_report(signed))
    print(format_report(unsigned))
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
