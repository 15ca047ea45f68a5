"""Kie.ai wire types (msgspec Structs, no I/O) and the one normalised :class:`TaskStatus`.

Three API families share the ``{"code", "msg", "data"}`` envelope but differ in everything else:

* ``market`` — ``POST /api/v1/jobs/createTask`` / ``GET /api/v1/jobs/recordInfo``
  (https://docs.kie.ai/market/common/get-task-detail);
* ``veo`` — ``POST /api/v1/veo/generate`` / ``GET /api/v1/veo/record-info``
  (https://docs.kie.ai/veo3-api/get-veo-3-video-details);
* ``suno`` — ``POST /api/v1/generate`` / ``GET /api/v1/generate/record-info``
  (https://docs.kie.ai/suno-api/get-music-details).

The Structs are deliberately tolerant: Kie's doc pages disagree on ``msg``/``message``,
``taskId``/``task_id``, ``resultUrl``/``resultUrls`` and whether ``resultJson`` is a string or an
object, so every variant seen in the docs decodes. Field names follow the wire (camelCase) through
``rename="camel"``; snake_case variants are declared with an explicit wire ``name``.
"""

from __future__ import annotations

import math
from typing import Any, Final, Literal

import msgspec

Family = Literal["market", "veo", "suno"]
FAMILIES: Final[tuple[Family, ...]] = ("market", "veo", "suno")

TaskState = Literal["pending", "running", "succeeded", "failed"]

CREATE_PATHS: Final[dict[Family, str]] = {
    "market": "/api/v1/jobs/createTask",
    "veo": "/api/v1/veo/generate",
    "suno": "/api/v1/generate",
}
RECORD_PATHS: Final[dict[Family, str]] = {
    "market": "/api/v1/jobs/recordInfo",
    "veo": "/api/v1/veo/record-info",
    "suno": "/api/v1/generate/record-info",
}
CREDIT_PATH: Final = "/api/v1/chat/credit"
DOWNLOAD_URL_PATH: Final = "/api/v1/common/download-url"
UPLOAD_STREAM_PATH: Final = "/api/file-stream-upload"
UPLOAD_URL_PATH: Final = "/api/file-url-upload"
UPLOAD_BASE64_PATH: Final = "/api/file-base64-upload"


class TaskStatus(msgspec.Struct, frozen=True, kw_only=True):
    """Where a task stands, the same for every family and for polls and callbacks alike.

    ``state``: ``pending`` (queued), ``running`` (generating, or a Suno stage before "complete"),
    ``succeeded`` or ``failed`` — only the last two are final. ``result_urls`` are Kie's temporary
    URLs (valid ~24 h: download at once). ``cost_credits`` is what Kie billed for the task:
    ``creditsConsumed`` of recordInfo or ``consumeCredits`` of a callback (a number, possibly
    fractional; ``None`` when Kie did not say). ``remaining_credits`` comes from
    ``remainedCredits`` (market callbacks).
    ``raw_state`` keeps Kie's own word (``"generating"``, ``"successFlag=3"``, ``"FIRST_SUCCESS"``,
    ``"callback:first"``) for logs.
    """

    task_id: str
    state: TaskState
    result_urls: tuple[str, ...] = ()
    cost_credits: float | None = None
    remaining_credits: int | None = None
    fail_code: str | None = None
    fail_message: str | None = None
    raw_state: str = ""

    @property
    def is_final(self) -> bool:
        return self.state in ("succeeded", "failed")


# ---- the envelope --------------------------------------------------------------------------


class Envelope(msgspec.Struct, kw_only=True):
    """``{"code": 200, "msg": "success", "data": ...}``; some pages say ``message`` instead of ``msg``.

    ``data`` is kept raw and decoded per endpoint. The upload host adds ``success``.
    """

    code: int | None = None
    msg: str | None = None
    message: str | None = None
    success: bool | None = None
    data: msgspec.Raw = msgspec.Raw(b"null")

    @property
    def text(self) -> str:
        return self.msg or self.message or ""


class CreatedTask(msgspec.Struct, rename="camel", kw_only=True):
    """``data`` of a create answer: ``{"taskId": "..."}`` (``task_id`` tolerated)."""

    task_id: str | None = None
    task_id_snake: str | None = msgspec.field(default=None, name="task_id")

    @property
    def id(self) -> str | None:
        return self.task_id or self.task_id_snake


class UploadedFile(msgspec.Struct, rename="camel", kw_only=True):
    """``data`` of a file upload answer (https://docs.kie.ai/file-upload-api/quickstart).

    ``downloadUrl`` is the documented field; some clients read ``url`` or ``fileUrl``.
    """

    download_url: str | None = None
    url: str | None = None
    file_url: str | None = None
    file_name: str | None = None
    file_path: str | None = None
    file_size: int | None = None
    mime_type: str | None = None

    @property
    def link(self) -> str | None:
        return self.download_url or self.file_url or self.url


# ---- market --------------------------------------------------------------------------------


class MarketResult(msgspec.Struct, rename="camel", kw_only=True):
    """The decoded ``resultJson``: ``{"resultUrls": [...]}``, or a singular ``resultUrl``."""

    result_urls: list[str] | str | None = None
    result_url: str | None = None


class MarketRecord(msgspec.Struct, rename="camel", kw_only=True):
    """``data`` of recordInfo and of market callbacks (the two have the same shape)."""

    task_id: str | None = None
    task_id_snake: str | None = msgspec.field(default=None, name="task_id")
    model: str | None = None
    state: str | None = None
    param: str | dict[str, Any] | None = None
    result_json: str | dict[str, Any] | None = None
    fail_code: str | int | None = None
    fail_msg: str | None = None
    #: Billed credits: ``creditsConsumed`` in recordInfo, ``consumeCredits`` in callbacks
    #: (reference kie-live-truth §1). Either may be missing, null, fractional (``3.0``) or, from
    #: a lenient proxy, a numeric string; :func:`billed_credits` reads them. Typed ``Any`` so an
    #: odd value there never makes a whole callback undecodable (the result matters more).
    credits_consumed: Any = None
    consume_credits: Any = None
    remained_credits: int | float | None = None
    cost_time: float | None = None
    create_time: int | str | None = None
    complete_time: int | str | None = None


# ---- veo -----------------------------------------------------------------------------------


class VeoMedia(msgspec.Struct, rename="camel", kw_only=True):
    """``response`` of Veo record-info and ``info`` of the Veo callback."""

    task_id: str | None = None
    result_urls: list[str] | None = None
    origin_urls: list[str] | None = None
    resolution: str | None = None


class VeoRecord(msgspec.Struct, rename="camel", kw_only=True):
    """``data`` of Veo record-info and of the Veo callback.

    ``successFlag``: 0 generating, 1 success, 2 failed, 3 generation failed.
    """

    task_id: str | None = None
    task_id_snake: str | None = msgspec.field(default=None, name="task_id")
    success_flag: int | None = None
    response: VeoMedia | None = None
    info: VeoMedia | None = None
    error_code: int | str | None = None
    error_message: str | None = None
    fallback_flag: bool | None = None
    credits_consumed: Any = None
    consume_credits: Any = None


# ---- suno ----------------------------------------------------------------------------------


class SunoTrack(msgspec.Struct, rename="camel", kw_only=True):
    """One generated track: camelCase in record-info, snake_case in callbacks."""

    id: str | None = None
    audio_url: str | None = None
    audio_url_snake: str | None = msgspec.field(default=None, name="audio_url")
    title: str | None = None
    duration: float | None = None

    @property
    def url(self) -> str:
        return self.audio_url or self.audio_url_snake or ""


class SunoResponse(msgspec.Struct, rename="camel", kw_only=True):
    suno_data: list[SunoTrack] | None = None


class SunoRecord(msgspec.Struct, rename="camel", kw_only=True):
    """``data`` of Suno record-info. Status values are listed in :mod:`kiebot.kie.status`."""

    task_id: str | None = None
    task_id_snake: str | None = msgspec.field(default=None, name="task_id")
    status: str | None = None
    response: SunoResponse | None = None
    error_code: int | str | None = None
    error_message: str | None = None
    credits_consumed: Any = None
    consume_credits: Any = None


class SunoCallbackData(msgspec.Struct, rename="camel", kw_only=True):
    """``data`` of a Suno callback: ``callbackType`` text | first | complete | error."""

    callback_type: str | None = None
    task_id: str | None = None
    task_id_snake: str | None = msgspec.field(default=None, name="task_id")
    data: list[SunoTrack] | None = None


#: A billed figure above this is not a credit count (a timestamp or a balance in the wrong field).
MAX_BILLED_CREDITS: Final = 1_000_000.0


def billed_credits(*values: object) -> float | None:
    """The billed credits among ``values`` (``creditsConsumed``, ``consumeCredits``): the largest
    usable one, so a ``0`` placeholder in one field never hides a real charge in the other.

    Kie sends a JSON number (``3``, ``3.0``, ``0.8``); a numeric string is accepted too. ``None``,
    an empty or non-numeric string, a negative, non-finite or absurd number mean "not reported"
    — the job then keeps no billed figure rather than a wrong one that would pause a variant.
    """
    found: float | None = None
    for value in values:
        if value is None or isinstance(value, bool):
            continue
        if not isinstance(value, str | int | float):
            continue
        try:
            number = float(value.strip() if isinstance(value, str) else value)
        except (ValueError, OverflowError):
            continue
        if math.isfinite(number) and 0.0 <= number <= MAX_BILLED_CREDITS:
            found = number if found is None else max(found, number)
    return found


ENVELOPE_DECODER: Final = msgspec.json.Decoder(Envelope)
CREATED_DECODER: Final = msgspec.json.Decoder(CreatedTask)
UPLOADED_DECODER: Final = msgspec.json.Decoder(UploadedFile)
MARKET_DECODER: Final = msgspec.json.Decoder(MarketRecord)
MARKET_RESULT_DECODER: Final = msgspec.json.Decoder(MarketResult)
VEO_DECODER: Final = msgspec.json.Decoder(VeoRecord)
SUNO_DECODER: Final = msgspec.json.Decoder(SunoRecord)
SUNO_CALLBACK_DECODER: Final = msgspec.json.Decoder(SunoCallbackData)
CREDITS_DECODER: Final = msgspec.json.Decoder(int | float)
TEXT_DECODER: Final = msgspec.json.Decoder(str)
ENCODER: Final = msgspec.json.Encoder()
