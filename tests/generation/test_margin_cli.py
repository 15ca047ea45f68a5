"""``python -m kiebot margin [--days N] [--json]`` run from outside, as an operator would: the
dashboard's table of revenue, Kie's billed cost and margin per model."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import trio

from kiebot.store import billing, jobs, money, users
from kiebot.store.db import Database
from kiebot.store.migrations import apply_migrations

REPO = Path(__file__).resolve().parents[2]


async def _margin(database_url: str, *args: str) -> subprocess.CompletedProcess[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KIEBOT_", "DATABASE_URL"))}
    env["DATABASE_URL"] = database_url
    return await trio.run_process(
        [sys.executable, "-m", "kiebot", "margin", *args], env=env, cwd=REPO, capture_stdout=True, capture_stderr=True, check=False
    )


async def _seed(db: Database) -> None:
    async with db.connection() as conn:
        await users.touch_user(conn, 1, first_name="u1")
        await money.credit(conn, 1, 10_000, kind="welcome", key="welcome:1")
        for key, model, quote, billed, age_days in (
            ("a", "google/imagen4-ultra", 936, 12.0, 0),
            ("b", "google/imagen4-ultra", 936, 120.0, 0),
            ("c", "z-image", 63, 0.8, 0),
            ("old", "z-image", 63, 0.8, 20),
        ):
            job = (
                await jobs.create_job(
                    conn,
                    user_id=1,
                    chat_id=1,
                    model_id=model,
                    kind="text_to_image",
                    params={},
                    quote_kopecks=quote,
                    idempotency_key=key,
                    timeout_s=600,
                    credits=billed,
                    fx_rate=78.0,
                    markup=2.0,
                )
            ).job
            await jobs.transition(conn, job.id, "submitting")
            await jobs.transition(conn, job.id, "submitted", kie_task_id=f"t-{key}")
            await jobs.transition(conn, job.id, "succeeded", result={"urls": ["https://x/a.png"]})
            await jobs.transition(conn, job.id, "delivered")
            await billing.record_billed(conn, job.id, billed)
            if age_days:
                at = datetime.now(UTC) - timedelta(days=age_days)
                await conn.execute("UPDATE jobs SET finished_at = $2 WHERE id = $1", job.id, at)


@pytest.mark.slow
async def test_margin_command_prints_the_table_and_json(database_url: str, aio_loop: None) -> None:
    with trio.fail_after(90):
        async with Database.open(database_url, max_size=2) as db:
            await apply_migrations(db)
            await _seed(db)
        table = await _margin(database_url)
        assert table.returncode == 0, table.stderr.decode()
        lines = table.stdout.decode().splitlines()
        assert lines[0].startswith("Margin over 7 days")
        assert lines[1].split()[:2] == ["model", "jobs"]
        rows = {line.split()[0]: line.split() for line in lines[2:]}
        # imagen4-ultra: revenue 18.72 ₽, billed 132 credits × 0.005 × 78 = 51.48 ₽ → −32.76 ₽.
        assert rows["google/imagen4-ultra"][1:5] == ["2", "18.72", "51.48", "-32.76"]
        # z-image, the 20-day-old job left out: 0.63 ₽ − 0.31 ₽ (0.8 × 0.39 = 0.312).
        assert rows["z-image"][1:5] == ["1", "0.63", "0.31", "0.32"]
        assert rows["TOTAL"][1:5] == ["3", "19.35", "51.79", "-32.44"]
        assert lines[2].startswith("google/imagen4-ultra")  # worst margin first

        wide = await _margin(database_url, "--days", "30", "--json")
        assert wide.returncode == 0, wide.stderr.decode()
        report = json.loads(wide.stdout)
        assert report["days"] == 30
        z = next(m for m in report["models"] if m["model"] == "z-image")
        assert (z["jobs"], z["revenue_kopecks"], z["cost_kopecks"]) == (2, 126, 62)
        assert report["total"]["margin_kopecks"] == 1872 + 126 - 5148 - 62

        bad = await _margin(database_url, "--days", "0")
        assert bad.returncode == 2
