"""Normalise each family's task record into one :class:`~kiebot.kie.types.TaskStatus` (pure).

State tables (Kie docs):

* market ``state`` (https://docs.kie.ai/market/common/get-task-detail): ``waiting``/``queuing``
  → pending, ``generating`` → running, ``success`` → succeeded, ``fail`` → failed;
* Veo ``successFlag`` (https://docs.kie.ai/veo3-api/get-veo-3-video-details): 0 → running,
  1 → succeeded, 2 and 3 → failed;
* Suno ``status`` (https://docs.kie.ai/suno-api/get-music-details): ``PENDING`` → pending,
  ``TEXT_SUCCESS``/``FIRST_SUCCESS`` → running (only ``SUCCESS`` means every track is ready),
  ``SUCCESS`` → succeeded, ``CREATE_TASK_FAILED``/``GENERATE_AUDIO_FAILED``/
  ``SENSITIVE_WORD_ERROR`` → failed. ``CALLBACK_EXCEPTION`` means Kie could not reach our callback:
  the music exists when tracks carry URLs (succeeded), otherwise it failed.

Unknown non-final states are reported as ``running`` so the caller keeps polling until its own
deadline, rather than failing (and refunding) a task that may still succeed.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import msgspec

from kiebot.kie.types import (
    MARKET_RESULT_DECODER,
    MarketRecord,
    MarketResult,
    SunoRecord,
    SunoTrack,
    TaskState,
    TaskStatus,
    VeoRecord,
    billed_credits,
)

_MARKET_STATES: dict[str, TaskState] = {
    "waiting": "pending",
    "queuing": "pending",
    "generating": "running",
    "success": "succeeded",
    "fail": "failed",
}

_SUNO_STATES: dict[str, TaskState] = {
    "PENDING": "pending",
    "TEXT_SUCCESS": "running",
    "FIRST_SUCCESS": "running",
    "SUCCESS": "succeeded",
    "CREATE_TASK_FAILED": "failed",
    "GENERATE_AUDIO_FAILED": "failed",
    "SENSITIVE_WORD_ERROR": "failed",
}


def _text(value: object) -> str | None:
    """A code or message as text; empty strings and ``None`` mean "absent"."""
    if value is None:
        return None
    text = str(value)
    return text or None


def _urls(values: Iterable[str | None]) -> tuple[str, ...]:
    return tuple(v for v in values if isinstance(v, str) and v)


def market_result_urls(result_json: str | dict[str, Any] | None) -> tuple[str, ...]:
    """URLs from ``resultJson`` — a JSON string (as documented) or an object; a bad one gives ()."""
    if result_json is None or result_json == "":
        return ()
    try:
        if isinstance(result_json, str):
            result = MARKET_RESULT_DECODER.decode(result_json)
        else:
            result = msgspec.convert(result_json, MarketResult)
    except msgspec.DecodeError:  # ValidationError is a subclass
        return ()
    many = result.result_urls
    listed = [many] if isinstance(many, str) else list(many or [])
    return _urls([*listed, result.result_url])


def market_status(record: MarketRecord, *, fallback_task_id: str = "") -> TaskStatus:
    raw = record.state or ""
    state = _MARKET_STATES.get(raw.lower(), "running")
    failed = state == "failed"
    remained = record.remained_credits
    return TaskStatus(
        task_id=record.task_id or record.task_id_snake or fallback_task_id,
        state=state,
        result_urls=market_result_urls(record.result_json) if state == "succeeded" else (),
        cost_credits=billed_credits(record.credits_consumed, record.consume_credits),
        remaining_credits=int(remained) if remained is not None else None,
        fail_code=_text(record.fail_code) if failed else None,
        fail_message=(record.fail_msg or None) if failed else None,
        raw_state=raw,
    )


def veo_status(record: VeoRecord, *, fallback_task_id: str = "") -> TaskStatus:
    flag = record.success_flag
    state: TaskState
    if flag == 1:
        state = "succeeded"
    elif flag in (2, 3):
        state = "failed"
    else:
        state = "running"
    media = record.response or record.info
    failed = state == "failed"
    return TaskStatus(
        task_id=record.task_id or record.task_id_snake or fallback_task_id,
        state=state,
        result_urls=_urls(media.result_urls or []) if media and state == "succeeded" else (),
        cost_credits=billed_credits(record.credits_consumed, record.consume_credits),
        fail_code=(_text(record.error_code) or f"successFlag={flag}") if failed else None,
        fail_message=(record.error_message or None) if failed else None,
        raw_state=f"successFlag={flag}",
    )


def suno_track_urls(tracks: list[SunoTrack] | None) -> tuple[str, ...]:
    return _urls(track.url for track in tracks or [])


def suno_status(record: SunoRecord, *, fallback_task_id: str = "") -> TaskStatus:
    raw = record.status or ""
    urls = suno_track_urls(record.response.suno_data if record.response else None)
    state: TaskState
    if raw.upper() == "CALLBACK_EXCEPTION":
        state = "succeeded" if urls else "failed"
    else:
        state = _SUNO_STATES.get(raw.upper(), "failed" if raw.upper().endswith("_FAILED") else "running")
    failed = state == "failed"
    return TaskStatus(
        task_id=record.task_id or record.task_id_snake or fallback_task_id,
        state=state,
        # FIRST_SUCCESS already has one track; it is reported, but the task is not final yet.
        result_urls=urls if not failed else (),
        cost_credits=billed_credits(record.credits_consumed, record.consume_credits),
        fail_code=(_text(record.error_code) or raw) if failed else None,
        fail_message=(record.error_message or None) if failed else None,
        raw_state=raw,
    )
