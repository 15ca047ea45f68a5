"""The fake Kie server's task model and the exact JSON it answers with, per family (pure).

Record and callback bodies copy the shapes of Kie's documented samples (kept in
``tests/data/kie/``): market recordInfo and callbacks
(https://docs.kie.ai/market/common/get-task-detail), Veo record-info and callback
(https://docs.kie.ai/veo3-api/get-veo-3-video-details), Suno record-info and its three-stage
callbacks (https://docs.kie.ai/suno-api/get-music-details).
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import trio

from kiebot.kie.types import Family
from kiebot.testing.kie.rules import Kind

Outcome = Literal["success", "fail", "never"]
#: Progress of a task: queued → running (Suno: → text → first) → done.
Phase = Literal["queued", "running", "text", "first", "done"]

_EXTENSIONS: dict[Kind, str] = {"image": "png", "video": "mp4", "audio": "mp3"}


@dataclass
class Script:
    """One scripted outcome, consumed by the next ``times`` creates whose model matches."""

    model: str | None
    outcome: Outcome
    message: str
    fail_code: str
    times: int
    duration_s: float | None

    def matches(self, model: str) -> bool:
        return self.times > 0 and (self.model is None or self.model == model)


@dataclass
class BillScript:
    """Bill the next ``times`` tasks of ``model`` (any if None) differently from their price:
    ``credits`` exactly, or ``factor`` × the price (Kie's billed figure is the truth, and it can
    differ from any list price — reference kie-live-truth §1)."""

    model: str | None
    credits: float | None
    factor: float | None
    times: int
    #: Only tasks whose input has these values (``{"resolution": "4K"}``): one variant.
    when: dict[str, Any] = field(default_factory=dict)

    def matches(self, model: str, payload: Mapping[str, Any] | None = None) -> bool:
        if self.times <= 0 or (self.model is not None and self.model != model):
            return False
        return all((payload or {}).get(k) == v for k, v in self.when.items())

    def billed(self, price: float) -> float:
        if self.credits is not None:
            return self.credits
        return price * (self.factor if self.factor is not None else 1.0)


@dataclass
class Fault:
    """A scripted error or delay for the next ``times`` requests to an endpoint."""

    status: int | None
    message: str
    http_status: int | None
    delay_s: float
    times: int
    bare: bool = False  # a bare HTTP status with a text body, as a proxy in front of Kie answers


@dataclass
class FakeTask:
    """One task as the fake keeps it: the request as received, the plan, and where it stands."""

    task_id: str
    family: Family
    model: str
    body: dict[str, Any]
    kind: Kind
    prompt: str
    outcome: Outcome
    fail_code: str
    fail_message: str
    duration_s: float
    price_credits: float
    #: What a success is billed (``consumeCredits``/``creditsConsumed``); None: ``price_credits``.
    billed_credits: float | None = None
    results: int = 1
    created_ms: int = field(default_factory=lambda: int(time.time() * 1000))
    phase: Phase = "queued"
    completed_ms: int | None = None
    consumed_credits: float = 0.0
    remaining_credits: float | None = None
    done: trio.Event = field(default_factory=trio.Event)
    #: The fake's upload URLs the body names, and the hold (if any) the task reads them after.
    input_urls: list[str] = field(default_factory=list)
    input_gate: trio.Event | None = None
    #: What each input URL held when the task read it (None: nothing under that name then).
    inputs_read: dict[str, bytes | None] = field(default_factory=dict)

    @property
    def callback_url(self) -> str | None:
        url = self.body.get("callBackUrl")
        return url if isinstance(url, str) and url else None

    @property
    def succeeded(self) -> bool:
        return self.phase == "done" and self.outcome == "success"

    @property
    def failed(self) -> bool:
        return self.phase == "done" and self.outcome == "fail"

    @property
    def result_count(self) -> int:
        return max(1, self.results)

    def result_names(self) -> list[str]:
        ext = _EXTENSIONS[self.kind]
        return [f"{n}.{ext}" for n in range(self.result_count)]

    def result_urls(self, base_url: str, *, ready: int | None = None) -> list[str]:
        names = self.result_names()[: ready if ready is not None else self.result_count]
        return [f"{base_url}/files/{self.task_id}/{name}" for name in names]


def _ms() -> int:
    return int(time.time() * 1000)


def _envelope(code: int, msg: str, data: object) -> dict[str, Any]:
    return {"code": code, "msg": msg, "data": data}


def _param(task: FakeTask) -> str:
    return json.dumps(task.body, ensure_ascii=False, separators=(",", ":"))


def _credits(value: float | None) -> int | float | None:
    if value is None:
        return None
    return int(value) if float(value).is_integer() else value


# ---- market ----------------------------------------------------------------------------------


def _market_state(task: FakeTask) -> str:
    if task.phase == "queued":
        return "waiting"
    if task.phase != "done":
        return "generating"
    return "success" if task.outcome == "success" else "fail"


def market_data(task: FakeTask, base_url: str, *, for_callback: bool) -> dict[str, Any]:
    state = _market_state(task)
    data: dict[str, Any] = {
        "taskId": task.task_id,
        "model": task.model,
        "state": state,
        "param": _param(task),
        "resultJson": json.dumps({"resultUrls": task.result_urls(base_url)}) if state == "success" else "",
        "failCode": task.fail_code if state == "fail" else "",
        "failMsg": task.fail_message if state == "fail" else "",
        "completeTime": task.completed_ms,
        "createTime": task.created_ms,
        "updateTime": task.completed_ms or _ms(),
    }
    if task.phase == "done" and not for_callback:
        # recordInfo reports the billed credits as a JSON number that may be fractional; the
        # real API writes e.g. ``3.0`` (reference kie-live-truth §1). Absent until the task ends.
        data["creditsConsumed"] = float(task.consumed_credits)
    if for_callback:
        data["costTime"] = round(((task.completed_ms or _ms()) - task.created_ms) / 1000)
        data["consumeCredits"] = _credits(task.consumed_credits)
        data["remainedCredits"] = _credits(task.remaining_credits)
        if state == "fail":
            del data["resultJson"]
    return data


def market_record(task: FakeTask, base_url: str) -> dict[str, Any]:
    return _envelope(200, "success", market_data(task, base_url, for_callback=False))


def market_callback(task: FakeTask, base_url: str) -> dict[str, Any]:
    if task.outcome == "success":
        return _envelope(
            200, "Playground task completed successfully.", market_data(task, base_url, for_callback=True)
        )
    return _envelope(501, "Playground task failed.", market_data(task, base_url, for_callback=True))


# ---- veo -------------------------------------------------------------------------------------


def _veo_media(task: FakeTask, base_url: str) -> dict[str, Any]:
    urls = task.result_urls(base_url)
    return {"taskId": task.task_id, "resultUrls": urls, "originUrls": urls, "resolution": "720p"}


def veo_record(task: FakeTask, base_url: str) -> dict[str, Any]:
    flag = 0 if task.phase != "done" else (1 if task.outcome == "success" else 3)
    return _envelope(
        200,
        "success",
        {
            "taskId": task.task_id,
            "paramJson": _param(task),
            "completeTime": task.completed_ms,
            "response": _veo_media(task, base_url) if flag == 1 else None,
            "successFlag": flag,
            "errorCode": _int_code(task.fail_code) if flag == 3 else None,
            "errorMessage": task.fail_message if flag == 3 else "",
            "createTime": task.created_ms,
            "fallbackFlag": False,
        },
    )


def veo_callback(task: FakeTask, base_url: str) -> dict[str, Any]:
    if task.outcome == "success":
        data = {"taskId": task.task_id, "info": _veo_media(task, base_url), "fallbackFlag": False}
        return _envelope(200, "Veo3.1 video generated successfully.", data)
    code = _int_code(task.fail_code) or 501
    return _envelope(code, task.fail_message, {"taskId": task.task_id, "info": None, "fallbackFlag": False})


# ---- suno ------------------------------------------------------------------------------------

_SUNO_READY = {"queued": 0, "running": 0, "text": 0, "first": 1, "done": 2}


def _suno_status(task: FakeTask) -> str:
    if task.phase == "done":
        return "SUCCESS" if task.outcome == "success" else "GENERATE_AUDIO_FAILED"
    return {"queued": "PENDING", "running": "PENDING", "text": "TEXT_SUCCESS", "first": "FIRST_SUCCESS"}[
        task.phase
    ]


def _suno_tracks(task: FakeTask, base_url: str, *, snake: bool) -> list[dict[str, Any]]:
    ready = _SUNO_READY[task.phase] if task.outcome == "success" or task.phase != "done" else 0
    urls = task.result_urls(base_url)
    title = str(task.body.get("title") or "Fake track")
    created = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(task.created_ms / 1000))
    model_name = "chirp-" + task.model.lower()
    tracks = []
    for n in range(task.result_count):
        audio = urls[n] if n < ready else ""
        # The fields whose names differ: the callback spells them snake_case, with source_* copies.
        if snake:
            spelled: dict[str, Any] = {
                "audio_url": audio,
                "source_audio_url": audio,
                "stream_audio_url": urls[n],
                "source_stream_audio_url": urls[n],
                "image_url": "",
                "source_image_url": "",
                "model_name": model_name,
            }
        else:  # recordInfo spells them camelCase
            spelled = {"audioUrl": audio, "streamAudioUrl": urls[n], "imageUrl": "", "modelName": model_name}
        tracks.append(
            {
                "id": f"{task.task_id}-{n}",
                **spelled,
                "prompt": task.prompt,
                "title": title,
                "tags": str(task.body.get("style") or ""),
                "createTime": created,
                "duration": 1.07 if audio else None,
            }
        )
    return tracks


def suno_record(task: FakeTask, base_url: str) -> dict[str, Any]:
    status = _suno_status(task)
    failed = status.endswith("FAILED")
    return _envelope(
        200,
        "success",
        {
            "taskId": task.task_id,
            "parentMusicId": "",
            "param": _param(task),
            "response": {
                "taskId": task.task_id,
                "sunoData": [] if failed else _suno_tracks(task, base_url, snake=False),
            },
            "status": status,
            "type": "GENERATE",
            "errorCode": _int_code(task.fail_code) if failed else None,
            "errorMessage": task.fail_message if failed else None,
        },
    )


def suno_callback(task: FakeTask, base_url: str) -> dict[str, Any]:
    """The callback for the task's current phase: ``text``, ``first``, ``complete`` or an error."""
    if task.phase == "done" and task.outcome == "fail":
        code = _int_code(task.fail_code) or 501
        return _envelope(
            code, task.fail_message, {"callbackType": "error", "task_id": task.task_id, "data": None}
        )
    stage = {"text": "text", "first": "first", "done": "complete"}.get(task.phase, "text")
    messages = {
        "text": "Text generation completed.",
        "first": "First track generated.",
        "complete": "All generated successfully.",
    }
    data = {"callbackType": stage, "task_id": task.task_id, "data": _suno_tracks(task, base_url, snake=True)}
    return _envelope(200, messages[stage], data)


def _int_code(code: str) -> int | None:
    try:
        return int(code)
    except ValueError:
        return None


def record_body(task: FakeTask, base_url: str) -> dict[str, Any]:
    if task.family == "market":
        return market_record(task, base_url)
    if task.family == "veo":
        return veo_record(task, base_url)
    return suno_record(task, base_url)


def callback_body(task: FakeTask, base_url: str) -> dict[str, Any]:
    if task.family == "market":
        return market_callback(task, base_url)
    if task.family == "veo":
        return veo_callback(task, base_url)
    return suno_callback(task, base_url)
