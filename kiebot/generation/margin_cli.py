"""``python -m kiebot margin [--days N] [--json]``: the dashboard's real-margin table, per model.

Revenue (delivered paid jobs), Kie's cost as billed (``billed_credits`` × $0.005 × the job's FX
rate) and the margin, over the last N days (default 7), worst margin first — the same figures
as the admin dashboard (:func:`kiebot.store.billing.margin`). Uses ``DATABASE_URL`` (or the
embedded server, like ``migrate``); reads only.

Exit codes: 0 printed, 1 the database is unreachable, 2 a configuration error.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime

import asyncpg
import trio
import trio_asyncio

from kiebot.chat.format import credits_text
from kiebot.config import Settings, load_settings
from kiebot.logs import setup_logging
from kiebot.store import billing
from kiebot.store.connect import open_store
from kiebot.store.db import DatabaseUnavailable
from kiebot.store.embedded import EmbeddedPostgresError


async def _report(settings: Settings, days: int) -> billing.MarginReport | str:
    async with trio_asyncio.open_loop():
        try:
            async with open_store(settings, migrate=False) as db, db.connection() as conn:
                return await billing.margin(conn, datetime.now(UTC), days=days)
        except EmbeddedPostgresError as err:
            return str(err)
        except DatabaseUnavailable as err:
            return f"database unavailable ({err}); check DATABASE_URL"
        except asyncpg.PostgresError as err:
            return f"cannot read the margin ({type(err).__name__}); is the schema migrated? (python -m kiebot migrate)"


def _rub(kopecks: int) -> str:
    sign = "-" if kopecks < 0 else ""
    whole, cents = divmod(abs(kopecks), 100)
    return f"{sign}{whole:,}.{cents:02d}".replace(",", " ")


def render_table(report: billing.MarginReport, days: int) -> str:
    """The table as text: one row per model, then the total (rubles, two decimals)."""
    header = ("model", "jobs", "revenue ₽", "Kie billed ₽", "margin ₽", "credits billed", "unbilled")
    rows = [
        (m.model_id, str(m.jobs), _rub(m.revenue_kopecks), _rub(m.cost_kopecks), _rub(m.margin_kopecks), credits_text(m.billed_credits), str(m.unbilled))
        for m in report.models
    ]
    total = (
        "TOTAL",
        str(sum(m.jobs for m in report.models)),
        _rub(report.revenue_kopecks),
        _rub(report.cost_kopecks),
        _rub(report.margin_kopecks),
        credits_text(sum(m.billed_credits for m in report.models)),
        str(report.unbilled),
    )
    widths = [max(len(r[i]) for r in (header, *rows, total)) for i in range(len(header))]

    def line(cells: tuple[str, ...]) -> str:
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True)))

    out = [f"Margin over {days} days ({report.since:%Y-%m-%d %H:%M} – {report.until:%Y-%m-%d %H:%M} UTC)", line(header)]
    out += [line(r) for r in rows]
    out.append(line(total))
    return "\n".join(out)


def report_json(report: billing.MarginReport, days: int) -> dict[str, object]:
    return {
        "days": days,
        "since": report.since.isoformat(),
        "until": report.until.isoformat(),
        "models": [
            {
                "model": m.model_id,
                "jobs": m.jobs,
                "delivered": m.delivered,
                "revenue_kopecks": m.revenue_kopecks,
                "cost_kopecks": m.cost_kopecks,
                "margin_kopecks": m.margin_kopecks,
                "billed_credits": m.billed_credits,
                "unbilled": m.unbilled,
            }
            for m in report.models
        ],
        "total": {
            "revenue_kopecks": report.revenue_kopecks,
            "cost_kopecks": report.cost_kopecks,
            "margin_kopecks": report.margin_kopecks,
        },
    }


def margin_main(args: argparse.Namespace) -> int:
    days = int(args.days)
    if days < 1:
        print("kiebot margin: --days must be at least 1", file=sys.stderr)
        return 2
    settings = load_settings()
    setup_logging(settings.log_level, settings.log_format, settings.secrets())
    outcome = trio.run(_report, settings, days)
    if isinstance(outcome, str):
        print(f"kiebot margin: {outcome}", file=sys.stderr)
        return 1
    if getattr(args, "json", False):
        print(json.dumps(report_json(outcome, days), ensure_ascii=False, indent=2))
    else:
        print(render_table(outcome, days))
    return 0
