"""End to end: updates per second from the webhook to the bot's reply in the fake Telegram, kiebot
against a minimal aiogram 3 bot (:mod:`benchmarks.peer_aiogram`), in the same run, against the
same fake Telegram.

Each bot runs as its own process on the bot core, one after the other (see
:mod:`benchmarks._procs`). The driver registers N fresh users in the fake Telegram and posts one
``/start`` per user to the bot's webhook over 40 keep-alive connections, as fast as the bot
accepts them. An update is *answered* when the fake Telegram has received both of the bot's
messages for that chat (the welcome and the menu; both bots send the same two). The rate is N over
the time from the first POST to the last answer; latency is per update, POST to second message.

Three bots:

* **aiogram 3** — aiohttp webhook, answers Telegram before handling, keeps nothing;
* **kiebot, overall limit lifted** — ``python -m kiebot run`` with :data:`benchmarks._procs.LIFTED_LIMITS` (``KIEBOT_LIMITS``): the real app, whose
  flood limiter's overall window (Telegram's ~30 messages/s) is raised so that the engines, not
  Telegram's rule, are compared; every update is stored before the answer, handled from the
  inbox, the user row and conversation state written, per-chat limits kept;
* **kiebot as deployed** — ``python -m kiebot run``: the same, held to 30 messages/s overall,
  i.e. at most 15 of these two-message replies per second; this row shows the limit works.

Sizes: ``KIEBOT_BENCH_E2E_UPDATES`` (default 1000) for the first two,
``KIEBOT_BENCH_E2E_DEPLOYED_UPDATES`` (default 150) for the third; ``KIEBOT_BENCH_E2E_BOTS``
picks bots (``aiogram,lifted,deployed``); ``KIEBOT_BENCH_APP_MODULE`` replaces the launcher
(an experiment; it gets the same environment). Needs the ``bench`` extra
(aiogram); without it the peer row says so. Run ``python -m benchmarks.e2e``.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import trio
import trio_asyncio
import triopg

from benchmarks._common import ROOT, Result, percentile
from benchmarks._fakes import Fakes, ReplyTracker, serve_fakes
from benchmarks._load import SECRET_HEADER, TELEGRAM_CONNECTIONS, Connection, start_update
from benchmarks._procs import (
    TOKEN,
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
from kiebot.config import load_settings

MESSAGES_PER_START = 2
WARMUP = 20
ANSWER_TIMEOUT_S = 180.0
BOTS = frozenset({"aiogram", "lifted", "deployed"})


@dataclass
class BotRun:
    bot: str
    updates: int
    answered: int
    elapsed_s: float
    latencies: list[float]
    usage: Usage
    peak_rss: int
    stored: int | None = None  # kiebot: rows in the updates table afterwards

    @property
    def rate(self) -> float:
        return self.answered / self.elapsed_s if self.elapsed_s > 0 else 0.0


class _Ids:
    def __init__(self) -> None:
        self.update = 1
        self.user = 30_000_000

    def users(self, fakes: Fakes, count: int) -> list[int]:
        ids = list(range(self.user, self.user + count))
        self.user += count
        for uid in ids:
            fakes.tg.add_user(uid, "Bench", language_code="ru")
        return ids


async def _drive(url: str, secret: str, fakes: Fakes, ids: _Ids, users: Sequence[int]) -> tuple[float, list[float], int]:
    """Post one /start per user; returns (seconds first POST → last answer, latencies, answered)."""
    tracker = ReplyTracker(fakes.tg, MESSAGES_PER_START, expected=len(users))
    sent_at: dict[int, float] = {}
    first_update = ids.update
    ids.update += len(users)
    queue = iter(enumerate(users))

    async def sender() -> None:
        conn = Connection(url + "/webhook", {SECRET_HEADER: secret})
        try:
            for i, uid in queue:
                sent_at[uid] = trio.current_time()
                status = await conn.post(start_update(first_update + i, uid))
                if status != 200:
                    raise RuntimeError(f"webhook answered {status}")
        finally:
            await conn.aclose()

    async with trio.open_nursery() as nursery:
        await nursery.start(tracker.run)
        start = trio.current_time()
        async with trio.open_nursery() as senders:
            for _ in range(TELEGRAM_CONNECTIONS):
                senders.start_soon(sender)
        with trio.move_on_after(ANSWER_TIMEOUT_S):
            await tracker.wait()
        nursery.cancel_scope.cancel()
    answered = [uid for uid in users if uid in tracker.answered_at]
    end = max((tracker.answered_at[u] for u in answered), default=start)
    latencies = [tracker.answered_at[u] - sent_at[u] for u in answered]
    return end - start, latencies, len(answered)


async def _measure_bot(
    name: str, module: str, env: Mapping[str, str], log: Path, fakes: Fakes, ids: _Ids, count: int, secret: str, pgdata: Path
) -> BotRun:
    async with running_app(env, log, module=module, args=("run",) if module == "kiebot" else ()) as (process, url, _):
        await _drive(url, secret, fakes, ids, ids.users(fakes, WARMUP))
        users = ids.users(fakes, count)
        meter = AppMeter(process, pgdata)
        meter.start()
        elapsed, latencies, answered = await _drive(url, secret, fakes, ids, users)
        return BotRun(name, count, answered, elapsed, latencies, meter.stop(), process.peak_rss_bytes())


async def _stored(database_url: str) -> int:
    async with triopg.connect(database_url) as conn:
        return int(await conn.fetchval("SELECT count(*) FROM updates"))


async def measure(count: int, deployed_count: int, bots: frozenset[str] = BOTS) -> list[BotRun]:
    logs = log_dir("e2e")
    runs: list[BotRun] = []
    ids = _Ids()
    async with trio_asyncio.open_loop(), bench_postgres() as pg, serve_fakes() as fakes:
        if "aiogram" in bots and importlib.util.find_spec("aiogram") is not None:
            port = new_port()
            secret = "bench-peer-secret"
            env = {
                "PATH": os.environ.get("PATH", ""),
                "PYTHONPATH": str(ROOT),
                "TELEGRAM_BOT_TOKEN": TOKEN,
                "TELEGRAM_API_URL": fakes.tg_url,
                "PORT": str(port),
                "WEBHOOK_SECRET": secret,
            }
            runs.append(await _measure_bot("aiogram 3", "benchmarks.peer_aiogram", env, logs / "aiogram.log", fakes, ids, count, secret, pg.pgdata))
        for key, name, module, n in (
            ("lifted", "kiebot (overall limit lifted)", os.environ.get("KIEBOT_BENCH_APP_MODULE", "kiebot"), count),
            ("deployed", "kiebot (as deployed, 30 msg/s)", "kiebot", deployed_count),
        ):
            if key not in bots:
                continue
            database_url = await pg.create_database("e2e_" + key)
            env = app_env(
                database_url=database_url,
                telegram_url=fakes.tg_url,
                kie_url=fakes.kie_url,
                port=new_port(),
                extra=lifted_env() if key == "lifted" else None,
            )
            secret = load_settings(env).webhook_secret
            run = await _measure_bot(name, module, env, logs / f"{key}.log", fakes, ids, n, secret, pg.pgdata)
            run.stored = await _stored(database_url)
            runs.append(run)
    return runs


def format_table(runs: Sequence[BotRun]) -> str:
    lines = [
        "| bot | /start updates | answered | updates/s | latency p50 ms | p99 ms | bot CPU | bot waiting for a core | fakes CPU | PostgreSQL CPU | peak RSS | updates stored |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in runs:
        stored = "—" if r.stored is None else f"{r.stored} (incl. {WARMUP} warm-up)"
        lines.append(
            f"| {r.bot} | {r.updates} | {r.answered} | {r.rate:,.0f} | {percentile(r.latencies, 50) * 1000:,.0f} "
            f"| {percentile(r.latencies, 99) * 1000:,.0f} | {r.usage.app:.0%} | {r.usage.app_waiting:.0%} "
            f"| {r.usage.driver:.0%} | {r.usage.postgres:.0%} | {mib(r.peak_rss)} | {stored} |"
        )
    return "\n".join(lines)


def results(runs: Sequence[BotRun]) -> list[Result]:
    by = {r.bot.split(" (")[0] + (" lifted" if "lifted" in r.bot else " deployed" if "deployed" in r.bot else ""): r for r in runs}
    peer = by.get("aiogram 3")
    lifted = by.get("kiebot lifted")
    deployed = by.get("kiebot deployed")
    out = []
    if lifted is not None:
        ratio = lifted.rate / peer.rate if peer is not None and peer.rate else None
        out.append(
            Result(
                area="End to end",
                measure="/start → 2 replies, updates/s",
                value=f"{lifted.rate:,.0f}/s",
                peer=f"{peer.rate:,.0f}/s" if peer else "aiogram not installed",
                target="≥ aiogram, persisting every update",
                met=(ratio is not None and ratio >= 1.0 and lifted.stored == lifted.updates + WARMUP),
                note=(f"ratio {ratio:.2f}×; " if ratio is not None else "")
                + f"overall 30 msg/s limit lifted; {lifted.stored} updates stored; "
                f"p99 {percentile(lifted.latencies, 99) * 1000:,.0f} ms vs "
                + (f"{percentile(peer.latencies, 99) * 1000:,.0f} ms" if peer else "—")
                + f"; kiebot {lifted.usage.describe()}" + (f"; aiogram {peer.usage.describe()}" if peer else ""),
            )
        )
    if deployed is not None:
        out.append(
            Result(
                area="End to end",
                measure="same, as deployed",
                value=f"{deployed.rate:,.1f}/s",
                target="≤ 15/s (Telegram: 30 msg/s)",
                met=deployed.rate <= 15.5 and deployed.answered == deployed.updates,
                note="flood limiter holds 2 messages × 15 updates/s",
            )
        )
    return out


def _sizes() -> tuple[int, int, frozenset[str]]:
    bots = frozenset(b.strip() for b in os.environ.get("KIEBOT_BENCH_E2E_BOTS", ",".join(sorted(BOTS))).split(","))
    return (
        int(os.environ.get("KIEBOT_BENCH_E2E_UPDATES", "1000")),
        int(os.environ.get("KIEBOT_BENCH_E2E_DEPLOYED_UPDATES", "150")),
        bots & BOTS,
    )


def collect() -> list[Result]:
    runs = run_driver(measure, *_sizes())
    return results(runs)


def main() -> int:
    runs = run_driver(measure, *_sizes())
    print(f"### End to end: /start via webhook → two replies in the fake Telegram ({placement()})\n")
    print(format_table(runs))
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
