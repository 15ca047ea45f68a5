"""Typed Kie.ai errors, keyed on the envelope ``code`` (or the HTTP status when there is none).

Kie answers every call with ``{"code": ..., "msg": ..., "data": ...}``; the codes are listed at
https://docs.kie.ai/common-api (200, 401, 402, 404, 422, 429, 455, 500, 501, 505). Each one maps
to one class here so callers decide with ``except`` what to do: refund without charging (422),
alert the operator (402), back off (429, 455, 5xx), or reconcile (:class:`SubmitOutcomeUnknown`).

No error ever carries the API key: messages are built from Kie's own ``msg`` (with the key
scrubbed, should Kie ever echo it) and the names of exception classes; the underlying httpx
exception, whose ``request`` holds the ``Authorization`` header, is never chained.
"""

from __future__ import annotations


class KieError(Exception):
    """Base class. ``code`` is Kie's envelope code (or the HTTP status), ``kie_message`` its ``msg``.

    ``retryable`` says whether the same request may simply be sent again later.
    """

    retryable: bool = False

    def __init__(self, message: str, *, code: int | None = None, http_status: int | None = None) -> None:
        super().__init__(message)
        self.kie_message = message
        self.code = code
        self.http_status = http_status

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, http_status={self.http_status!r}, message={self.kie_message!r})"

    def __str__(self) -> str:
        prefix = f"Kie code {self.code}: " if self.code is not None else ""
        return prefix + self.kie_message


class Unauthorized(KieError):
    """401: the key is missing, wrong, revoked, capped or the caller's IP is not whitelisted."""


class InsufficientCredits(KieError):
    """402: the Kie account is out of credits. Tell the user "temporarily unavailable", alert the admin."""


class NotFound(KieError):
    """404: no such task (or endpoint). Task records are kept about two months."""


class InputRejected(KieError):
    """422: Kie rejected the input. Nothing was generated, so the user must never be charged.

    ``kie_message`` is Kie's explanation (usually naming the field).
    """


class RateLimited(KieError):
    """429: more than 20 new generations in 10 s for this key; the request was rejected, not queued."""

    retryable = True


class Maintenance(KieError):
    """455: the service is under maintenance."""

    retryable = True


class ServerError(KieError):
    """500 and other 5xx answered by Kie itself: an internal error, retry later."""

    retryable = True


class GenerationFailed(KieError):
    """501: the generation failed (see ``kie_message``, Kie's ``failMsg``)."""


class FeatureDisabled(KieError):
    """505: the feature is disabled for this account or model."""


class UnexpectedResponse(KieError):
    """The answer could not be understood (not JSON, wrong shape, or an unknown code)."""


class ResultTooLarge(KieError):
    """A result file is larger than the caller's ``max_bytes`` cap; the download was stopped."""


class ResultRefused(KieError):
    """A result URL (or a redirect hop) points where the bot must not go: not https, or a host
    resolving to a loopback, private, link-local, multicast, reserved or unspecified address
    (:mod:`kiebot.kie.result_guard`). Never retried. ``host`` names the host (never the URL, which
    may carry a signed token); ``reason`` is a short code such as ``scheme`` or ``address:private``.
    """

    def __init__(self, message: str, *, host: str, reason: str) -> None:
        super().__init__(message)
        self.host = host
        self.reason = reason


class NetworkError(KieError):
    """The connection failed (refused, reset, TLS, protocol error). Reads retry these themselves."""

    retryable = True


class Timeout(KieError):
    """No answer in time. For reads this is safe to retry; for createTask see SubmitOutcomeUnknown."""

    retryable = True


class SubmitOutcomeUnknown(KieError):
    """createTask may or may not have created a task: the request may have left, no answer came back.

    Re-sending it blindly could pay for the same generation twice, so the client never does.
    The caller keeps the job in its "submitting" state and reconciles: the callback URL carries
    the job's identity, so a task that was in fact created reports back to it; if nothing comes
    back within the job's deadline, the caller decides whether to submit again. ``cause`` is
    ``"timeout"``, ``"network"`` or ``"gateway"`` (a proxy answered 5xx without a Kie envelope).
    """

    def __init__(self, message: str, *, cause: str, http_status: int | None = None) -> None:
        super().__init__(message, code=None, http_status=http_status)
        self.cause = cause


_BY_CODE: dict[int, type[KieError]] = {
    # Veo answers 400 for inputs it refuses (content policy, non-English prompt, unreachable image).
    400: InputRejected,
    401: Unauthorized,
    403: Unauthorized,
    402: InsufficientCredits,
    404: NotFound,
    413: InputRejected,
    422: InputRejected,
    429: RateLimited,
    455: Maintenance,
    501: GenerationFailed,
    505: FeatureDisabled,
}


def error_for_code(code: int, message: str, *, http_status: int | None = None) -> KieError:
    """The error for a non-200 envelope ``code``; other 5xx are :class:`ServerError`."""
    cls = _BY_CODE.get(code)
    if cls is None:
        cls = ServerError if 500 <= code <= 599 else UnexpectedResponse
    return cls(message or f"Kie answered code {code}", code=code, http_status=http_status)
