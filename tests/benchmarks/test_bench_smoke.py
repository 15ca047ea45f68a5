"""Each process-level benchmark, tiny, against the test PostgreSQL: the real app process, the fakes
and the driver work together and the reports count what happened. No timing is asserted — only
that every update was acknowledged, answered and stored, and every job delivered and paid once."""

from __future__ import annotations

import importlib.util

import pytest
import trio

from benchmarks import e2e, generations, ingest, media, startup


@pytest.fixture
def bench_database(pg_admin_dsn: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """Benchmarks create (and afterwards drop) their own databases on the test server."""
    monkeypatch.setenv("KIEBOT_BENCH_DATABASE_URL", pg_admin_dsn)
    return pg_admin_dsn


@pytest.mark.slow
async def test_ingest_acknowledges_every_update(bench_database: str) -> None:
    with trio.fail_after(100):
        report = await ingest.measure(0.5, [40])
    (step,) = report.steps
    assert step.load.sent == 20
    assert step.load.ok == 20
    assert step.load.errors == 0
    assert report.saturation.load.ok == report.saturation.load.completed > 0
    rows = ingest.results(report)
    assert [r.area for r in rows] == ["Webhook ack", "Webhook ack"]


@pytest.mark.slow
async def test_e2e_answers_every_start_and_kiebot_stores_every_update(bench_database: str) -> None:
    bots = frozenset({"lifted", "deployed"} | ({"aiogram"} if importlib.util.find_spec("aiogram") else set()))
    with trio.fail_after(110):
        runs = await e2e.measure(6, 3, bots)
    assert len(runs) == len(bots)
    for run in runs:
        assert run.answered == run.updates, run.bot
        assert len(run.latencies) == run.updates
        if run.bot.startswith("kiebot"):
            assert run.stored == run.updates + e2e.WARMUP
        else:
            assert run.stored is None
    rows = e2e.results(runs)
    assert rows[0].measure.startswith("/start")


@pytest.mark.slow
async def test_generations_deliver_every_job_with_one_kie_request_each(bench_database: str) -> None:
    with trio.fail_after(110):
        report = await generations.measure(12, 0.01)
    assert report.signed
    assert report.delivered == 12
    assert report.states == {"delivered": 12}
    assert report.kie_requests["/api/v1/jobs/createTask"] == 12
    assert report.kie_requests["/api/v1/jobs/recordInfo"] == 0  # signed callbacks are trusted
    assert report.per_job <= generations.TARGET_REQUESTS_PER_JOB  # callbacks, not polling
    assert report.peak_rss >= report.idle_rss_before > 0


@pytest.mark.slow
async def test_unsigned_generations_confirm_each_callback_with_one_record_info(bench_database: str) -> None:
    with trio.fail_after(110):
        report = await generations.measure(6, 0.01, False)
    assert not report.signed
    assert report.states == {"delivered": 6}
    assert report.kie_requests["/api/v1/jobs/recordInfo"] == 6
    assert report.per_job <= generations.TARGET_UNSIGNED_REQUESTS_PER_JOB
    rows = generations.results(report, report)
    assert [row.measure for row in rows][-1] == "Kie API requests per completed job (unsigned callbacks)"


@pytest.mark.slow
async def test_media_delivers_every_big_video_whole(bench_database: str) -> None:
    with trio.fail_after(110):
        report = await media.measure(3, 2_000_000, 0.01)
    assert report.states == {"delivered": 3}
    assert report.complete_videos == 3
    assert report.peak_rss >= report.idle_rss > 0
    (row,) = media.results(report)
    assert row.area == "Media memory"
    assert row.target == "< 300 MB"


@pytest.mark.slow
async def test_startup_reaches_ready_with_an_existing_database(bench_database: str) -> None:
    with trio.fail_after(110):
        starts = await startup.measure(1, 0.2)
    assert [s.setup for s in starts] == ["DATABASE_URL", "embedded PostgreSQL"]
    for s in starts:
        assert len(s.ready_s) == 1
        assert s.ready_s[0] > 0
        assert s.idle_rss[0] > 10 * 1024 * 1024
