"""The intake gate (kiebot/intake/gate.py): few handlers while webhook requests arrive, all once
intake has been quiet for a while. Virtual time."""

from __future__ import annotations

import pytest
import trio
import trio.testing

from kiebot.intake.gate import IntakeGate


async def test_busy_during_a_request_and_for_the_quiet_time_after(autojump_clock: trio.testing.MockClock) -> None:
    gate = IntakeGate(busy_concurrency=2, quiet_s=0.5)
    assert gate.allowed(16) == 16
    with gate.request():
        assert gate.allowed(16) == 2
        assert gate.allowed(1) == 1
    assert gate.allowed(16) == 2
    await trio.sleep(0.6)
    assert gate.allowed(16) == 16


async def test_wait_for_more_returns_once_intake_was_quiet(autojump_clock: trio.testing.MockClock) -> None:
    gate = IntakeGate(busy_concurrency=1, quiet_s=0.5)
    returned_at: list[float] = []

    async def waiter() -> None:
        await gate.wait_for_more()
        returned_at.append(trio.current_time())

    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            with gate.request():
                nursery.start_soon(waiter)
                await trio.sleep(1)
                assert returned_at == []
            ended = trio.current_time()
            with gate.request():  # another request inside the quiet time starts it again
                await trio.sleep(0.2)
            ended = trio.current_time()
    assert returned_at
    assert returned_at[0] >= ended + 0.5 - 1e-9


def test_refuses_a_gate_that_would_stop_handling() -> None:
    with pytest.raises(ValueError):
        IntakeGate(busy_concurrency=0, quiet_s=0.1)
