"""Requests without, or with a wrong, webhook secret or Kie callback signature change nothing.

Webhook (https://core.telegram.org/bots/api#setwebhook, ``secret_token`` echoed in
``X-Telegram-Bot-Api-Secret-Token``): generated wrong secrets — none, empty, near misses of the
real one (a character changed, cut, extended, case-swapped), other secrets of the deployment —
carry updates that would matter: a new user's /start and a ``successful_payment`` of 500 Stars.
Each gets 401, and nothing is stored, no user appears, no money moves, nobody is messaged. The
same bodies with the right secret do all of that, so the secret is what stops them.

Kie (https://docs.kie.ai/common-api/webhook-verification): a success callback for a held job,
forged in each way a forger could try, is refused and the job and its money stay as they were;
the genuine signed callback then delivers it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import httpx
import pytest
import trio
from hypothesis import strategies as st

from kiebot.store import jobs, money, users
from kiebot.testing.harness import KIE_KEY, TOKEN, World, eventually, open_world
from tests.support.jobs import paid_z_image_job
from tests.support.webhook import command, private_message, webhook_env

NEWCOMER = 5_700_001
PAYER = 5_700_002
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
HMAC_KEY = "kie-hmac-key-security-0123456789"

pytestmark = pytest.mark.slow


def forged_updates() -> list[bytes]:
    start = command(70_001, NEWCOMER, first_name="W")
    paid = private_message(
        70_002,
        PAYER,
        first_name="W",
        successful_payment={
            "currency": "XTR",
            "total_amount": 500,
            "invoice_payload": "forged",
            "telegram_payment_charge_id": "forged-charge-1",
            "provider_payment_charge_id": "",
        },
    )
    return [json.dumps(start).encode(), json.dumps(paid).encode()]


def wrong_secrets(real: str) -> st.SearchStrategy[str | None]:
    def near_miss(draw_index: int, replacement: str) -> str:
        index = draw_index % len(real)
        changed = real[:index] + replacement + real[index + 1 :]
        return changed if changed != real else real + "x"

    printable = st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), max_size=80)
    return st.one_of(
        st.none(),
        st.just(""),
        printable.filter(lambda s: s != real),
        st.builds(near_miss, st.integers(0, 10_000), st.sampled_from(list("aZ0_-"))),
        st.integers(1, len(real) - 1).map(lambda n: real[:n]),
        st.text(alphabet="abc012", min_size=1, max_size=3).map(lambda tail: real + tail),
        st.just(real.swapcase()) if real.swapcase() != real else st.just(real + "-"),
        st.sampled_from([TOKEN, KIE_KEY, TOKEN.split(":", 1)[1]]),
    )


async def test_webhook_updates_with_a_wrong_or_missing_secret_change_nothing(
    database_url: str, sec: Any, fuzz: Any
) -> None:
    with trio.fail_after(100):
        async with open_world(database_url, env=webhook_env()) as world, httpx.AsyncClient(timeout=20) as http:
            for user in (NEWCOMER, PAYER):
                world.tg.add_user(user, "W", language_code="en")
            url = world.settings.webhook_url
            real = world.settings.webhook_secret
            bodies = forged_updates()
            before = await sec.books(world)
            sent_before = len(world.tg.requests)

            async def count_updates() -> int:
                async with world.app.db.connection() as conn:
                    return int(await conn.fetchval("SELECT count(*) FROM updates"))

            async def attempt(case: tuple[str | None, int]) -> None:
                secret, which = case
                headers = {} if secret is None else {SECRET_HEADER: secret}
                answer = await http.post(url, content=bodies[which], headers=headers)
                assert answer.status_code == 401, (secret, answer.status_code)
                assert await count_updates() == 0

            ran = await fuzz(st.tuples(wrong_secrets(real), st.integers(0, 1)), attempt, max_examples=150)
            assert ran >= 150
            await trio.sleep(0.5)  # anything a stored update would have caused has had time to happen
            assert await sec.books(world) == before
            assert await count_updates() == 0
            bot_calls = [r.method for r in world.tg.requests[sent_before:] if r.method.lower() != "getupdates"]
            assert [m for m in bot_calls if m.lower().startswith("send")] == []

            # With the right secret the same bodies act: the secret is what stopped them.
            for body in bodies:
                answer = await http.post(url, content=body, headers={SECRET_HEADER: real})
                assert answer.status_code == 200
            await world.tg.wait_for_message(NEWCOMER, contains="Main menu", timeout=20)

            async def handled() -> bool:
                async with world.app.db.connection() as conn:
                    return bool(await conn.fetchval("SELECT count(*) = 2 FROM updates WHERE status = 'done'"))

            with trio.fail_after(20):
                await eventually(handled)
            async with world.app.db.connection() as conn:
                paid = await money.get_account(conn, PAYER)
            assert paid.balance > 0


def sign(task_id: str, stamp: str, key: str = HMAC_KEY) -> str:
    return base64.b64encode(hmac.new(key.encode(), f"{task_id}.{stamp}".encode(), hashlib.sha256).digest()).decode()


async def held_job(world: World, user_id: int, key: str) -> tuple[int, str, str]:
    async with world.app.db.transaction() as conn:
        await users.touch_user(conn, user_id, first_name="K", language="en")
        created = await paid_z_image_job(conn, user_id, key, credit_key=f"sec:{key}")
        task_id = f"sec-task-{created.job.id}"
        await jobs.transition(conn, created.job.id, "submitting")
        await jobs.transition(conn, created.job.id, "submitted", kie_task_id=task_id)
    return created.job.id, created.job.callback_token, task_id


async def test_kie_callbacks_without_a_valid_signature_change_nothing(database_url: str, sec: Any) -> None:
    with trio.fail_after(60):
        async with open_world(database_url, env={"KIE_WEBHOOK_HMAC_KEY": HMAC_KEY}) as world, httpx.AsyncClient(timeout=20) as http:
            world.tg.add_user(PAYER, "K", language_code="en")
            job_id, token, task_id = await held_job(world, PAYER, "sec-job-1")
            _, other_token, other_task = await held_job(world, PAYER, "sec-job-2")
            result = world.kie.base_url + "/files/none.png"
            body = json.dumps(
                {"code": 200, "data": {"taskId": task_id, "state": "success", "resultJson": json.dumps({"resultUrls": [result]})}}
            )
            now = str(int(time.time()))
            forgeries: dict[str, tuple[str, dict[str, str]]] = {
                "no headers": (token, {}),
                "signature without timestamp": (token, {"X-Webhook-Signature": sign(task_id, now)}),
                "timestamp without signature": (token, {"X-Webhook-Timestamp": now}),
                "garbage signature": (token, {"X-Webhook-Timestamp": now, "X-Webhook-Signature": "AAAA"}),
                "signed with the Kie API key": (token, {"X-Webhook-Timestamp": now, "X-Webhook-Signature": sign(task_id, now, KIE_KEY)}),
                "signed for another task": (token, {"X-Webhook-Timestamp": now, "X-Webhook-Signature": sign(other_task, now)}),
                "signed for another timestamp": (token, {"X-Webhook-Timestamp": now, "X-Webhook-Signature": sign(task_id, str(int(now) - 1))}),
                "replayed an hour later": (
                    token,
                    {"X-Webhook-Timestamp": str(int(now) - 3600), "X-Webhook-Signature": sign(task_id, str(int(now) - 3600))},
                ),
                "from the future": (
                    token,
                    {"X-Webhook-Timestamp": str(int(now) + 3600), "X-Webhook-Signature": sign(task_id, str(int(now) + 3600))},
                ),
                "valid signature, another job's token": (other_token, {"X-Webhook-Timestamp": now, "X-Webhook-Signature": sign(task_id, now)}),
                "valid signature, made-up token": ("x" * 32, {"X-Webhook-Timestamp": now, "X-Webhook-Signature": sign(task_id, now)}),
            }
            before = await sec.books(world)
            answers = {}
            for name, (use_token, headers) in forgeries.items():
                answer = await http.post(f"{world.app.url}/kie/callback/{use_token}", content=body, headers=headers)
                answers[name] = answer.status_code
            assert all(status in (401, 404, 409) for status in answers.values()), answers
            assert await sec.books(world) == before

            genuine = {"X-Webhook-Timestamp": now, "X-Webhook-Signature": sign(task_id, now)}
            answer = await http.post(f"{world.app.url}/kie/callback/{token}", content=body, headers=genuine)
            assert answer.status_code == 200
            async with world.app.db.connection() as conn:
                state = await conn.fetchval("SELECT state FROM jobs WHERE id = $1", job_id)
            assert state != "submitted"
