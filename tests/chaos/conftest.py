"""Which chaos runs a plain ``pytest`` collects, and the ``chaos`` fixture (the harness's
``run`` module: world, users, faults and checks come with it; tests/chaos is a package).

The long run is marked ``chaos`` and is deselected unless the ``-m`` expression names that marker
(``make chaos`` runs ``pytest -m chaos tests/chaos``): ``make test`` runs only the short one.
"""

from __future__ import annotations

from types import ModuleType

import pytest

from tests.chaos import run


@pytest.fixture
def chaos() -> ModuleType:
    return run


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if "chaos" in (config.getoption("markexpr") or ""):
        return
    deselected = [item for item in items if item.get_closest_marker("chaos") is not None]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = [item for item in items if item.get_closest_marker("chaos") is None]


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """The summary table of every chaos run of the session, passed or failed."""
    for table in run.REPORTS:
        terminalreporter.write_sep("-", "chaos run")
        terminalreporter.write_line(table)
