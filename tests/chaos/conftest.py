"""The chaos harness's modules, and which chaos runs a plain ``pytest`` collects.

Test folders are no packages under ``--import-mode=importlib``, so the harness modules (world,
users, faults, checks, run) are loaded as the synthetic package ``kiebot_tests_chaos`` whose path
is this folder; inside it they use ordinary relative imports.

The long run is marked ``chaos`` and is deselected unless the ``-m`` expression names that marker
(``make chaos`` runs ``pytest -m chaos tests/chaos``): ``make test`` runs only the short one.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

PACKAGE = "kiebot_tests_chaos"
HERE = Path(__file__).resolve().parent


def harness() -> ModuleType:
    """``kiebot_tests_chaos.run`` (importing world, users, faults and checks with it)."""
    if PACKAGE not in sys.modules:
        spec = importlib.util.spec_from_loader(PACKAGE, loader=None, is_package=True)
        assert spec is not None
        package = importlib.util.module_from_spec(spec)
        package.__path__ = [str(HERE)]
        sys.modules[PACKAGE] = package
    return importlib.import_module(f"{PACKAGE}.run")


@pytest.fixture
def chaos() -> ModuleType:
    return harness()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if "chaos" in (config.getoption("markexpr") or ""):
        return
    deselected = [item for item in items if item.get_closest_marker("chaos") is not None]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = [item for item in items if item.get_closest_marker("chaos") is None]


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """The summary table of every chaos run of the session, passed or failed."""
    run = sys.modules.get(f"{PACKAGE}.run")
    for table in getattr(run, "REPORTS", []):
        terminalreporter.write_sep("-", "chaos run")
        terminalreporter.write_line(table)
