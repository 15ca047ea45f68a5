"""Record normalisation per family: every documented state, tolerant field variants, Kie's samples."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import msgspec
import pytest

from kiebot.kie.status import market_result_urls, market_status, suno_status, veo_status
from kiebot.kie.types import ENVELOPE_DECODER, MarketRecord, SunoRecord, VeoRecord

DATA = Path(__file__).resolve().parent.parent / "data" / "kie"


def data_of(name: str) -> bytes:
    return bytes(ENVELOPE_DECODER.decode((DATA / name).read_bytes()).data)


def test_market_record_sample_uses_message_and_string_result_json() -> None:
    envelope = ENVELOPE_DECODER.decode((DATA / "market_record_success.json").read_bytes())
    assert envelope.text == "success"
    status = market_status(msgspec.json.decode(envelope.data, type=MarketRecord))
    assert status.task_id == "task_12345678"
    assert status.state == "succeeded"
    assert status.result_urls == ("https://example.com/generated-content.jpg",)
    assert status.fail_code is None  # "" in the sample means "none"


@pytest.mark.parametrize(
    ("raw", "state"),
    [
        ("waiting", "pending"),
        ("queuing", "pending"),
        ("generating", "running"),
        ("success", "succeeded"),
        ("fail", "failed"),
        ("SUCCESS", "succeeded"),
        ("something-new", "running"),
        ("", "running"),
    ],
)
def test_market_states(raw: str, state: str) -> None:
    record = MarketRecord(task_id="t", state=raw, fail_code="422", fail_msg="bad prompt")
    status = market_status(record)
    assert status.state == state
    assert status.raw_state == raw
    if state == "failed":
        assert (status.fail_code, status.fail_message) == ("422", "bad prompt")
    else:
        assert (status.fail_code, status.fail_message) == (None, None)


def test_market_numeric_fail_code_and_fallback_id() -> None:
    status = market_status(MarketRecord(state="fail", fail_code=500), fallback_task_id="asked-for")
    assert status.task_id == "asked-for"
    assert status.fail_code == "500"
    assert status.fail_message is None


@pytest.mark.parametrize(
    ("result", "urls"),
    [
        ('{"resultUrls":["https://a/1.png","https://a/2.png"]}', ("https://a/1.png", "https://a/2.png")),
        ('{"resultUrl":"https://a/1.png"}', ("https://a/1.png",)),
        ('{"resultUrls":"https://a/1.png"}', ("https://a/1.png",)),
        ({"resultUrls": ["https://a/1.png", ""]}, ("https://a/1.png",)),
        ('{"resultUrls":[]}', ()),
        ("not json", ()),
        ('{"resultUrls": 5}', ()),
        ("", ()),
        (None, ()),
    ],
)
def test_result_json_variants(result: Any, urls: tuple[str, ...]) -> None:
    assert market_result_urls(result) == urls


def test_veo_record_sample() -> None:
    status = veo_status(msgspec.json.decode(data_of("veo_record_success.json"), type=VeoRecord))
    assert status.task_id == "veo_task_abcdef123456"
    assert status.state == "succeeded"
    assert status.result_urls == ("http://example.com/video1.mp4",)
    assert status.raw_state == "successFlag=1"


@pytest.mark.parametrize(
    ("flag", "state"), [(0, "running"), (1, "succeeded"), (2, "failed"), (3, "failed"), (None, "running")]
)
def test_veo_flags(flag: int | None, state: str) -> None:
    record = VeoRecord(task_id="v", success_flag=flag, error_code=400, error_message="unsafe image upload")
    status = veo_status(record)
    assert status.state == state
    if state == "failed":
        assert status.fail_code == "400"
        assert status.fail_message == "unsafe image upload"


def test_veo_failure_without_error_code_names_the_flag() -> None:
    assert veo_status(VeoRecord(task_id="v", success_flag=3)).fail_code == "successFlag=3"


def test_suno_record_sample() -> None:
    status = suno_status(msgspec.json.decode(data_of("suno_record_success.json"), type=SunoRecord))
    assert status.task_id == "5c79****be8e"
    assert status.state == "succeeded"
    assert status.result_urls == ("https://example.cn/****.mp3",)


def _suno(status: str, urls: list[str]) -> SunoRecord:
    payload = {
        "taskId": "s",
        "status": status,
        "response": {"sunoData": [{"audioUrl": u} for u in urls]},
        "errorMessage": "nope",
    }
    return msgspec.json.decode(json.dumps(payload), type=SunoRecord)


@pytest.mark.parametrize(
    ("raw", "urls", "state"),
    [
        ("PENDING", [], "pending"),
        ("TEXT_SUCCESS", [""], "running"),
        ("FIRST_SUCCESS", ["https://s/1.mp3", ""], "running"),
        ("SUCCESS", ["https://s/1.mp3", "https://s/2.mp3"], "succeeded"),
        ("CREATE_TASK_FAILED", [], "failed"),
        ("GENERATE_AUDIO_FAILED", [], "failed"),
        ("SENSITIVE_WORD_ERROR", [], "failed"),
        ("CALLBACK_EXCEPTION", ["https://s/1.mp3"], "succeeded"),
        ("CALLBACK_EXCEPTION", [], "failed"),
        ("SOMETHING_FAILED", [], "failed"),
        ("NEW_STAGE", [], "running"),
    ],
)
def test_suno_statuses(raw: str, urls: list[str], state: str) -> None:
    status = suno_status(_suno(raw, urls))
    assert status.state == state
    assert status.raw_state == raw
    if state == "failed":
        assert status.fail_code == raw
        assert status.fail_message == "nope"
        assert status.result_urls == ()
    else:
        assert status.result_urls == tuple(u for u in urls if u)
