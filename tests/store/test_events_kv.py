"""The events table (append, filtered reads, 30-day clean-up) and the kv table (typed values)."""

from __future__ import annotations

from datetime import date, timedelta

import msgspec
import pytest
import trio

from kiebot.store import events, kv
from kiebot.store.db import Database


class FxRate(msgspec.Struct, frozen=True):
    rub_per_usd: float
    on: date


async def test_events_are_recorded_and_filtered(store_db: Database) -> None:
    with trio.fail_after(10):
        async with store_db.connection() as conn:
            first = await events.record_event(conn, "job.submitted", user_id=1, job_id=10, payload={"model": "flux"})
            await events.record_event(conn, "job.failed", user_id=1, job_id=10, payload={"code": 500})
            await events.record_event(conn, "job.submitted", user_id=2, job_id=11)
            await events.record_event(conn, "fx.updated", payload={"rate": 81.5})

            everything = await events.recent_events(conn)
            assert [e.kind for e in everything] == ["fx.updated", "job.submitted", "job.failed", "job.submitted"]
            assert [e.id for e in await events.recent_events(conn, job_id=10)] == [first + 1, first]
            assert [e.user_id for e in await events.recent_events(conn, kind="job.submitted")] == [2, 1]
            (only,) = await events.recent_events(conn, kind="job.submitted", user_id=1)
            assert (only.job_id, only.payload) == (10, {"model": "flux"})
            assert len(await events.recent_events(conn, limit=2)) == 2
            assert await events.count_events(conn, "job.submitted", since=only.at - timedelta(seconds=1)) == 2
            with pytest.raises(ValueError):
                await events.record_event(conn, "")


async def test_event_written_in_a_rolled_back_transaction_is_gone(store_db: Database) -> None:
    with trio.fail_after(10):
        with pytest.raises(RuntimeError):
            async with store_db.transaction() as conn:
                await events.record_event(conn, "job.failed", job_id=1)
                raise RuntimeError("the job update failed")
        async with store_db.connection() as conn:
            assert await events.recent_events(conn) == []


async def test_events_cleanup_keeps_the_last_30_days(store_db: Database) -> None:
    with trio.fail_after(10):
        async with store_db.connection() as conn:
            for n in range(5):
                await events.record_event(conn, "tick", payload={"n": n})
            await conn.execute("UPDATE events SET at = now() - interval '31 days' WHERE (payload->>'n')::int < 3")
            assert await events.cleanup(conn, batch=2) == 3
            assert sorted(e.payload["n"] for e in await events.recent_events(conn)) == [3, 4]


async def test_kv_roundtrip_with_types(store_db: Database) -> None:
    with trio.fail_after(10):
        async with store_db.connection() as conn:
            assert await kv.get(conn, "fx.usd_rub") is None
            assert await kv.get_as(conn, "fx.usd_rub", FxRate) is None
            written = await kv.put(conn, "fx.usd_rub", FxRate(81.25, date(2025, 12, 21)))
            entry = await kv.get(conn, "fx.usd_rub")
            assert entry is not None
            assert entry.value == {"rub_per_usd": 81.25, "on": "2025-12-21"}
            assert entry.updated_at == written
            assert await kv.get_as(conn, "fx.usd_rub", FxRate) == FxRate(81.25, date(2025, 12, 21))

            await kv.put(conn, "kie.credits", 1234.5)
            await kv.put(conn, "kie.credits", 999)
            assert await kv.get_as(conn, "kie.credits", int) == 999
            await kv.put(conn, "telegram.webhook", None)
            stored = await kv.get(conn, "telegram.webhook")
            assert stored is not None
            assert stored.value is None
            with pytest.raises(msgspec.ValidationError):
                await kv.get_as(conn, "kie.credits", FxRate)
            assert await kv.delete(conn, "kie.credits") is True
            assert await kv.delete(conn, "kie.credits") is False


async def test_kv_put_if_absent_is_true_for_one_writer_only(store_db: Database) -> None:
    with trio.fail_after(10):
        results: list[bool] = []

        async def writer(n: int) -> None:
            async with store_db.connection() as conn:
                results.append(await kv.put_if_absent(conn, "alert.once", {"by": n}))

        async with trio.open_nursery() as nursery:
            for n in range(5):
                nursery.start_soon(writer, n)
        assert sorted(results) == [False, False, False, False, True]
        async with store_db.connection() as conn:
            entry = await kv.get(conn, "alert.once")
            assert entry is not None
            assert await kv.put_if_absent(conn, "alert.once", {"by": 9}) is False
            assert await kv.get(conn, "alert.once") == entry  # the first value stays
