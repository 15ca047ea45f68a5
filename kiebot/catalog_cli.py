"""``python -m kiebot registry|prices`` (filled in by the catalogue work)."""

import argparse


def registry_main(args: argparse.Namespace) -> int:
    print("kiebot registry: not available yet in this build")
    return 1


def prices_main(args: argparse.Namespace) -> int:
    print("kiebot prices: not available yet in this build")
    return 1
