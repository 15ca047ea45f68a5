"""One chaos run from start to verdict: load with faults, calm down, a final SIGKILL and restart,
a quiet period until the system has settled, then the audit and the summary table.

::

    spec = RunSpec(name="short", seed=20251221, users=10, intensity=Intensity(duration_s=60, kills=4))
    report = await run_chaos(spec)      # inside trio_asyncio.open_loop()
    assert report.audit.ok, report.table()
"""

from __future__ import annotations

import os
import platform
import random
import time
from dataclasses import dataclass, field
from typing import Any

import trio

from kiebot.store.db import Database, DatabaseUnavailable
from kiebot.store.job_tracking import TOLD_EVENT

from .checks import Audit, audit
from .faults import FaultLog, Intensity, calm, plan, run_schedule
from .users import Admin, Person, Tally
from .world import ChaosWorld, WorldOptions, open_chaos_world

FIRST_USER_ID = 6_100_000_001
REPORTS: list[str] = []
"""Every run's summary table, printed at the end of the pytest session (tests/chaos/conftest.py)."""
NAMES = ("Ann", "Boris", "Vera", "Gleb", "Dina", "Egor", "Zoya", "Ilya", "Kira", "Lev", "Mila", "Nik")


@dataclass(frozen=True)
class RunSpec:
    name: str
    seed: int
    users: int
    intensity: Intensity
    quiet_timeout_s: float = 90.0
    options: WorldOptions = field(default_factory=WorldOptions)


@dataclass
class Report:
    spec: RunSpec
    audit: Audit
    tally: Tally
    faults: FaultLog
    figures: dict[str, Any]
    settled: bool

    def table(self) -> str:
        """The run's summary as a markdown table (printed at the end of every run)."""
        rows: list[tuple[str, Any]] = [
            ("run", f"{self.spec.name}, seed {self.spec.seed}"),
            ("machine", machine()),
            ("users", f"{self.spec.users} + 1 admin"),
            ("load phase", f"{self.spec.intensity.duration_s:.0f} s"),
        ]
        rows += list(self.figures.items())
        rows += [
            ("faults applied", dict(sorted(self.faults.applied.items()))),
            ("missions done / abandoned", f"{sum(self.tally.done.values())} / {sum(self.tally.abandoned.values())} {dict(self.tally.abandoned)}"),
            ("user-side outcomes seen", dict(self.tally.outcomes)),
            ("user retries (same step again)", sum(self.tally.retries.values())),
            ("double taps", self.tally.double_taps),
            ("manual top-ups approved by the admin", self.tally.approvals),
            ("settled before the audit", self.settled),
        ]
        rows += list(self.audit.figures.items())
        width = max(len(k) for k, _ in rows)
        lines = [f"| {'what'.ljust(width)} | value |", f"|{'-' * (width + 2)}|-------|"]
        lines += [f"| {k.ljust(width)} | {v} |" for k, v in rows]
        if self.audit.violations:
            lines.append("\nVIOLATIONS:")
            lines += [f"  - {v}" for v in self.audit.violations]
        if self.audit.notes:
            lines.append("\nnotes:")
            lines += [f"  - {n}" for n in self.audit.notes]
        return "\n".join(lines)


def machine() -> str:
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{cpus} CPU ({model}), Python {platform.python_version()}, {platform.system()} {platform.release()}"


async def settle(world: ChaosWorld, db: Database, timeout_s: float, tally: Tally) -> dict[str, int] | None:
    """Wait until nothing is in flight: Telegram has no update left to deliver, the inbox has no
    unfinished update, every job is final and every user of a job that ended without a result
    was told (the leader tells again whoever was not, 30 s after the end). Returns ``{}`` once
    that is so, else — after ``timeout_s`` — what was still busy (None: the database did not
    answer). What is still busy goes to the timeline every few seconds."""

    async def busy() -> dict[str, int] | None:
        try:
            async with db.connection() as conn:
                row = await conn.fetchrow(
                    """
                    SELECT (SELECT count(*) FROM updates WHERE status IN ('pending', 'claimed')) AS updates,
                           (SELECT count(*) FROM jobs WHERE state IN ('queued', 'submitting', 'submitted', 'succeeded')) AS jobs,
                           (SELECT count(*) FROM jobs j WHERE state IN ('failed', 'cancelled', 'timed_out')
                              AND NOT EXISTS (SELECT 1 FROM events e WHERE e.job_id = j.id AND e.kind = $1)) AS untold
                    """,
                    TOLD_EVENT,
                )
        except DatabaseUnavailable:
            return None
        assert row is not None
        found = {"at Telegram": world.tg.pending_update_count, **{k: int(v) for k, v in row.items()}}
        return {k: v for k, v in found.items() if v}

    last_note = -1e9
    state: dict[str, int] | None = None
    with trio.move_on_after(timeout_s):
        while True:
            state = await busy()
            if state == {}:
                await trio.sleep(2.0)  # a last progress edit or notification may still be on its way
                state = await busy()
                if state == {}:
                    tally.note("harness", "settled")
                    return state
            elif trio.current_time() - last_note >= 5.0:
                last_note = trio.current_time()
                tally.note("harness", f"quiet period, still busy: {state}")
            await trio.sleep(0.5)
    return state


async def run_chaos(spec: RunSpec) -> Report:
    """Run ``spec`` and audit the end state. Must run inside ``trio_asyncio.open_loop()``."""
    tally, log = Tally(), FaultLog()
    events = plan(spec.seed, spec.intensity)
    began = time.monotonic()
    async with open_chaos_world(spec.options) as world:
        startup_s = time.monotonic() - began
        admin = Admin(world, random.Random(f"{spec.seed}:admin"), tally)
        world.tg.add_user(world.admin_id, "Admin")
        people = []
        for index in range(spec.users):
            name = f"{NAMES[index % len(NAMES)]}{index}"
            person = Person(world, FIRST_USER_ID + index, random.Random(f"{spec.seed}:{index}"), tally, name=name)
            world.tg.add_user(person.user_id, name, language_code="ru")
            people.append(person)

        load_began = trio.current_time()
        async with trio.open_nursery() as load:
            load.start_soon(admin.run)
            for index, person in enumerate(people):
                load.start_soon(_staggered, person, index, index * 0.3)
            await run_schedule(world, events, log)
            await trio.sleep_until(load_began + spec.intensity.duration_s)
            load.cancel_scope.cancel()
        load_s = trio.current_time() - load_began

        calm(world)
        # The audit reads the state after a final restart: kill once more, with work in flight.
        await world.bot.kill()
        log.applied["kill (final)"] += 1
        await world.bot.start()
        quiet_began = trio.current_time()
        async with world.database() as db:
            still_busy = await settle(world, db, spec.quiet_timeout_s, tally)
            quiet_s = trio.current_time() - quiet_began
            result = await audit(world, db)
        settled = still_busy == {}
        if not settled:
            result.violation(f"not settled {spec.quiet_timeout_s:.0f} s after the final restart; still busy: {still_busy}")
        exit_code = await world.bot.terminate()
        if exit_code != 0:
            result.violation(f"the final graceful stop (SIGTERM) exited with {exit_code}")
        figures: dict[str, Any] = {
            "start-up (PostgreSQL, fakes, bot ready)": f"{startup_s:.1f} s",
            "load phase actual": f"{load_s:.1f} s",
            "quiet period until settled": f"{quiet_s:.1f} s",
            "SIGKILLs": world.bot.kills,
            "PostgreSQL crash-restarts": world.pg.crashes,
            "bot incarnations": len(world.bot.incarnations),
            "restart to healthy (max)": f"{max((i.ready_after_s or 0.0) for i in world.bot.incarnations):.1f} s",
            "Kie tasks created": len(world.kie.tasks),
            "Kie callbacks attempted / failed": f"{len(world.kie.callbacks)} / {sum(1 for c in world.kie.callbacks if not c.delivered)}",
            "graceful stop exit code": exit_code,
        }
        report = Report(spec, result, tally, log, figures, settled)
        REPORTS.append(report.table())
        if not result.ok or os.environ.get("KIEBOT_CHAOS_TRACE"):
            timeline = sorted(tally.trace + log.lines, key=lambda line: float(line.split()[0]))
            print("\ntimeline (trio clock; people's steps and the faults):\n" + "\n".join(timeline), flush=True)
        if not result.ok:
            print("\n" + report.table(), flush=True)
            print(f"\nchaos run failed — repeat it with seed {spec.seed} (logs in {world.workdir})", flush=True)
            raise ChaosFailed(report)
        return report


class ChaosFailed(AssertionError):
    def __init__(self, report: Report) -> None:
        super().__init__(f"chaos run {report.spec.name} (seed {report.spec.seed}) found {len(report.audit.violations)} violations")
        self.report = report


async def _staggered(person: Person, index: int, delay_s: float) -> None:
    await trio.sleep(delay_s)
    await person.run(index)
