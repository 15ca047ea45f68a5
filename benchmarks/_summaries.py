"""Headline rows for the combined table from the storage benchmarks (``store.py``, ``ledger.py``),
which print their own detailed tables when run alone."""

from __future__ import annotations

import os

from benchmarks import ledger, store
from benchmarks._common import Result
from benchmarks._procs import run_driver


def store_results() -> list[Result]:
    updates = int(os.environ.get("KIEBOT_BENCH_UPDATES", store.UPDATES))
    rows = run_driver(store.run_inbox_benchmark, updates)
    out = []
    for row in rows:
        if row.workers != max(store.WORKER_COUNTS):
            continue
        out.append(
            Result(
                area="Inbox (PostgreSQL)",
                measure=f"{row.pattern}, {row.workers} workers",
                value=f"{row.pipeline_per_s:,.0f} updates/s",
                note=f"put {row.put_per_s:,.0f}/s, drain {row.drain_per_s:,.0f}/s, put→done p50/p95 "
                f"{row.latency_p50_ms:.1f}/{row.latency_p95_ms:.1f} ms; {row.updates:,} updates",
            )
        )
    return out


def ledger_results() -> list[Result]:
    ops = int(os.environ.get("KIEBOT_BENCH_LEDGER_OPS", ledger.OPS))
    rows = run_driver(ledger.run_ledger_benchmark, ops)
    out = []
    for row in rows:
        if row.workers not in (1, max(ledger.WORKER_COUNTS)):
            continue
        out.append(
            Result(
                area="Ledger (PostgreSQL)",
                measure=f"credits/s, {row.workers} workers",
                value=f"{row.credits_per_s:,.0f}",
                note=f"hold+capture {row.pairs_per_s:,.0f} pairs/s; one hot account {row.hot_credits_per_s:,.0f}/s; "
                f"credit p50/p95 {row.credit_p50_ms:.1f}/{row.credit_p95_ms:.1f} ms; invariants checked",
            )
        )
    return out
