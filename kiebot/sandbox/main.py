"""Sandbox entry point (filled in by the sandbox work)."""

import argparse


def main(args: argparse.Namespace) -> int:
    print("kiebot sandbox: not available yet in this build")
    return 1
