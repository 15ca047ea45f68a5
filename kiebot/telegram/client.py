"""The Bot API client: the generic :meth:`TelegramClient.call` (transport, flood control, retries) and
file downloads; the typed method per Bot API call lives in :mod:`kiebot.telegram.methods`.

https://core.telegram.org/bots/api#making-requests. The transport is an injected
``httpx.AsyncClient`` (tests pass one with ``MockTransport`` or point it at a fake server); request
bodies are built by :mod:`kiebot.telegram.payload`, errors mapped by :mod:`kiebot.telegram.errors`,
and every call runs inside a slot of the shared :class:`~kiebot.telegram.limiter.FloodLimiter`.

Retries (bounded by ``max_retries``):

* 429 — Telegram did not run the request: the pause goes into the limiter (so every caller to that
  chat waits with us) and the call is repeated, unless ``retry_after`` exceeds ``max_retry_after``;
* 5xx and transport failures — repeated with jittered exponential back-off only when the call is
  ``safe_to_retry`` (reads, answers, edits, deletes, settings) or when the request surely never left
  (a connection that could not be opened); a ``send*`` that may have been delivered is not repeated,
  so a user never gets a message twice.

The bot token is in every request URL, so it never leaves this module: exceptions carry the method
name and Telegram's description only, httpx errors are re-raised as :class:`NetworkError` with a
sanitised text and no ``__cause__``/``__context__``, logs name the method, and ``repr`` hides it.
"""

from __future__ import annotations

import logging
import random
import re
from collections.abc import Callable, Mapping
from typing import Any, Final, Generic, Protocol, TypeVar

import httpx
import msgspec
import trio

from kiebot.telegram.errors import (
    FileTooLarge,
    InvalidResponse,
    NetworkError,
    RetryAfter,
    ServerError,
    TelegramError,
    error_from_envelope,
)
from kiebot.telegram.limiter import ChatId, FloodLimiter
from kiebot.telegram.limits import MAX_DOWNLOAD_BYTES
from kiebot.telegram.methods import BotApiMethods
from kiebot.telegram.payload import RequestBody, build_body, clean_params
from kiebot.telegram.types import InputFile

log = logging.getLogger("kiebot.telegram")

T = TypeVar("T")

DEFAULT_BASE_URL: Final = "https://api.telegram.org"

OnCall = Callable[[str, str, float], None]
"""``on_call(method, outcome, seconds)`` after every HTTP attempt; outcome is one of ``ok``,
``retry_after``, ``server_error``, ``network_error``, ``error``."""

OnRetryAfter = Callable[[str, float], None]
"""``on_retry_after(method, seconds)`` whenever Telegram asks to wait."""

_TOKEN_RE: Final = re.compile(r"^\d+:[A-Za-z0-9_-]+$")


class _HideTokenInHttpxLogs(logging.Filter):
    """httpx logs every request line at INFO, and a Bot API URL is ``/bot<token>/<method>``.
    This filter, attached to the ``httpx`` logger, rewrites such records before any handler
    sees them, whatever the logging configuration of the program using this client."""

    def __init__(self) -> None:
        super().__init__("kiebot.telegram.hide-token")
        self.tokens: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        if self.tokens:
            text = record.getMessage()
            if any(token in text for token in self.tokens):
                for token in self.tokens:
                    text = text.replace(token, "***")
                record.msg, record.args = text, None
        return True


_HIDE_TOKEN = _HideTokenInHttpxLogs()
logging.getLogger("httpx").addFilter(_HIDE_TOKEN)
_ERROR_BODY_LIMIT: Final = 65_536


class _Ok(msgspec.Struct, Generic[T]):
    ok: bool
    result: T


_decoders: dict[Any, msgspec.json.Decoder[Any]] = {}


def _decoder(result_type: Any) -> msgspec.json.Decoder[Any]:
    """One ``{"ok": true, "result": T}`` decoder per result type, built on first use and kept."""
    decoder = _decoders.get(result_type)
    if decoder is None:
        decoder = _decoders[result_type] = msgspec.json.Decoder(_Ok[result_type])
    return decoder


class ByteSink(Protocol):
    """Where :meth:`TelegramClient.download_file_into` writes, chunk by chunk (e.g.
    ``kiebot.generation.media_file.MediaFile``): memory for the whole file is the sink's business."""

    async def write(self, data: bytes) -> None: ...

    async def reset(self) -> None:
        """Forget what was written: the download starts over (a retry)."""
        ...


class _BytesSink:
    def __init__(self) -> None:
        self.data = bytearray()

    async def write(self, data: bytes) -> None:
        self.data += data

    async def reset(self) -> None:
        self.data = bytearray()


class JsonPoster(Protocol):
    """Sends one JSON POST and returns (status, body), raising httpx's transport exceptions:
    :meth:`kiebot.telegram.lean_http.LeanTransport.post_json`, the JSON calls' path around
    httpx's client layers (issue 18)."""

    async def post_json(self, url: str, body: bytes, phases: httpx.Timeout) -> tuple[int, bytes]: ...


_NOT_SENT: Final = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.UnsupportedProtocol)


class TelegramClient(BotApiMethods):
    """A typed, flood-controlled Bot API client over an injected ``httpx.AsyncClient``; the typed
    methods come from :class:`~kiebot.telegram.methods.BotApiMethods`."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        token: str,
        *,
        base_url: str = DEFAULT_BASE_URL,
        limiter: FloodLimiter | None = None,
        max_retries: int = 3,
        max_retry_after: float = 60.0,
        backoff_base: float = 0.5,
        backoff_cap: float = 10.0,
        on_call: OnCall | None = None,
        on_retry_after: OnRetryAfter | None = None,
        rng: random.Random | None = None,
        json_poster: JsonPoster | None = None,
    ) -> None:
        """``json_poster``: sends the JSON calls (all but uploads and downloads) instead of
        ``http``; the same transport's path without httpx's client around it."""
        if not _TOKEN_RE.match(token):
            raise ValueError("the bot token does not look like <digits>:<secret>")
        _HIDE_TOKEN.tokens.add(token)
        if max_retries < 0:
            raise ValueError("max_retries must be >= 0")
        self._http = http
        self._json_poster = json_poster
        self._token = token
        self._base_url = base_url.rstrip("/")
        self._api_prefix = f"{self._base_url}/bot{token}/"
        self._file_prefix = f"{self._base_url}/file/bot{token}/"
        self.limiter = limiter if limiter is not None else FloodLimiter()
        self.max_retries = max_retries
        self.max_retry_after = max_retry_after
        self._backoff_base = backoff_base
        self._backoff_cap = backoff_cap
        self._on_call = on_call
        self._on_retry_after = on_retry_after
        self._rng = rng or random.Random()

    def __repr__(self) -> str:
        return f"TelegramClient(base_url={self._base_url!r}, bot_id={self.bot_id}, token=***)"

    @property
    def bot_id(self) -> int:
        """The bot's user id: the public part of the token before the colon."""
        return int(self._token.split(":", 1)[0])

    # -- the generic call ----------------------------------------------------------------------

    async def call(
        self,
        method: str,
        params: Mapping[str, object | None] | None,
        result_type: type[T],
        *,
        files: Mapping[str, InputFile] | None = None,
        chat_id: ChatId | None = None,
        safe_to_retry: bool,
        bulk: bool = False,
        read_timeout: float | None = None,
    ) -> T:
        """Call ``method`` and decode its ``result`` as ``result_type``.

        ``params`` with value ``None`` are left out. ``files`` switches the body to multipart.
        ``chat_id`` is the flood-control key (usually the ``chat_id`` parameter). ``bulk`` puts a
        broadcast message in the limiter's lower-priority lane.
        """
        body = build_body(clean_params(params or {}), files)
        decoder = _decoder(result_type)
        # One slot for the whole logical call: a retry keeps this chat's place in line, so a later
        # message to the same chat never overtakes a message that met a 429 or a 5xx.
        async with self.limiter.slot(method, chat_id, bulk=bulk) as permit:
            attempt = 0
            while True:
                started = trio.current_time()
                outcome = await self._post(method, body, read_timeout)
                error: TelegramError
                if isinstance(outcome, NetworkError):
                    self._record(method, "network_error", started)
                    error, retry = outcome, safe_to_retry or not outcome.maybe_sent
                else:
                    status, content = outcome
                    result = self._decode(method, status, content, decoder)
                    if not isinstance(result, TelegramError):
                        self._record(method, "ok", started)
                        return result.result  # type: ignore[no-any-return]
                    error = result
                    if isinstance(result, RetryAfter):
                        # Telegram did not run the request: repeating it is always safe.
                        self._record(method, "retry_after", started)
                        self.limiter.retry_after(method, chat_id, result.retry_after)
                        if self._on_retry_after is not None:
                            self._safely(self._on_retry_after, method, float(result.retry_after))
                        retry = result.retry_after <= self.max_retry_after
                    elif isinstance(result, ServerError):
                        self._record(method, "server_error", started)
                        retry = safe_to_retry
                    else:
                        self._record(method, "error", started)
                        retry = False
                if not retry or attempt >= self.max_retries:
                    raise error
                attempt += 1
                if isinstance(error, RetryAfter):
                    delay = 0.0  # the limiter's pause holds us, and everyone sending to this chat
                    extra = {
                        "method": method,
                        "reason": "retry_after",
                        "seconds": error.retry_after,
                        "attempt": attempt,
                    }
                else:
                    delay = self._backoff_delay(attempt)
                    extra = {
                        "method": method,
                        "reason": type(error).__name__,
                        "seconds": round(delay, 3),
                        "attempt": attempt,
                    }
                log.info("telegram retry", extra=extra)
                await permit.again(after=delay)

    def _decode(
        self, method: str, status: int, content: bytes, decoder: msgspec.json.Decoder[Any]
    ) -> _Ok[Any] | TelegramError:
        if status == 200:
            try:
                ok: _Ok[Any] = decoder.decode(content)
            except msgspec.DecodeError:
                pass
            else:
                if ok.ok:
                    return ok
        error = error_from_envelope(method, status, content)
        if status == 200 and type(error) is TelegramError:
            # A 200 whose result we cannot read: the call may well have done its work, so it is not
            # retried; the shape is reported without the body (which may hold user data).
            return InvalidResponse(method, status, "unexpected result shape")
        return error

    async def _post(
        self, method: str, body: RequestBody, read_timeout: float | None
    ) -> tuple[int, bytes] | NetworkError:
        """One HTTP attempt. Transport failures are *returned*, so they are raised later outside any
        ``except`` block and carry no httpx exception (whose URL holds the token) as context."""
        url = self._api_prefix + method
        timeout: httpx.Timeout | None = None
        if read_timeout is not None:
            base = self._http.timeout
            timeout = httpx.Timeout(connect=base.connect, read=read_timeout, write=base.write, pool=base.pool)
        kwargs: dict[str, Any] = {} if timeout is None else {"timeout": timeout}
        try:
            if self._json_poster is not None and body.json is not None and not body.is_multipart:
                return await self._json_poster.post_json(url, body.json, timeout or self._http.timeout)
            if body.is_multipart:
                response = await self._http.post(url, data=body.form, files=body.files, **kwargs)
            else:
                response = await self._http.post(
                    url, content=body.json, headers={"Content-Type": "application/json"}, **kwargs
                )
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            return self._network_error(method, exc)
        return response.status_code, response.content

    def _network_error(self, method: str, exc: Exception) -> NetworkError:
        return NetworkError(
            method,
            f"{type(exc).__name__}: {self._sanitise(str(exc))}".rstrip(": "),
            maybe_sent=not isinstance(exc, _NOT_SENT),
        )

    def _sanitise(self, text: str) -> str:
        """Drop the token (plain or percent-encoded) from a third-party message, and keep it short."""
        for secret in (self._token, self._token.replace(":", "%3A"), self._token.replace(":", "%3a")):
            text = text.replace(secret, "***")
        return text[:200]

    def _backoff_delay(self, attempt: int) -> float:
        """Full jitter: uniform in [0, min(cap, base * 2^attempt)], so retrying instances spread out."""
        return self._rng.uniform(0, min(self._backoff_cap, self._backoff_base * 2**attempt))

    def _record(self, method: str, outcome: str, started: float) -> None:
        seconds = trio.current_time() - started
        log.debug(
            "telegram call",
            extra={"method": method, "outcome": outcome, "duration_ms": round(seconds * 1000, 1)},
        )
        if self._on_call is not None:
            self._safely(self._on_call, method, outcome, seconds)

    @staticmethod
    def _safely(hook: Callable[..., None], *args: object) -> None:
        try:
            hook(*args)
        except Exception:
            log.exception("telegram call hook failed")

    async def download_file(self, file_path: str, *, max_bytes: int = MAX_DOWNLOAD_BYTES) -> bytes:
        """Download ``File.file_path`` into memory (:meth:`download_file_into` a buffer)."""
        sink = _BytesSink()
        await self.download_file_into(file_path, sink, max_bytes=max_bytes)
        return bytes(sink.data)

    async def download_file_into(self, file_path: str, sink: ByteSink, *, max_bytes: int = MAX_DOWNLOAD_BYTES) -> int:
        """Download ``File.file_path`` into ``sink`` chunk by chunk; returns its size (bots may
        download ≤ 20 MB, https://core.telegram.org/bots/api#getfile).

        The URL embeds the token, so it is built and used here only. Refuses (FileTooLarge) as soon
        as the declared or received size passes ``max_bytes``, without reading the rest. A retry
        resets the sink first.
        """
        if not file_path or file_path.startswith("/") or ".." in file_path.split("/") or "://" in file_path:
            raise ValueError("not a Bot API file path")
        method = "downloadFile"
        async with self.limiter.slot(method, None) as permit:
            attempt = 0
            while True:
                started = trio.current_time()
                if attempt:
                    await sink.reset()
                outcome = await self._download_once(method, self._file_prefix + file_path, max_bytes, sink)
                if isinstance(outcome, int):
                    self._record(method, "ok", started)
                    return outcome
                self._record(method, _outcome_name(outcome), started)
                if not isinstance(outcome, NetworkError | ServerError) or attempt >= self.max_retries:
                    raise outcome
                attempt += 1
                delay = self._backoff_delay(attempt)
                log.info(
                    "telegram retry",
                    extra={
                        "method": method,
                        "reason": type(outcome).__name__,
                        "seconds": round(delay, 3),
                        "attempt": attempt,
                    },
                )
                await permit.again(after=delay)

    async def _download_once(self, method: str, url: str, max_bytes: int, sink: ByteSink) -> int | TelegramError:
        try:
            async with self._http.stream("GET", url) as response:
                if response.status_code != 200:
                    head = await _read_at_most(response, _ERROR_BODY_LIMIT)
                    return error_from_envelope(method, response.status_code, head or b"")
                declared = response.headers.get("content-length")
                if declared is not None and declared.isdigit() and int(declared) > max_bytes:
                    return FileTooLarge(method, max_bytes)
                size = 0
                async for chunk in response.aiter_bytes():
                    size += len(chunk)
                    if size > max_bytes:
                        return FileTooLarge(method, max_bytes)
                    await sink.write(chunk)
                return size
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            return self._network_error(method, exc)


def _outcome_name(error: TelegramError) -> str:
    if isinstance(error, RetryAfter):
        return "retry_after"
    if isinstance(error, ServerError):
        return "server_error"
    if isinstance(error, NetworkError):
        return "network_error"
    return "error"


async def _read_at_most(response: httpx.Response, limit: int) -> bytes | None:
    """The body, or None as soon as it passes ``limit`` bytes (the rest is never read)."""
    chunks = bytearray()
    async for chunk in response.aiter_bytes():
        chunks += chunk
        if len(chunks) > limit:
            return None
    return bytes(chunks)
