"""Admin balance adjustments racing generation holds, on a real PostgreSQL: the ledger invariant
holds (``balance + held = sum(ledger)``, both ≥ 0), no adjustment drives the balance below zero,
and every kopeck is accounted for. Plus the amount parser the adjustment prompt uses.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator

import pytest
import trio

from kiebot.bot.screens.admin.adjust import BadAmount, apply_adjustment, parse_amount
from kiebot.store import admin, jobs, money, users
from kiebot.store.db import Database
from kiebot.store.migrations import apply_migrations

USER = 7_000_001
ADMIN = 900_000_001
START = 50_000  # 500 ₽


@pytest.fixture
async def db(database_url: str, aio_loop: None) -> AsyncIterator[Database]:
    async with Database.open(database_url, max_size=16) as database:
        await apply_migrations(database)
        yield database


async def test_adjustments_racing_generation_holds_keep_the_ledger_whole(db: Database) -> None:
    async with db.connection() as conn:
        await users.touch_user(conn, USER, first_name="Ann")
        await money.credit(conn, USER, START, kind="welcome", key="start")
    rng = random.Random(7)
    applied: list[int] = []
    refused: list[int] = []
    held_jobs: list[int] = []
    no_money: list[int] = []
    deltas = [rng.choice((-9_000, -3_000, -500, 1_000, 2_500)) for _ in range(60)]

    async def generation(n: int) -> None:
        """Confirm a job (hold), then deliver it (capture) or fail it (release)."""
        async with db.connection() as conn:
            try:
                created = await jobs.create_job(
                    conn,
                    user_id=USER,
                    chat_id=USER,
                    model_id="google/imagen4-fast",
                    kind="text_to_image",
                    params={},
                    quote_kopecks=rng.choice((700, 1500, 4000)),
                    idempotency_key=f"job-{n}",
                    timeout_s=600,
                )
            except money.InsufficientFunds:
                no_money.append(n)
                return
            held_jobs.append(created.job.id)
            await trio.sleep(rng.random() * 0.01)
            if n % 3 == 0:
                await jobs.transition(conn, created.job.id, "failed", error_code="provider_failed")
            else:
                for state in ("submitting", "submitted", "succeeded", "delivered"):
                    await jobs.transition(
                        conn,
                        created.job.id,
                        state,  # type: ignore[arg-type]
                        kie_task_id=f"t{n}" if state == "submitted" else None,
                        result={"urls": []} if state == "succeeded" else None,
                    )

    async def adjustment(n: int) -> None:
        delta = deltas[n]
        try:
            posting = await apply_adjustment(
                db, admin_id=ADMIN, user_id=USER, delta=delta, reason=f"race {n}", key=f"adj-{n}"
            )
        except money.InsufficientFunds:
            refused.append(delta)
            return
        if not posting.repeated:
            applied.append(delta)

    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            for n in range(60):
                nursery.start_soon(generation, n)
                nursery.start_soon(adjustment, n)
                # A double tap of an adjustment's confirmation: applied once whatever the timing.
                nursery.start_soon(adjustment, n)

    async with db.connection() as conn:
        assert await money.check_invariants(conn) == []
        assert await jobs.job_money_violations(conn) == []
        account = await money.get_account(conn, USER)
        ledger = await money.recent_ledger(conn, USER, 10_000)
        audit = await admin.recent_admin_actions(conn, 1_000, target=f"user:{USER}")
    adjustments = [e for e in ledger if e.kind == "admin_adjust"]
    captured = -sum(e.amount for e in ledger if e.kind == "capture")
    assert account.held == 0  # every job ended: nothing stays held
    assert account.balance == START + sum(e.amount for e in adjustments) - captured
    assert len(adjustments) == len({e.idempotency_key for e in adjustments}) == len(audit)
    assert sorted(e.amount for e in adjustments) == sorted(applied)
    assert refused  # some debits really met an empty balance, and were refused, not clipped
    assert held_jobs  # and generations really held money in between
    assert all(e.admin_id == ADMIN and e.reason for e in adjustments)


def test_amounts_admins_type() -> None:
    assert parse_amount("+500") == 50_000
    assert parse_amount("500") == 50_000
    assert parse_amount("-120,50") == -12_050
    assert parse_amount("−7.5") == -750
    assert parse_amount("1 000 ₽") == 100_000
    assert parse_amount("+0,01") == 1
    assert parse_amount("250 руб.") == 25_000
    for bad in ("", "0", "-0,00", "abc", "1,234", "5e3", "+-5", "1000001", "12.345"):
        with pytest.raises(BadAmount):
            parse_amount(bad)
