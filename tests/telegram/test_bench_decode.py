"""The decode benchmark runs, reads every Update payload, and prints a well-formed table (tiny budget)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from types import ModuleType

from benchmarks import decode

ROOT = Path(__file__).resolve().parents[2]


def load_decode_benchmark() -> ModuleType:
    return decode


def test_decode_benchmark_measures_every_payload() -> None:
    bench = load_decode_benchmark()
    payloads = bench.load_payloads()
    assert len(payloads) == 15 + 14  # the 2017 Updates and the modern samples
    rows = bench.measure(seconds=0.03)
    assert rows[-2].label.startswith("**mix, one by one (29)")
    for row in rows:
        assert set(row.per_second) == set(bench.DECODERS)
        assert all(value > 0 for value in row.per_second.values())
    table = bench.format_table(rows).splitlines()
    assert (
        table[0]
        == "| payloads | mean bytes | msgspec Update (updates/s) | json.loads (untyped) (updates/s) |"
    )
    assert len(table) == 2 + len(rows)
    assert all(line.count("|") == 5 for line in table)


def test_runner_lists_the_benchmarks() -> None:
    listed = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--list"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert "decode" in listed.stdout.split()
    unknown = subprocess.run(
        [sys.executable, "-m", "benchmarks", "no_such_bench"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert unknown.returncode == 2
    assert "unknown benchmark" in unknown.stderr
