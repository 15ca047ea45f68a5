"""Run a hypothesis property inside a trio test (see tests/fuzz/conftest.py): the ``@given``
function runs in a worker thread and each example hops back into the test's task."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import trio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

T = TypeVar("T")


async def run_examples(
    strategy: st.SearchStrategy[T],
    check: Callable[[T], Awaitable[None]],
    *,
    max_examples: int,
) -> int:
    """Run ``check`` on ``max_examples`` values of ``strategy`` (shrinking failures); returns how
    many examples ran."""
    ran = 0

    @settings(
        max_examples=max_examples,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
    )
    @given(strategy)
    def examples(value: Any) -> None:
        nonlocal ran
        ran += 1
        trio.from_thread.run(check, value)

    await trio.to_thread.run_sync(examples)
    return ran
