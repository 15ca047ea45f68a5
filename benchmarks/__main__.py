"""``python -m benchmarks`` (``make bench``): every benchmark, then ONE combined markdown table
with the machine it ran on.

``python -m benchmarks`` runs them all in :data:`ORDER`; ``python -m benchmarks decode e2e`` runs
the named ones; ``--list`` lists them; ``--details`` prints each benchmark's own detailed table
instead (as ``python -m benchmarks.<name>`` does). Progress goes to stderr, the report to stdout.
A benchmark that fails (an import error, an exception) becomes a row saying so, the others still
run, and the exit status is non-zero.

Sizes and options are environment variables (``KIEBOT_BENCH_*``), documented in each module;
``KIEBOT_BENCH_NICE``, ``KIEBOT_BENCH_PLACEMENT``, ``KIEBOT_BENCH_PROFILE``, ``KIEBOT_BENCH_LOGS``,
``KIEBOT_BENCH_APP_ENV`` and ``KIEBOT_BENCH_DATABASE_URL`` in :mod:`benchmarks._procs`.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path

from benchmarks._common import Result, format_results, machine_description
from benchmarks._procs import placement

ORDER = ("decode", "ingest", "e2e", "generations", "media", "startup", "store", "ledger")


def _collector(name: str) -> Callable[[], list[Result]]:
    if name == "store":
        from benchmarks._summaries import store_results

        return store_results
    if name == "ledger":
        from benchmarks._summaries import ledger_results

        return ledger_results
    module = importlib.import_module(f"benchmarks.{name}")
    collect: Callable[[], list[Result]] = module.collect
    return collect


def _loadavg() -> str:
    try:
        return " / ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "unknown"


def run(name: str) -> tuple[list[Result], bool]:
    print(f"running {name} …", file=sys.stderr, flush=True)
    started = time.perf_counter()
    try:
        rows = _collector(name)()
    except Exception as exc:
        traceback.print_exc(file=sys.stderr)
        return [Result(area=name, measure="**failed**", value="—", note=f"{type(exc).__name__}: {str(exc)[:200]}")], False
    print(f"{name}: {time.perf_counter() - started:.1f} s", file=sys.stderr, flush=True)
    return rows, True


def details(name: str) -> bool:
    try:
        module = importlib.import_module(f"benchmarks.{name}")
        status = module.main()
    except Exception:
        print(f"**{name}: failed**\n\n```\n{traceback.format_exc()}```\n", flush=True)
        return False
    return status in (0, None)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", help="benchmarks to run (default: all)")
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    parser.add_argument("--details", action="store_true", help="print each benchmark's detailed table instead")
    args = parser.parse_args(argv)
    if args.list:
        print("\n".join(ORDER))
        return 0
    unknown = sorted(set(args.names) - set(ORDER))
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(unknown)}; available: {', '.join(ORDER)}")
    names = [n for n in ORDER if n in args.names] if args.names else list(ORDER)
    if args.details:
        return 0 if all([details(name) for name in names]) else 1

    load_before = _loadavg()
    started = time.perf_counter()
    rows: list[Result] = []
    ok = True
    for name in names:
        got, fine = run(name)
        rows.extend(got)
        ok = ok and fine
    minutes = (time.perf_counter() - started) / 60
    print("## kiebot benchmarks\n")
    print(machine_description())
    print(
        f"\n**Placement:** {placement()}. Load average (1/5/15 min) {load_before} before the run, "
        f"{_loadavg()} after; the run took {minutes:.1f} min.\n"
    )
    print(format_results(rows))
    print()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
