"""Hypothesis against one running world.

Starting the fakes and the app costs a second or two, so a fuzz test keeps one world and feeds it
every generated input. Hypothesis drives synchronous functions; the ``fuzz`` fixture runs the
``@given`` function in a worker thread (``trio.to_thread``) and each example hops back into the
test's trio task with ``trio.from_thread.run`` (same context, so the trio-asyncio loop and the
test's cancel scope apply). Hypothesis then shrinks a failure to its smallest input as usual.

Settings are deterministic (``derandomize=True``, no example database) and small enough that a
test takes seconds.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import ModuleType

import pytest

Fuzz = Callable[..., Awaitable[int]]


def _load_sibling(name: str) -> ModuleType:
    """A helper module of this folder (test folders are no packages under importlib mode)."""
    qualified = f"kiebot_tests_fuzz_{name}"
    if qualified in sys.modules:
        return sys.modules[qualified]
    spec = importlib.util.spec_from_file_location(qualified, Path(__file__).with_name(f"{name}.py"))
    assert spec is not None
    assert spec.loader is not None
    module = sys.modules[qualified] = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def strategies() -> ModuleType:
    """tests/fuzz/strategies.py: generators of Telegram updates."""
    return _load_sibling("strategies")


@pytest.fixture
def fuzz() -> Fuzz:
    """``await fuzz(strategy, async_check, max_examples=N)`` inside a test's world."""
    run: Fuzz = _load_sibling("hyp").run_examples
    return run
