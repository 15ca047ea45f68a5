"""Why a job ended without a result, in words a user understands — never Kie's own words.

A job that fails keeps two things: ``error_code`` (our reason key, chosen where the failure was
seen: ``input_rejected``, ``provider_failed``…) and ``error_message`` (the raw detail: Kie's
``failMsg``, ``Kie code 422: …``, ``HTTPStatusError``, ``no result files``). The raw detail is
English, technical, and sometimes Kie's internals; it stays on the admin job card. A user is told
one of a few reasons (:data:`REASONS`), chosen here from both, sans I/O so every mapping is a
one-line test: content rules, the input could not be used, the provider failed, the model is
unavailable, it took too long, nothing came back.
"""

from __future__ import annotations

import re
from typing import Final, Literal

UserReason = Literal["content_rules", "bad_input", "provider_failed", "unavailable", "too_long", "nothing_back"]
REASONS: Final[tuple[UserReason, ...]] = (
    "content_rules",
    "bad_input",
    "provider_failed",
    "unavailable",
    "too_long",
    "nothing_back",
)

#: Our reason keys (``outcomes.fail(..., reason_key, ...)``) and what they mean to a user.
_BY_CODE: Final[dict[str, UserReason]] = {
    "input_rejected": "bad_input",
    "media_failed": "bad_input",
    "provider_failed": "provider_failed",
    "service_error": "provider_failed",
    "no_credits": "unavailable",
    "maintenance": "unavailable",
    "model_unavailable": "unavailable",
    "timeout": "too_long",
    "timed_out": "too_long",
    "undeliverable": "nothing_back",
    # Kie's result pointed somewhere the bot never opens (http, a private address): for the user
    # that is the provider failing; the admins are alerted with the host.
    "result_refused": "provider_failed",
}
#: Codes that say all there is to say: the detail (a host name, a deadline) is not read.
_FINAL: Final = frozenset({"timeout", "timed_out", "no_credits", "maintenance", "model_unavailable", "result_refused"})

#: Kie's words for a refusal on content grounds (Veo's "content policy" and "unsafe image
#: upload", Suno's SENSITIVE_WORD_ERROR, moderation flags of the image models; reference §10.5).
_CONTENT: Final = re.compile(
    r"sensitive|content[ _-]?polic|policy|nsfw|unsafe|moderat|flagged|prohibit|violat|inappropriate|"
    r"public figure|celebrit|copyright|not allowed content|safety",
    re.IGNORECASE,
)
#: Words that say the input itself could not be used (Veo's "Failed to fetch the image",
#: "Only English prompts are supported"; a 422 validation error).
_INPUT: Final = re.compile(
    r"failed to fetch|fetch (the )?(image|file|video|audio)|only english|invalid|validation|"
    r"unsupported|not supported|too (large|big|long|short|small)|format|resolution|aspect|"
    r"dimension|file size|code 4(00|13|15|22)\b",
    re.IGNORECASE,
)
#: Words that say the task produced nothing to deliver.
_NOTHING: Final = re.compile(
    r"no result|does not know this task|not downloadable|empty result|result (is )?empty|expired|not found",
    re.IGNORECASE,
)


def user_reason(error_code: str | None, detail: str | None) -> UserReason:
    """The reason a user is told for a job that ended with ``error_code`` and raw ``detail``.

    The detail wins where it is clear (a content refusal reported as a plain task failure is
    still a content refusal), else the code decides; anything unknown is the provider's failure.
    """
    text = detail or ""
    code = error_code or ""
    by_code = _BY_CODE.get(code)
    if by_code is not None and code in _FINAL:
        return by_code
    if _CONTENT.search(text):
        return "content_rules"
    if _NOTHING.search(text):
        return "nothing_back"
    if by_code == "bad_input" or _INPUT.search(text):
        return "bad_input"
    return by_code or "provider_failed"
