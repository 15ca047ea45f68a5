"""Command line: ``python -m kiebot run | sandbox | migrate | config | registry | prices | catalog sync | margin``.

Each sub-command imports only what it needs, so ``config`` and ``registry check`` stay fast and
work without tokens or a database. A configuration problem prints one line and exits with 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from kiebot.config import ConfigError, describe, load_settings


def _cmd_config(args: argparse.Namespace) -> int:
    settings = load_settings()
    print(json.dumps(describe(settings), indent=2, ensure_ascii=False))
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    from kiebot.runtime.app import main as app_main

    settings = load_settings()
    if settings.kie_stub or settings.test_mode:
        # The edge chooses the fake Kie; the runtime never imports kiebot.testing.
        from kiebot.testing.kie.stub import start_stub_kie

        return app_main(settings, kie_stub=start_stub_kie)
    return app_main(settings)


def _cmd_sandbox(args: argparse.Namespace) -> int:
    from kiebot.sandbox.main import main as sandbox_main

    return sandbox_main(args)


def _cmd_migrate(args: argparse.Namespace) -> int:
    from kiebot.store.cli import migrate_main

    return migrate_main()


def _cmd_registry(args: argparse.Namespace) -> int:
    from kiebot.catalog.cli import registry_main

    return registry_main(args)


def _cmd_prices(args: argparse.Namespace) -> int:
    from kiebot.catalog.cli import prices_main

    return prices_main(args)


def _cmd_catalog(args: argparse.Namespace) -> int:
    from kiebot.catalog.sync_cli import catalog_main

    return catalog_main(args)


def _cmd_margin(args: argparse.Namespace) -> int:
    from kiebot.generation.margin_cli import margin_main

    return margin_main(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kiebot", description="Kie.ai generations for a ruble balance, in Telegram.")
    sub = parser.add_subparsers(dest="command", required=True)

    sub.add_parser("run", help="run the bot (webhook or polling, per BOT_MODE)").set_defaults(func=_cmd_run)

    sandbox = sub.add_parser("sandbox", help="the whole bot in a browser, with fake Telegram and fake Kie")
    sandbox.add_argument("--host", default="127.0.0.1")
    sandbox.add_argument("--port", type=int, default=8080)
    sandbox.add_argument("--speed", type=float, default=None, help="fake Kie time scale (1.0 = realistic; default 0.15)")
    sandbox.add_argument("--reset", action="store_true", help="start with an empty database")
    sandbox.add_argument("--data-dir", default=None, help="sandbox data directory (default .kiebot/sandbox)")
    sandbox.set_defaults(func=_cmd_sandbox)

    sub.add_parser("migrate", help="apply database migrations and print the schema version").set_defaults(func=_cmd_migrate)
    sub.add_parser("config", help="print the effective configuration, secrets masked").set_defaults(func=_cmd_config)

    registry = sub.add_parser("registry", help="check the model registry or diff it against a Kie price list")
    registry_sub = registry.add_subparsers(dest="registry_command", required=True)
    registry_sub.add_parser("check", help="validate registry/models.toml")
    diff = registry_sub.add_parser("diff", help="compare with a Kie price list (`model, variant|USD` lines)")
    diff.add_argument("file")
    registry.set_defaults(func=_cmd_registry)

    prices = sub.add_parser("prices", help="print every SKU with its price in rubles")
    prices.add_argument("--json", action="store_true", help="machine-readable output")
    prices.set_defaults(func=_cmd_prices)

    catalog = sub.add_parser("catalog", help="compare the registry with Kie's live catalogue")
    catalog_sub = catalog.add_subparsers(dest="catalog_command", required=True)
    sync = catalog_sub.add_parser("sync", help="read Kie's catalogue and schemas now; exit 1 on drift, 2 if unreadable")
    sync.add_argument("--json", action="store_true", help="machine-readable report")
    sync.add_argument("--store", action="store_true", help="also store the report for the admin panel (needs DATABASE_URL)")
    sync.add_argument(
        "--min-interval", type=float, default=1.1, help="seconds between Kie catalogue calls (default 1.1; Kie allows 1/s)"
    )
    catalog.set_defaults(func=_cmd_catalog)

    margin = sub.add_parser("margin", help="revenue, Kie's billed cost and margin per model")
    margin.add_argument("--days", type=int, default=7, help="the last N days (default 7)")
    margin.add_argument("--json", action="store_true", help="machine-readable output")
    margin.set_defaults(func=_cmd_margin)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code: int = args.func(args)
    except ConfigError as err:
        print(f"configuration error: {err}", file=sys.stderr)
        return 2
    return code


if __name__ == "__main__":
    sys.exit(main())
