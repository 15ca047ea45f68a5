"""Hypothesis against one running world.

Starting the fakes and the app costs a second or two, so a fuzz test keeps one world and feeds it
every generated input. Hypothesis drives synchronous functions; the ``fuzz`` fixture (root conftest) runs the
``@given`` function in a worker thread (``trio.to_thread``) and each example hops back into the
test's trio task with ``trio.from_thread.run`` (same context, so the trio-asyncio loop and the
test's cancel scope apply). Hypothesis then shrinks a failure to its smallest input as usual.

Settings are deterministic (``derandomize=True``, no example database) and small enough that a
test takes seconds.
"""

from __future__ import annotations

from types import ModuleType

import pytest

from tests.support import update_strategies


@pytest.fixture
def strategies() -> ModuleType:
    """tests/support/update_strategies.py: generators of Telegram updates."""
    return update_strategies
