"""Run every benchmark module's ``main()`` and print their markdown tables.

``python -m benchmarks`` runs all of ``benchmarks/*.py`` in name order; ``python -m benchmarks decode
store`` runs the named ones; ``--list`` lists them. A module that fails (an import error, an
exception, a non-zero return) is reported and the others still run; the exit status is non-zero if
any failed.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent


def available() -> list[str]:
    return sorted(p.stem for p in HERE.glob("*.py") if not p.stem.startswith("_"))


def run(name: str) -> bool:
    started = time.perf_counter()
    try:
        module = importlib.import_module(f"benchmarks.{name}")
        status = module.main()
    except Exception:
        print(f"**{name}: failed**\n\n```\n{traceback.format_exc()}```\n", flush=True)
        return False
    print(f"_{name}: {time.perf_counter() - started:.1f} s_\n", flush=True)
    if status not in (0, None):
        print(f"**{name}: exit status {status}**\n", flush=True)
        return False
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", help="benchmark modules to run (default: all)")
    parser.add_argument("--list", action="store_true", help="list the benchmark modules and exit")
    args = parser.parse_args(argv)
    names = available()
    if args.list:
        print("\n".join(names))
        return 0
    unknown = sorted(set(args.names) - set(names))
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(unknown)}; available: {', '.join(names)}")
    results = [run(name) for name in (args.names or names)]
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
