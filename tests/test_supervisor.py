"""A crashing service is restarted with back-off and counted; cancellation passes through."""

from __future__ import annotations

import itertools
from functools import partial

import pytest
import trio

from kiebot.metrics import Metrics
from kiebot.runtime.supervisor import supervise


async def test_crashing_service_is_restarted_and_counted(autojump_clock: trio.abc.Clock) -> None:
    metrics = Metrics()
    runs: list[float] = []

    async def flaky(task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED) -> None:
        runs.append(trio.current_time())
        task_status.started("up")
        if len(runs) < 4:
            raise RuntimeError("boom")
        await trio.sleep_forever()

    with trio.fail_after(120):
        async with trio.open_nursery() as nursery:
            value = await nursery.start(partial(supervise, "flaky", flaky, on_restart=metrics.restart_counter))
            assert value == "up"
            await trio.sleep(60)
            nursery.cancel_scope.cancel()
    assert len(runs) == 4
    gaps = [b - a for a, b in itertools.pairwise(runs)]
    assert all(g > 0 for g in gaps)
    assert gaps[2] > gaps[0]  # back-off grows (with jitter 0.5–1.5 × 0.5, 1, 2 s)
    assert metrics.supervisor_restarts.labels(service="flaky")._value.get() == 3


async def test_sibling_keeps_running_while_service_crashes(autojump_clock: trio.abc.Clock) -> None:
    ticks = 0

    async def crasher(task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        await trio.sleep(1)
        raise ValueError("always")

    async def sibling(task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        nonlocal ticks
        task_status.started()
        while True:
            await trio.sleep(1)
            ticks += 1

    with trio.fail_after(120):
        async with trio.open_nursery() as nursery:
            await nursery.start(sibling)
            await nursery.start(supervise, "crasher", crasher)
            await trio.sleep(30)
            nursery.cancel_scope.cancel()
    assert ticks >= 29


async def test_service_that_returns_ends_supervision(autojump_clock: trio.abc.Clock) -> None:
    async def done(task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started(7)

    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            assert await nursery.start(supervise, "done", done) == 7


async def test_base_exceptions_are_not_swallowed(autojump_clock: trio.abc.Clock) -> None:
    async def interrupts(task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        raise KeyboardInterrupt

    with trio.fail_after(5), pytest.raises(BaseExceptionGroup):
        async with trio.open_nursery() as nursery:
            await nursery.start(supervise, "interrupts", interrupts)
