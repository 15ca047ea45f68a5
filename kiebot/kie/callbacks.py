"""Kie callbacks: parse any family's body into a TaskStatus, and verify the HMAC headers (pure).

Bodies (https://docs.kie.ai/market/common/get-task-detail, Veo
https://docs.kie.ai/veo3-api/generate-veo-3-video-callbacks, Suno
https://docs.kie.ai/suno-api/generate-music-callbacks):

* market — the recordInfo envelope: ``code`` 200 with ``data.state`` "success" and
  ``resultJson``, or ``code`` 501 with ``state`` "fail", ``failCode``, ``failMsg``; also
  ``consumeCredits`` and ``remainedCredits``;
* Veo — ``code`` 200 with ``data.info.resultUrls`` on success; any other ``code`` (400 content
  policy, 422 rejected, 500, 501) is a failure explained by ``msg``;
* Suno — three calls per task, ``data.callbackType`` ``text``, ``first``, ``complete``, with
  snake_case tracks in ``data.data``; only ``complete`` (or a failure: a non-200 ``code`` or
  ``callbackType`` ``error``) is final.

Kie documents no retry policy, so handlers must be idempotent on the task id and answer 200 fast.

Signature (https://docs.kie.ai/common-api/webhook-verification): ``X-Webhook-Timestamp`` is Unix
seconds, ``X-Webhook-Signature`` is ``base64(HMAC-SHA256(key, taskId + "." + timestamp))``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Final

import msgspec

from kiebot.kie.status import market_status, suno_track_urls, veo_status
from kiebot.kie.types import (
    ENVELOPE_DECODER,
    MARKET_DECODER,
    SUNO_CALLBACK_DECODER,
    VEO_DECODER,
    Envelope,
    Family,
    TaskState,
    TaskStatus,
    billed_credits,
)

TIMESTAMP_HEADER: Final = "X-Webhook-Timestamp"
SIGNATURE_HEADER: Final = "X-Webhook-Signature"
DEFAULT_WINDOW_S: Final = 300.0


class MalformedCallback(ValueError):
    """The body is not a Kie callback of the expected family (answer 400, keep polling)."""


def parse_callback(family: Family, body: bytes) -> TaskStatus:
    """The task's status as told by a callback body of ``family``.

    Raises:
        MalformedCallback: not JSON, the wrong shape, or no task id. The message names the
            problem, never the body.
    """
    try:
        envelope = ENVELOPE_DECODER.decode(body)
        if family == "market":
            return _market(envelope)
        if family == "veo":
            return _veo(envelope)
        if family == "suno":
            return _suno(envelope)
    except msgspec.DecodeError as exc:  # ValidationError is a subclass
        raise MalformedCallback(f"malformed {family} callback: {_first_line(exc)}") from None
    raise MalformedCallback(f"unknown family {family!r}")


def _first_line(exc: Exception) -> str:
    return str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__


def _require_id(task_id: str | None, family: Family) -> str:
    if not task_id:
        raise MalformedCallback(f"{family} callback without a task id")
    return task_id


def _market(envelope: Envelope) -> TaskStatus:
    record = MARKET_DECODER.decode(envelope.data)
    status = market_status(record)
    _require_id(status.task_id, "market")
    if status.state == "failed":
        return msgspec.structs.replace(
            status,
            fail_code=status.fail_code or _code_text(envelope),
            fail_message=status.fail_message or envelope.text or None,
        )
    if envelope.code not in (None, 200) and not status.is_final:
        # A failure envelope whose data lacks "state": trust the code.
        return msgspec.structs.replace(
            status, state="failed", fail_code=_code_text(envelope), fail_message=envelope.text or None
        )
    return status


def _veo(envelope: Envelope) -> TaskStatus:
    record = VEO_DECODER.decode(envelope.data)
    task_id = _require_id(record.task_id or record.task_id_snake, "veo")
    if envelope.code not in (None, 200):
        return TaskStatus(
            task_id=task_id,
            state="failed",
            fail_code=_code_text(envelope),
            fail_message=envelope.text or record.error_message or None,
            raw_state=f"callback:{envelope.code}",
        )
    if record.success_flag is not None:
        return veo_status(record)
    media = record.info or record.response
    urls = tuple(u for u in (media.result_urls or []) if u) if media else ()
    return TaskStatus(
        task_id=task_id,
        state="succeeded",
        result_urls=urls,
        cost_credits=billed_credits(record.credits_consumed, record.consume_credits),
        raw_state=f"callback:{envelope.code}",
    )


def _suno(envelope: Envelope) -> TaskStatus:
    data = SUNO_CALLBACK_DECODER.decode(envelope.data)
    task_id = _require_id(data.task_id_snake or data.task_id, "suno")
    kind = (data.callback_type or "").lower()
    if envelope.code not in (None, 200) or kind == "error":
        return TaskStatus(
            task_id=task_id,
            state="failed",
            fail_code=_code_text(envelope) or kind,
            fail_message=envelope.text or None,
            raw_state=f"callback:{kind or envelope.code}",
        )
    state: TaskState = "succeeded" if kind == "complete" else "running"
    return TaskStatus(
        task_id=task_id, state=state, result_urls=suno_track_urls(data.data), raw_state=f"callback:{kind}"
    )


def _code_text(envelope: Envelope) -> str | None:
    return str(envelope.code) if envelope.code is not None else None


def expected_signature(task_id: str, timestamp: str, key: str) -> str:
    """``base64(HMAC-SHA256(key, taskId + "." + timestamp))`` as Kie computes it."""
    mac = hmac.new(key.encode(), f"{task_id}.{timestamp}".encode(), hashlib.sha256)
    return base64.b64encode(mac.digest()).decode("ascii")


def verify_signature(
    task_id: str,
    timestamp: str | None,
    signature: str | None,
    key: str,
    *,
    now: float,
    window_s: float = DEFAULT_WINDOW_S,
) -> bool:
    """Whether a callback's ``X-Webhook-*`` headers prove it came from Kie, recently.

    ``now`` is the wall clock in Unix seconds (``time.time()``), injected for tests. A missing
    header, a timestamp that is not an integer, or one more than ``window_s`` away from ``now``
    (a replay, or a badly skewed clock) fails. The comparison is constant-time.
    """
    if not (task_id and timestamp and signature and key):
        return False
    # Unix seconds have 10 digits for centuries to come; a longer one would overflow the float
    # comparison below (OverflowError → a 500 for a forged header; found by fuzzing).
    if len(timestamp.strip()) > 20:
        return False
    try:
        sent_at = int(timestamp.strip())
    except ValueError:
        return False
    if abs(now - sent_at) > window_s:
        return False
    expected = expected_signature(task_id, timestamp.strip(), key).encode("ascii")
    return hmac.compare_digest(expected, signature.strip().encode("utf-8", "replace"))
