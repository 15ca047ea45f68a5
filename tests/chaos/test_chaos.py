"""Chaos: the bot as a real process under scripted users while the harness SIGKILLs it, crashes
PostgreSQL, and makes the fake Telegram and the fake Kie misbehave; then an audit of every money
and delivery invariant (see tests/chaos/checks.py). The short run is part of ``make test``; the
long one runs with ``make chaos``. Every run's summary table is printed at the end of the session;
a failure also prints the timeline (people's steps and the faults), the seed and where the bot's
logs are kept.

``KIEBOT_CHAOS_SEED=<n>`` draws another fault schedule and other user behaviour;
``KIEBOT_CHAOS_TRACE=1`` prints the timeline of a passing run too.
"""

from __future__ import annotations

import os
from types import ModuleType

import pytest
import trio
import trio_asyncio

SEED = int(os.environ.get("KIEBOT_CHAOS_SEED", "20251221"))


async def run_and_audit(chaos: ModuleType, spec: object, *, deadline_s: float, min_kills: int) -> None:
    """One chaos run; every money and delivery invariant held, the service settled, and the bot
    really was killed ``min_kills`` times or more (a run that never killed it proves little)."""
    with trio.fail_after(deadline_s):
        async with trio_asyncio.open_loop():
            report = await chaos.run_chaos(spec)
    assert report.audit.ok
    assert report.settled
    assert report.figures["SIGKILLs"] >= min_kills


@pytest.mark.slow
@pytest.mark.timeout(300)
async def test_short_chaos_run_keeps_every_money_and_delivery_invariant(chaos: ModuleType) -> None:
    spec = chaos.RunSpec(
        name="short",
        seed=SEED,
        users=10,
        intensity=chaos.Intensity(duration_s=60.0, kills=4, telegram_storms=2, telegram_errors=4, kie_faults=7),
        quiet_timeout_s=100.0,
    )
    await run_and_audit(chaos, spec, deadline_s=280, min_kills=4)


@pytest.mark.chaos
@pytest.mark.timeout(1200)
async def test_long_chaos_run_keeps_every_money_and_delivery_invariant(chaos: ModuleType) -> None:
    spec = chaos.RunSpec(
        name="long",
        seed=SEED,
        users=30,
        intensity=chaos.Intensity(duration_s=300.0, kills=20, telegram_storms=6, telegram_errors=14, kie_faults=24),
        quiet_timeout_s=180.0,
    )
    await run_and_audit(chaos, spec, deadline_s=1150, min_kills=15)
