"""Fair queueing (issue 13 item 6): a user has at most ``max_active_paid`` unfinished paid jobs.

Counted under the user's account lock, so concurrent confirms of one user cannot slip past the cap
together; a refused confirm writes nothing (no job, no hold); a repeated key still returns its job;
free jobs and finished jobs do not count.
"""

from __future__ import annotations

import pytest
import trio

from kiebot.store import free_tier, jobs, money, users
from kiebot.store.db import Database

USER = 7_300_001
OTHER = 7_300_002


async def _setup(db: Database) -> None:
    async with db.connection() as conn:
        for user_id in (USER, OTHER):
            await users.touch_user(conn, user_id, first_name="Ann")
            await money.credit(conn, user_id, 100_000, kind="topup_manual", key=f"start:{user_id}")


async def _confirm(db: Database, key: str, *, user_id: int = USER, limit: int | None = 3, free: bool = False) -> jobs.CreatedJob:
    async with db.connection() as conn:
        return await jobs.create_job(
            conn,
            user_id=user_id,
            chat_id=user_id,
            model_id="google/imagen4-ultra",
            kind="text_to_image",
            params={},
            quote_kopecks=0 if free else 936,
            idempotency_key=key,
            timeout_s=600,
            free=free,
            free_limits=free_tier.FreeLimits(daily=5, hourly=5) if free else None,
            max_active_paid=limit,
        )


async def test_concurrent_confirms_of_one_user_stop_exactly_at_the_cap(store_db: Database) -> None:
    await _setup(store_db)
    created: list[int] = []
    refused: list[jobs.TooManyActiveJobs] = []

    async def confirm(n: int) -> None:
        try:
            created.append((await _confirm(store_db, f"k{n}")).job.id)
        except jobs.TooManyActiveJobs as exc:
            refused.append(exc)

    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            for n in range(12):
                nursery.start_soon(confirm, n)
    assert len(created) == 3
    assert len(refused) == 9
    assert {(e.active, e.limit) for e in refused} == {(3, 3)}
    async with store_db.connection() as conn:
        account = await money.get_account(conn, USER)
        assert await money.check_invariants(conn) == []
    assert account.held == 3 * 936  # nothing held for a refused confirm


async def test_repeats_free_jobs_finished_jobs_and_other_users_are_not_refused(store_db: Database) -> None:
    await _setup(store_db)
    with trio.fail_after(30):
        first = await _confirm(store_db, "a", limit=2)
        await _confirm(store_db, "b", limit=2)
        with pytest.raises(jobs.TooManyActiveJobs):
            await _confirm(store_db, "c", limit=2)
        again = await _confirm(store_db, "a", limit=2)  # a double tap of the first confirm
        assert (again.created, again.job.id) == (False, first.job.id)
        assert (await _confirm(store_db, "free", limit=2, free=True)).created
        assert (await _confirm(store_db, "o1", user_id=OTHER, limit=2)).created
        async with store_db.connection() as conn:
            await jobs.transition(conn, first.job.id, "failed", error_code="provider_failed")
        assert (await _confirm(store_db, "c", limit=2)).created  # one ended: room again
        assert (await _confirm(store_db, "d", limit=None)).created  # no cap given: none applied
