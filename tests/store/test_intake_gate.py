"""The intake gate (kiebot/intake/gate.py): few handlers while webhook requests arrive on a
congested loop, a gradual ramp on an idle one, all once intake is quiet. Virtual time."""

from __future__ import annotations

import pytest
import trio
import trio.testing

from kiebot.intake.gate import RAMP, IntakeGate


async def test_quiet_intake_allows_everything(autojump_clock: trio.testing.MockClock) -> None:
    gate = IntakeGate(busy_concurrency=2, quiet_s=0.5)
    assert gate.allowed(16, 0) == 16
    with gate.request():
        assert gate.busy()
    assert gate.busy()  # for quiet_s after the last request
    await trio.sleep(0.6)
    assert not gate.busy()
    assert gate.allowed(16, 5) == 16


async def test_busy_intake_on_an_idle_loop_ramps_up(autojump_clock: trio.testing.MockClock) -> None:
    """Handlers that mostly wait for the network leave the loop idle: a steady stream of webhooks
    must not hold them to a few (the inbox would grow for ever)."""
    gate = IntakeGate(busy_concurrency=2, quiet_s=0.5)
    with gate.request():
        assert gate.allowed(16, 0) == 2
        assert gate.allowed(16, 6) == 6 + RAMP
        assert gate.allowed(16, 15) == 16


async def test_busy_intake_on_a_congested_loop_holds_handlers_down(autojump_clock: trio.testing.MockClock) -> None:
    gate = IntakeGate(busy_concurrency=2, quiet_s=0.5, lag_budget_s=0.002, probe_every_s=0.01)
    released: list[float] = []

    async def waiter() -> None:
        await gate.wait_for_more()
        released.append(trio.current_time())

    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            with gate.request():
                gate.lag_s = 0.005  # as the sampler measures a busy loop (next test)
                assert gate.congested()
                assert gate.allowed(16, 10) == 2
                nursery.start_soon(waiter)
                await trio.sleep(0.1)
                assert released == []
            ended = trio.current_time()
            await trio.sleep(1)
    assert released
    assert released[0] >= ended + 0.5 - 1e-6  # once intake was quiet
    assert gate.allowed(16, 10) == 16


async def test_the_sampler_sees_a_busy_loop_and_an_idle_one(autojump_clock: trio.testing.MockClock) -> None:
    gate = IntakeGate(busy_concurrency=2, quiet_s=0.5, lag_budget_s=0.002, probe_every_s=0.01)
    hogging = True

    async def hog() -> None:
        """Holds the core for 5 ms every scheduling round, as CPU-bound handlers do."""
        while hogging:
            autojump_clock.jump(0.005)
            await trio.lowlevel.checkpoint()

    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            await nursery.start(gate.run)
            with gate.request():
                await trio.sleep(0.2)
                assert gate.lag_s < 1e-6  # an idle loop
                nursery.start_soon(hog)
                seen = 0.0
                for _ in range(20):
                    await trio.sleep(0.01)
                    seen = max(seen, gate.lag_s)
                assert seen > 0.002
                hogging = False
            await trio.sleep(1)
            assert gate.lag_s == 0.0  # intake quiet: forgotten
            nursery.cancel_scope.cancel()


def test_refuses_a_gate_that_would_stop_handling() -> None:
    with pytest.raises(ValueError):
        IntakeGate(busy_concurrency=0, quiet_s=0.1)
