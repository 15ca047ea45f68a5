"""Kie callback fuzzing against a running app with ``KIE_WEBHOOK_HMAC_KEY`` set.

Callbacks arrive at ``POST /kie/callback/<job's callback token>`` with ``X-Webhook-Timestamp`` and
``X-Webhook-Signature`` = base64(HMAC-SHA256(key, taskId + "." + timestamp))
(https://docs.kie.ai/common-api/webhook-verification). Bodies follow each family's callback
(market https://docs.kie.ai/market/common/get-task-detail, Veo
https://docs.kie.ai/veo3-api/generate-veo-3-video-callbacks, Suno
https://docs.kie.ai/suno-api/generate-music-callbacks), with generated values.

* Unsigned or wrongly signed, unknown token, malformed: 400/401/404, and the jobs, the ledger and
  the accounts are exactly as before — whatever the body says.
* Correctly signed (Kie itself, with generated content): 200, 400 or 409, never a 5xx; a job
  moves only to a final state, and its money is held, released or captured exactly as its state
  says (``job_money_violations`` and ``check_invariants`` are empty after every callback).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import trio
from hypothesis import strategies as st

from kiebot.store import jobs, money, users
from kiebot.testing.harness import World, open_world

HMAC_KEY = "kie-hmac-key-for-fuzzing-0123456789"
USER = 5_400_101
QUOTE = 1_500
MODELS = {"market": "z-image", "veo": "veo3.1-fast", "suno": "suno-v4.5"}

pytestmark = pytest.mark.slow


def sign(task_id: str, timestamp: str, key: str = HMAC_KEY) -> str:
    mac = hmac.new(key.encode(), f"{task_id}.{timestamp}".encode(), hashlib.sha256)
    return base64.b64encode(mac.digest()).decode()


@dataclass
class LiveJob:
    id: int
    family: str
    token: str
    task_id: str


async def new_job(world: World, family: str, serial: int) -> LiveJob:
    """A job already ``submitted`` to Kie with a held quote, committed in one transaction so no
    worker sees it queued."""
    async with world.app.db.transaction() as conn:
        await users.touch_user(conn, USER, first_name="Fuzz", last_name=None, username=None, language="en")
        await money.credit(conn, USER, QUOTE, kind="topup_manual", key=f"fuzz-callback-credit:{family}:{serial}")
        created = await jobs.create_job(
            conn,
            user_id=USER,
            chat_id=USER,
            model_id=MODELS[family],
            kind="text_to_image",
            params={"params": {}, "prompt": "fuzz", "media": {}, "lang": "en"},
            quote_kopecks=QUOTE,
            idempotency_key=f"fuzz-callback:{family}:{serial}",
            timeout_s=3600,
            request_id=f"fuzz-{family}-{serial}",
        )
        job = created.job
        task_id = f"fz{family}{serial}x{job.id}"
        await jobs.transition(conn, job.id, "submitting")
        await jobs.transition(conn, job.id, "submitted", kie_task_id=task_id)
    assert job.callback_token
    return LiveJob(job.id, family, job.callback_token, task_id)


async def books(world: World) -> dict[str, Any]:
    async with world.app.db.connection() as conn:
        return {
            "jobs": [
                tuple(r)
                for r in await conn.fetch(
                    "SELECT id, state, kie_task_id, result::text, error_code, error_message, updated_at FROM jobs ORDER BY id"
                )
            ],
            "ledger": [tuple(r) for r in await conn.fetch("SELECT id, kind, amount, held_delta FROM ledger ORDER BY id")],
            "accounts": [tuple(r) for r in await conn.fetch("SELECT user_id, balance, held FROM accounts ORDER BY 1")],
        }


# ---- bodies ------------------------------------------------------------------------------------

TEXT = st.one_of(st.text(max_size=20), st.text(alphabet=st.characters(blacklist_categories=()), max_size=20))
CODES = st.one_of(st.sampled_from([200, 400, 422, 500, 501, 0, -1]), st.integers(-(2**70), 2**70))
NUMBERS = st.one_of(st.integers(-(2**70), 2**70), st.floats(allow_nan=False, allow_infinity=False), st.just(1e300))
ANY_JSON = st.recursive(
    st.none() | st.booleans() | NUMBERS | TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=6,
)


def maybe(value: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(value, value, value, ANY_JSON)


def urls(result_base: str) -> st.SearchStrategy[str]:
    """Result URLs: only ever on this machine (the delivery stage will try to fetch them)."""
    return st.one_of(
        st.builds(lambda p: f"{result_base}/{p}.png", st.text(alphabet="abcdefghij0123456789", max_size=8)),
        st.builds(lambda p: f"{result_base}/{p}", TEXT),
        st.sampled_from(["", "not a url", "ftp://127.0.0.1/x", "\x00", "http://127.0.0.1:1/\x00.png"]),
    )


def market_body(task_ids: st.SearchStrategy[str], result_base: str) -> st.SearchStrategy[dict[str, Any]]:
    result = st.fixed_dictionaries({}, optional={"resultUrls": maybe(st.lists(urls(result_base), max_size=3)), "resultUrl": maybe(urls(result_base))})
    data = st.fixed_dictionaries(
        {"taskId": maybe(task_ids)},
        optional={
            "state": maybe(st.sampled_from(["success", "fail", "generating", "waiting", "SUCCESS", ""]) | TEXT),
            "resultJson": st.one_of(result.map(json.dumps), result, TEXT),
            "failCode": maybe(st.one_of(TEXT, CODES)),
            "failMsg": maybe(TEXT),
            "consumeCredits": maybe(NUMBERS),
            "remainedCredits": maybe(NUMBERS),
            "model": TEXT,
        },
    )
    return st.fixed_dictionaries({"code": maybe(CODES), "data": maybe(data)}, optional={"msg": maybe(TEXT)})


def veo_body(task_ids: st.SearchStrategy[str], result_base: str) -> st.SearchStrategy[dict[str, Any]]:
    info = st.fixed_dictionaries({}, optional={"resultUrls": maybe(st.lists(urls(result_base), max_size=2))})
    data = st.fixed_dictionaries(
        {"taskId": maybe(task_ids)},
        optional={"info": maybe(info), "successFlag": maybe(st.integers(-1, 4)), "errorMessage": maybe(TEXT)},
    )
    return st.fixed_dictionaries({"code": maybe(CODES), "data": maybe(data)}, optional={"msg": maybe(TEXT)})


def suno_body(task_ids: st.SearchStrategy[str], result_base: str) -> st.SearchStrategy[dict[str, Any]]:
    track = st.fixed_dictionaries({}, optional={"audio_url": maybe(urls(result_base)), "id": TEXT, "title": TEXT})
    data = st.fixed_dictionaries(
        {"task_id": maybe(task_ids), "callbackType": maybe(st.sampled_from(["text", "first", "complete", "error"]) | TEXT)},
        optional={"data": maybe(st.lists(track, max_size=2))},
    )
    return st.fixed_dictionaries({"code": maybe(CODES), "data": maybe(data)}, optional={"msg": maybe(TEXT)})


def encoded(bodies: st.SearchStrategy[Any]) -> st.SearchStrategy[bytes]:
    return st.builds(lambda b, ascii_only: json.dumps(b, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass"), bodies, st.booleans())


def family_bodies(family: str, task_ids: st.SearchStrategy[str], result_base: str) -> st.SearchStrategy[bytes]:
    shaped = {"market": market_body, "veo": veo_body, "suno": suno_body}[family](task_ids, result_base)
    return st.one_of(encoded(shaped), encoded(shaped), encoded(shaped), encoded(ANY_JSON), st.binary(max_size=200))


# ---- the tests -----------------------------------------------------------------------------------


def world_env() -> dict[str, str]:
    return {"KIE_WEBHOOK_HMAC_KEY": HMAC_KEY}


async def test_unsigned_forged_or_malformed_callbacks_change_nothing(database_url: str, fuzz: Any) -> None:
    with trio.fail_after(110):
        async with open_world(database_url, env=world_env()) as world, httpx.AsyncClient(timeout=20) as http:
            live = [await new_job(world, family, 0) for family in MODELS]
            result_base = world.kie.base_url
            statuses: dict[int, int] = {}

            def headers_for(task_id: str) -> st.SearchStrategy[dict[str, str]]:
                now = int(time.time())
                stamps = st.one_of(
                    st.just(str(now)),
                    st.integers(-(2**40), 2**40).map(str),
                    st.integers(400, 5000).map(lambda n: "9" * n),  # past float range
                    st.sampled_from([" ", "", "1e9", "nan", str(now) + ".5", "٣"]),
                    st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=255), max_size=12),
                )
                signatures = st.one_of(
                    st.just(""),
                    st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=255), max_size=60),
                    st.builds(lambda ts: sign(task_id, ts, "a wrong key"), stamps),
                    st.builds(lambda ts, other: sign(other, ts), stamps, TEXT),  # right key, other task
                    st.just(sign(task_id, str(now - 3600))),  # right key and task, replayed an hour later
                )
                with_both = st.builds(
                    lambda ts, sig: {"X-Webhook-Timestamp": ts, "X-Webhook-Signature": sig}, stamps, signatures
                )
                return st.one_of(st.just({}), with_both, st.builds(lambda sig: {"X-Webhook-Signature": sig}, signatures))

            def attempts() -> st.SearchStrategy[tuple[LiveJob, str, dict[str, str], bytes]]:
                def for_job(job: LiveJob) -> st.SearchStrategy[tuple[LiveJob, str, dict[str, str], bytes]]:
                    tokens = st.one_of(
                        st.just(job.token), st.just(job.token), st.just(job.token[:-1]), st.just(job.token + "x"),
                        st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_", min_size=1, max_size=40),
                        st.just(live[(live.index(job) + 1) % len(live)].token),  # another job's token
                    )
                    task_ids = st.one_of(st.just(job.task_id), st.just(job.task_id), TEXT)
                    return st.tuples(st.just(job), tokens, headers_for(job.task_id), family_bodies(job.family, task_ids, result_base))

                return st.sampled_from(live).flatmap(for_job)

            async def attempt(case: tuple[LiveJob, str, dict[str, str], bytes]) -> None:
                _job, token, headers, body = case
                before = await books(world)
                wire = {name: value.strip(" \t").encode() for name, value in headers.items()}  # h11 refuses padding
                answer = await http.post(f"{world.app.url}/kie/callback/{token}", content=body, headers=wire)
                statuses[answer.status_code] = statuses.get(answer.status_code, 0) + 1
                assert answer.status_code in (400, 401, 404), (answer.status_code, answer.text, token, headers, body[:300])
                assert await books(world) == before, "a refused callback changed the books"

            ran = await fuzz(attempts(), attempt, max_examples=300)
            assert ran >= 300
            assert min(statuses.get(s, 0) for s in (400, 401, 404)) > 10, statuses


async def test_signed_callbacks_with_generated_content_settle_money_exactly(database_url: str, fuzz: Any) -> None:
    with trio.fail_after(110):
        async with open_world(database_url, env=world_env()) as world, httpx.AsyncClient(timeout=20) as http:
            world.tg.add_user(USER, "Fuzz", language_code="en")
            serial = 0
            live = {family: await new_job(world, family, serial) for family in MODELS}
            result_base = world.kie.base_url
            statuses: dict[int, int] = {}
            finals: dict[str, int] = {}

            def attempts() -> st.SearchStrategy[tuple[str, bytes]]:
                def for_family(family: str) -> st.SearchStrategy[tuple[str, bytes]]:
                    task_ids = st.one_of(st.just("{task}"), st.just("{task}"), st.just("{task}"), TEXT)
                    return st.tuples(st.just(family), family_bodies(family, task_ids, result_base))

                return st.sampled_from(sorted(MODELS)).flatmap(for_family)

            async def attempt(case: tuple[str, bytes]) -> None:
                nonlocal serial
                family, template = case
                job = live[family]
                body = template.replace(b"{task}", job.task_id.encode())
                try:
                    claimed = json.loads(body)["data"]
                    task_id = str(claimed.get("taskId") or claimed.get("task_id") or "")
                except (ValueError, KeyError, TypeError, AttributeError):
                    task_id = job.task_id
                stamp = str(int(time.time()))
                headers = {"X-Webhook-Timestamp": stamp, "X-Webhook-Signature": sign(task_id, stamp)}
                answer = await http.post(f"{world.app.url}/kie/callback/{job.token}", content=body, headers=headers)
                statuses[answer.status_code] = statuses.get(answer.status_code, 0) + 1
                assert answer.status_code in (200, 400, 401, 409), (answer.status_code, answer.text, body[:300])
                async with world.app.db.connection() as conn:
                    state = await conn.fetchval("SELECT state FROM jobs WHERE id = $1", job.id)
                    assert await jobs.job_money_violations(conn) == []
                    assert await money.check_invariants(conn) == []
                if answer.status_code != 200:
                    assert state == "submitted", "a refused callback moved the job"
                if state != "submitted":
                    assert state in ("succeeded", "failed", "delivered"), state
                    finals[state] = finals.get(state, 0) + 1
                    serial += 1
                    live[family] = await new_job(world, family, serial)

            ran = await fuzz(attempts(), attempt, max_examples=120)
            assert ran >= 120
            assert statuses.get(200, 0) > 20, statuses
            assert finals.get("failed", 0) > 5, finals
            assert sum(finals.values()) > 10, finals


async def test_a_signed_failure_for_a_user_whose_chat_is_gone_is_accepted_and_refunds(database_url: str) -> None:
    """Found by the fuzzing: telling the user raised ChatNotFound (a deleted account), so Kie got
    a 500 for a callback that had already failed the job. The answer must be 200."""
    with trio.fail_after(60):
        async with open_world(database_url, env=world_env()) as world, httpx.AsyncClient(timeout=20) as http:
            job = await new_job(world, "market", 0)  # USER is not in the fake Telegram: no chat
            stamp = str(int(time.time()))
            body = json.dumps({"code": 501, "data": {"taskId": job.task_id, "state": "fail", "failMsg": "NSFW"}})
            headers = {"X-Webhook-Timestamp": stamp, "X-Webhook-Signature": sign(job.task_id, stamp)}
            answer = await http.post(f"{world.app.url}/kie/callback/{job.token}", content=body, headers=headers)
            assert answer.status_code == 200, answer.text
            async with world.app.db.connection() as conn:
                assert await conn.fetchval("SELECT state FROM jobs WHERE id = $1", job.id) == "failed"
                account = await money.get_account(conn, USER)
                assert await jobs.job_money_violations(conn) == []
            assert (account.balance, account.held) == (QUOTE, 0)


@pytest.mark.parametrize(
    "data",
    [
        {"state": "success", "resultJson": json.dumps({"resultUrls": ["http://127.0.0.1:1/\x00.png"]})},
        {"state": "fail", "failCode": "500", "failMsg": "bad\x00message"},
        {"state": "fail", "failCode": "a\x00b"},
    ],
    ids=["nul-in-result-url", "nul-in-fail-message", "nul-in-fail-code"],
)
async def test_signed_callbacks_with_nul_characters(database_url: str, data: dict[str, Any]) -> None:
    """PostgreSQL text and jsonb cannot hold U+0000; Kie's word must still be applied or refused
    cleanly, never a 500 that Kie retries and polling repeats until the deadline."""
    with trio.fail_after(60):
        async with open_world(database_url, env=world_env()) as world, httpx.AsyncClient(timeout=20) as http:
            world.tg.add_user(USER, "Fuzz", language_code="en")
            job = await new_job(world, "market", 0)
            stamp = str(int(time.time()))
            body = json.dumps({"code": 200, "data": {"taskId": job.task_id, **data}})
            headers = {"X-Webhook-Timestamp": stamp, "X-Webhook-Signature": sign(job.task_id, stamp)}
            answer = await http.post(f"{world.app.url}/kie/callback/{job.token}", content=body, headers=headers)
            assert answer.status_code in (200, 400), answer.text
            async with world.app.db.connection() as conn:
                assert await jobs.job_money_violations(conn) == []
                assert await money.check_invariants(conn) == []
