"""Unsigned Kie callbacks are not trusted with money (issue 13, item 3).

Without ``KIE_WEBHOOK_HMAC_KEY`` a callback proves nothing: whoever learns a job's callback URL
could claim it succeeded (with any result URL) or failed. So a final claim is confirmed with
Kie's ``recordInfo``, and Kie's answer is what is applied. Here a job's task is still running at
the (real, fake) Kie when forged unsigned callbacks claim success and failure: each costs one
``recordInfo``, and nothing is delivered, captured or released. When the task really ends, Kie's
own (unsigned) callback is confirmed the same way and the job is delivered. With the key set,
signed callbacks are trusted as before — delivered without asking Kie.
"""

from __future__ import annotations

import json
import logging

import httpx
import pytest
import trio

from kiebot.store import jobs, money, users
from kiebot.testing.harness import World, eventually, free_port, open_world
from tests.support.jobs import paid_z_image_job

USER = 5_710_001
RECORD = "/api/v1/jobs/recordInfo"
HMAC_KEY = "kie-hmac-key-unsigned-test-0123456789"

pytestmark = pytest.mark.slow


def callback_env(**extra: str) -> dict[str, str]:
    port = free_port()
    return {"PORT": str(port), "PUBLIC_BASE_URL": f"http://127.0.0.1:{port}", **extra}


async def submitted_job(world: World, key: str) -> tuple[int, str, str]:
    """A paid z-image job, held and left for the app's submitter; returns (id, token, task id)."""
    async with world.app.db.transaction() as conn:
        await users.touch_user(conn, USER, first_name="U", language="en")
        created = await paid_z_image_job(conn, USER, key, credit_key=f"unsigned:{key}", params={"aspect_ratio": "1:1"})
    world.app.gen.submit_wakeup.signal()

    async def submitted() -> bool:
        async with world.app.db.connection() as conn:
            job = await jobs.get_job(conn, created.job.id)
        return job is not None and job.state in ("submitted", "succeeded", "delivered")

    await eventually(submitted, interval=0.02)
    async with world.app.db.connection() as conn:
        job = await jobs.get_job(conn, created.job.id)
    assert job is not None
    assert job.kie_task_id is not None
    return job.id, job.callback_token, job.kie_task_id


async def state_of(world: World, job_id: int) -> str:
    async with world.app.db.connection() as conn:
        return str(await conn.fetchval("SELECT state FROM jobs WHERE id = $1", job_id))


def market_claim(task_id: str, *, success: bool, result_url: str) -> bytes:
    if success:
        data = {"taskId": task_id, "state": "success", "resultJson": json.dumps({"resultUrls": [result_url]})}
        return json.dumps({"code": 200, "msg": "success", "data": data}).encode()
    data = {"taskId": task_id, "state": "fail", "failCode": "500", "failMsg": "forged failure"}
    return json.dumps({"code": 501, "msg": "failed", "data": data}).encode()


async def test_forged_unsigned_claims_about_a_running_task_change_nothing(
    database_url: str, sec, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="kiebot.runtime.app")
    with trio.fail_after(60):
        async with open_world(database_url, env=callback_env()) as world, httpx.AsyncClient(timeout=20) as http:
            warnings = [r for r in caplog.records if "KIE_WEBHOOK_HMAC_KEY is not set" in r.getMessage()]
            assert len(warnings) == 1  # the start-up log warns once
            world.tg.add_user(USER, "U", language_code="en")
            world.kie.script(outcome="success", duration_s=6.0)  # still running while we forge
            job_id, token, task_id = await submitted_job(world, "unsigned-1")
            before = await sec.books(world)
            sends_before = len([r for r in world.tg.requests if r.method.lower().startswith("send")])
            asked_before = world.kie.requests[RECORD]
            url = f"{world.app.url}/kie/callback/{token}"
            # The success claim points at a real file on the fake: only the check can stop it.
            other = world.kie.base_url + "/uploads/anything.png"
            for success in (True, False):
                answer = await http.post(url, content=market_claim(task_id, success=success, result_url=other))
                assert answer.status_code == 200
            assert world.kie.requests[RECORD] == asked_before + 2  # each claim was checked with Kie
            assert await state_of(world, job_id) == "submitted"
            assert await sec.books(world) == before  # nothing captured or released
            sends = [r for r in world.tg.requests if r.method.lower().startswith("send")]
            assert len(sends) == sends_before  # nothing delivered, nobody told

            # Kie's own callback when the task really ends is confirmed the same way and delivers.
            await world.kie.wait_final(task_id)

            async def delivered() -> bool:
                return await state_of(world, job_id) == "delivered"

            await eventually(delivered)
            async with world.app.db.connection() as conn:
                account = await money.get_account(conn, USER)
                job = await jobs.get_job(conn, job_id)
            assert (account.balance, account.held) == (500, 0)
            assert job is not None
            assert job.result is not None
            assert job.result["source"] == "callback+recordInfo"
            assert job.result["urls"] == [u for u in job.result["urls"] if u.startswith(world.kie.base_url + "/files/")]
            assert world.kie.requests[RECORD] == asked_before + 3


async def test_signed_callbacks_are_trusted_without_asking_kie(database_url: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="kiebot.runtime.app")
    with trio.fail_after(60):
        env = callback_env(KIE_WEBHOOK_HMAC_KEY=HMAC_KEY)
        async with open_world(database_url, env=env, kie_options={"hmac_key": HMAC_KEY}) as world:
            assert not [r for r in caplog.records if "KIE_WEBHOOK_HMAC_KEY is not set" in r.getMessage()]
            world.tg.add_user(USER, "U", language_code="en")
            job_id, _, task_id = await submitted_job(world, "signed-1")
            await world.kie.wait_final(task_id)

            async def delivered() -> bool:
                return await state_of(world, job_id) == "delivered"

            await eventually(delivered)
            assert world.kie.requests[RECORD] == 0


async def test_an_early_unsigned_callback_is_confirmed_for_its_own_task_only(database_url: str, sec) -> None:
    """Kie may call back before createTask returns (or after its answer was lost): the job has no
    task id yet, so the callback's task id is asked about — unless another job owns that task."""
    with trio.fail_after(60):
        async with open_world(database_url, env=callback_env()) as world, httpx.AsyncClient(timeout=20) as http:
            world.tg.add_user(USER, "U", language_code="en")
            world.kie.early_callbacks = True
            job_id, _, task_id = await submitted_job(world, "early-1")

            async def delivered() -> bool:
                return await state_of(world, job_id) == "delivered"

            await eventually(delivered)
            async with world.app.db.connection() as conn:
                job = await jobs.get_job(conn, job_id)
            assert job is not None
            assert job.result is not None
            assert job.result["source"] == "callback+recordInfo"
            world.kie.early_callbacks = False

            # A job still waiting for createTask's answer, claimed done with another job's task.
            async with world.app.db.transaction() as conn:
                created = await paid_z_image_job(
                    conn, USER, "early-2", credit_key="unsigned:early-2", prompt="a cat", params={"aspect_ratio": "1:1"}
                )
                await jobs.transition(conn, created.job.id, "submitting")
            before = await sec.books(world)
            url = f"{world.app.url}/kie/callback/{created.job.callback_token}"
            stolen = market_claim(task_id, success=True, result_url=world.kie.base_url + "/files/x.png")
            answer = await http.post(url, content=stolen)
            assert answer.status_code == 409
            unknown = market_claim("task_unknown_to_kie", success=True, result_url=world.kie.base_url + "/files/x.png")
            answer = await http.post(url, content=unknown)
            assert answer.status_code == 503  # Kie does not know it: nothing applied, Kie may retry
            assert await state_of(world, created.job.id) == "submitting"
            assert await sec.books(world) == before
