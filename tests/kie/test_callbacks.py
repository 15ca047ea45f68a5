"""Callback bodies of every family (Kie's own samples, tests/data/kie) and the HMAC check."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kiebot.kie.callbacks import MalformedCallback, expected_signature, parse_callback, verify_signature

DATA = Path(__file__).resolve().parent.parent / "data" / "kie"


def sample(name: str) -> bytes:
    return (DATA / name).read_bytes()


def body(obj: object) -> bytes:
    return json.dumps(obj).encode()


# ---- market ------------------------------------------------------------------------------


def test_market_success_sample() -> None:
    status = parse_callback("market", sample("market_callback_success.json"))
    assert status.task_id == "e989621f54392584b05867f87b160672"
    assert status.state == "succeeded"
    assert status.is_final
    assert status.result_urls == ("https://example.com/generated-image.jpg",)
    assert status.cost_credits == 100
    assert status.remaining_credits == 2510330
    assert status.fail_code is None
    assert status.raw_state == "success"


def test_market_failure_sample() -> None:
    status = parse_callback("market", sample("market_callback_fail.json"))
    assert status.task_id == "bd3a37c523149e4adf45a3ddb5faf1a8"
    assert status.state == "failed"
    assert status.fail_code == "500"
    assert status.fail_message == "Internal server error"
    assert status.cost_credits == 0
    assert status.result_urls == ()


def test_market_success_without_credit_fields() -> None:
    status = parse_callback("market", sample("market_callback_success_short.json"))
    assert status.task_id == "abc123"
    assert status.state == "succeeded"
    assert status.result_urls == ("https://tempfile...",)
    assert status.cost_credits is None
    assert status.remaining_credits is None


def test_market_tolerates_snake_task_id_object_result_and_singular_url() -> None:
    raw = body(
        {
            "code": 200,
            "message": "ok",
            "data": {"task_id": "t-1", "state": "success", "resultJson": {"resultUrl": "https://x/a.png"}},
        }
    )
    status = parse_callback("market", raw)
    assert status.task_id == "t-1"
    assert status.result_urls == ("https://x/a.png",)


def test_market_failure_without_fail_fields_uses_the_envelope() -> None:
    raw = body({"code": 501, "msg": "Playground task failed.", "data": {"taskId": "t-2", "state": "fail"}})
    status = parse_callback("market", raw)
    assert status.state == "failed"
    assert status.fail_code == "501"
    assert status.fail_message == "Playground task failed."


def test_market_error_envelope_without_state_is_a_failure() -> None:
    raw = body({"code": 501, "msg": "Playground task failed.", "data": {"taskId": "t-3"}})
    status = parse_callback("market", raw)
    assert status.state == "failed"
    assert status.fail_code == "501"


# ---- veo ---------------------------------------------------------------------------------


def test_veo_success_sample() -> None:
    status = parse_callback("veo", sample("veo_callback_success.json"))
    assert status.task_id == "veo_task_abcdef123456"
    assert status.state == "succeeded"
    assert status.result_urls == ("http://example.com/video1.mp4",)


def test_veo_failure_codes() -> None:
    raw = body(
        {
            "code": 400,
            "msg": "Only English prompts are supported at this time.",
            "data": {"taskId": "veo_1", "info": None},
        }
    )
    status = parse_callback("veo", raw)
    assert status.state == "failed"
    assert status.fail_code == "400"
    assert status.fail_message == "Only English prompts are supported at this time."
    assert status.result_urls == ()


# ---- suno --------------------------------------------------------------------------------


def test_suno_complete_sample() -> None:
    status = parse_callback("suno", sample("suno_callback_complete.json"))
    assert status.task_id == "2fac****9f72"
    assert status.state == "succeeded"
    assert status.result_urls == ("https://example.cn/****.mp3",)
    assert status.raw_state == "callback:complete"


@pytest.mark.parametrize(
    ("stage", "tracks", "urls"),
    [
        ("text", [{"id": "a", "audio_url": "", "title": "T"}], ()),
        (
            "first",
            [{"id": "a", "audio_url": "https://x/1.mp3"}, {"id": "b", "audio_url": ""}],
            ("https://x/1.mp3",),
        ),
    ],
)
def test_suno_intermediate_stages_are_not_final(
    stage: str, tracks: list[object], urls: tuple[str, ...]
) -> None:
    raw = body({"code": 200, "msg": "ok", "data": {"callbackType": stage, "task_id": "s1", "data": tracks}})
    status = parse_callback("suno", raw)
    assert status.state == "running"
    assert not status.is_final
    assert status.result_urls == urls


def test_suno_failure() -> None:
    raw = body(
        {"code": 400, "msg": "Sensitive word detected", "data": {"callbackType": "error", "taskId": "s2"}}
    )
    status = parse_callback("suno", raw)
    assert status.task_id == "s2"
    assert status.state == "failed"
    assert status.fail_code == "400"
    assert status.fail_message == "Sensitive word detected"


# ---- malformed -----------------------------------------------------------------------------


@pytest.mark.parametrize("family", ["market", "veo", "suno"])
@pytest.mark.parametrize(
    "raw",
    [
        b"not json",
        b"[]",
        b'{"code":200,"data":null}',
        b'{"code":200,"data":{"state":"success"}}',
        b'{"code":"x"}',
    ],
)
def test_malformed_bodies_raise(family: str, raw: bytes) -> None:
    with pytest.raises(MalformedCallback):
        parse_callback(family, raw)  # type: ignore[arg-type]


def test_unknown_family() -> None:
    with pytest.raises(MalformedCallback):
        parse_callback("midjourney", b"{}")  # type: ignore[arg-type]


# ---- HMAC (https://docs.kie.ai/common-api/webhook-verification) ------------------------------

TASK = "e989621f54392584b05867f87b160672"
STAMP = "1755599644"
KEY = "kie-hmac-test-key"
# printf 'e989621f54392584b05867f87b160672.1755599644' | openssl dgst -sha256 -hmac 'kie-hmac-test-key' -binary | base64
GOOD = "Ax3e6A5WAGJM8l8goA/Ot8Xe8Y2khs5r/6nz6G1ulZ8="


def test_signature_matches_an_independent_openssl_vector() -> None:
    assert expected_signature(TASK, STAMP, KEY) == GOOD


def test_good_signature() -> None:
    assert verify_signature(TASK, STAMP, GOOD, KEY, now=1755599644 + 10)


def test_bad_signature() -> None:
    tampered = "B" + GOOD[1:]
    assert not verify_signature(TASK, STAMP, tampered, KEY, now=1755599650)
    assert not verify_signature(TASK, STAMP, GOOD, "another-key", now=1755599650)
    assert not verify_signature("other-task", STAMP, GOOD, KEY, now=1755599650)
    assert not verify_signature(TASK, STAMP, "ä-not-base64", KEY, now=1755599650)


@pytest.mark.parametrize("skew", [301, -301, 10_000])
def test_stale_or_future_timestamp(skew: int) -> None:
    assert not verify_signature(TASK, STAMP, GOOD, KEY, now=1755599644 + skew)


def test_window_edge_is_inclusive() -> None:
    assert verify_signature(TASK, STAMP, GOOD, KEY, now=1755599644 + 300)
    assert verify_signature(TASK, STAMP, GOOD, KEY, now=1755599644 - 300)
    assert not verify_signature(TASK, STAMP, GOOD, KEY, now=1755599644 + 61, window_s=60)


@pytest.mark.parametrize(
    ("timestamp", "signature", "key"),
    [
        (None, GOOD, KEY),
        (STAMP, None, KEY),
        ("", GOOD, KEY),
        (STAMP, "", KEY),
        (STAMP, GOOD, ""),
        ("12ab", GOOD, KEY),
    ],
)
def test_missing_or_malformed_headers(timestamp: str | None, signature: str | None, key: str) -> None:
    assert not verify_signature(TASK, timestamp, signature, key, now=1755599644)
