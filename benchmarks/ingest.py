"""Webhook acknowledgement: how fast ``POST /webhook`` answers Telegram, while the rest runs.

The app is ``python -m kiebot run`` in webhook mode, its own process on its own core, with
PostgreSQL and the fakes on the other (see :mod:`benchmarks._procs`). The driver plays Telegram:
40 keep-alive connections (Telegram's default ``max_connections``), each update a ``/start`` from
a new user, sent **open loop** at 100, 500 and 1,000 updates/s — latency counts from when an
update was due, so queueing for a connection is included. An answer 200 means the update is in
the ``updates`` table (DESIGN "Two flows"); meanwhile the dispatcher handles the stored updates
(user rows, replies through the flood limiter), as in production.

The **maximum sustained rate** is the closed-loop throughput: all 40 connections send back to
back for a few seconds; only 200 answers count.

Sizes: ``KIEBOT_BENCH_INGEST_SECONDS`` seconds per rate (default 4), after a 1 s warm-up at 100/s;
``KIEBOT_BENCH_INGEST_RATES`` (default ``100,500,1000``); ``KIEBOT_BENCH_APP_MODULE`` runs another
launcher of the app (``python -m <module>``, an experiment; lifted limits travel in ``KIEBOT_LIMITS``).
Run ``python -m benchmarks.ingest``.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass

import trio
import trio_asyncio

from benchmarks._common import Result
from benchmarks._fakes import serve_fakes
from benchmarks._load import LoadResult, closed_loop, describe, open_loop, start_update
from benchmarks._procs import (
    AppMeter,
    Usage,
    app_env,
    bench_postgres,
    log_dir,
    new_port,
    placement,
    run_driver,
    running_app,
)
from kiebot.config import load_settings

TARGET_RATE = 500
TARGET_P99_MS = 10.0
FIRST_USER = 20_000_000


@dataclass
class Step:
    label: str
    load: LoadResult
    usage: Usage


@dataclass
class IngestReport:
    steps: list[Step]
    saturation: Step
    ready_s: float


def _body(offset: int) -> Callable[[int], bytes]:
    def body_of(i: int) -> bytes:
        n = offset + i
        return start_update(n, FIRST_USER + n)

    return body_of


async def measure(seconds: float, rates: list[int]) -> IngestReport:
    logs = log_dir("ingest")
    async with trio_asyncio.open_loop(), bench_postgres() as pg, serve_fakes() as fakes:
        database_url = await pg.create_database("ingest")
        port = new_port()
        env = app_env(database_url=database_url, telegram_url=fakes.tg_url, kie_url=fakes.kie_url, port=port)
        secret = load_settings(env).webhook_secret
        module = os.environ.get("KIEBOT_BENCH_APP_MODULE", "kiebot")
        args = ("run",) if module == "kiebot" else ()
        async with running_app(env, logs / "app.log", module=module, args=args) as (app, url, ready_s):
            hook = url + "/webhook"
            await open_loop(hook, secret, _body(1), rate=100, count=100)  # warm-up
            offset = 1_000
            steps = []
            for rate in rates:
                count = int(rate * seconds)
                meter = AppMeter(app, pg.pgdata)
                meter.start()
                load = await open_loop(hook, secret, _body(offset), rate=rate, count=count)
                steps.append(Step(f"{rate}/s open loop", load, meter.stop()))
                offset += count + 1
                await trio.sleep(1.0)
            meter = AppMeter(app, pg.pgdata)
            meter.start()
            load = await closed_loop(hook, secret, _body(offset), seconds=seconds)
            saturation = Step("closed loop, 40 connections", load, meter.stop())
    return IngestReport(steps=steps, saturation=saturation, ready_s=ready_s)


def format_table(report: IngestReport) -> str:
    lines = [
        "| load | sent | answered 200 | achieved/s | p50 ms | p99 ms | max ms | bot CPU | bot waiting for a core | fakes CPU | PostgreSQL CPU |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for step in [*report.steps, report.saturation]:
        r = step.load
        lines.append(
            f"| {step.label} | {r.sent} | {r.ok} | {r.ok / r.elapsed_s if r.elapsed_s else 0:,.0f} | {r.ms(50):.1f} "
            f"| {r.ms(99):.1f} | {r.ms(100):.1f} | {step.usage.app:.0%} | {step.usage.app_waiting:.0%} "
            f"| {step.usage.driver:.0%} | {step.usage.postgres:.0%} |"
        )
    return "\n".join(lines)


def results(report: IngestReport) -> list[Result]:
    out = []
    for step in report.steps:
        r = step.load
        is_target = r.offered_rate == TARGET_RATE
        lost = r.sent - r.ok
        out.append(
            Result(
                area="Webhook ack",
                measure=f"p50 / p99 at {r.offered_rate:,.0f} updates/s",
                value=f"{r.ms(50):.1f} / {r.ms(99):.1f} ms",
                target=f"p99 ≤ {TARGET_P99_MS:.0f} ms" if is_target else "",
                met=(r.ms(99) <= TARGET_P99_MS and lost == 0) if is_target else None,
                note=f"open loop, 40 connections; {step.usage.describe()}" + (f"; {lost} not answered 200" if lost else ""),
            )
        )
    s = report.saturation.load
    out.append(
        Result(
            area="Webhook ack",
            measure="maximum sustained rate",
            value=f"{s.ok / s.elapsed_s:,.0f} updates/s",
            note=f"closed loop, 40 connections, p99 {s.ms(99):.1f} ms; {report.saturation.usage.describe()}",
        )
    )
    return out


def _settings() -> tuple[float, list[int]]:
    seconds = float(os.environ.get("KIEBOT_BENCH_INGEST_SECONDS", "4"))
    rates = [int(x) for x in os.environ.get("KIEBOT_BENCH_INGEST_RATES", "100,500,1000").split(",") if x.strip()]
    return seconds, rates


def collect() -> list[Result]:
    report = run_driver(measure, *_settings())
    return results(report)


def main() -> int:
    report = run_driver(measure, *_settings())
    print(f"### Webhook acknowledgement ({placement()})\n")
    print(format_table(report))
    print()
    for step in [*report.steps, report.saturation]:
        print(f"- {step.label}: {describe(step.load)}")
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
