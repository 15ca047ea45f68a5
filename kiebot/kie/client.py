"""The Kie.ai client: create and poll tasks, credits, file uploads, result downloads.

Built on an injected ``httpx.AsyncClient`` (trio backend), so tests point it at the in-repo fake
server and production at https://api.kie.ai (uploads: https://kieai.redpandaai.co, see
https://docs.kie.ai/file-upload-api/quickstart). Every Kie call sends ``Authorization: Bearer``;
result downloads do not (they go to third-party file hosts that must never see the key).

Retry rules — the expensive call is createTask, which Kie bills:

* createTask is throttled to 20 per 10 s per key (:mod:`kiebot.kie.throttle`). A 429 (rejected,
  not queued) and a connection that was never established are retried after a jittered back-off.
  A timeout, a broken connection after sending, or a gateway 5xx without a Kie envelope raise
  :class:`~kiebot.kie.errors.SubmitOutcomeUnknown` and are **never** re-sent: the task may exist.
* Reads (recordInfo, credits, download-url) and uploads (idempotent: the same ``uploadPath`` +
  ``fileName`` overwrites the file — which is why callers must name files per job, see
  :mod:`kiebot.kie.upload_names`) retry 5xx, 429, 455 and network errors with jittered exponential back-off.

No exception raised here chains an httpx exception (whose ``request`` carries the key) and no
message contains the key or a requested URL.
"""

from __future__ import annotations

import base64
import logging
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, BinaryIO, Final, Protocol

import httpx
import msgspec
import trio

from kiebot.kie.errors import (
    KieError,
    NetworkError,
    NotFound,
    RateLimited,
    ResultRefused,
    ResultTooLarge,
    ServerError,
    SubmitOutcomeUnknown,
    Timeout,
    UnexpectedResponse,
    error_for_code,
)
from kiebot.kie.guard import refuse_telegram_file_urls
from kiebot.kie.result_fetch import ResultFetcher
from kiebot.kie.status import market_status, suno_status, veo_status
from kiebot.kie.throttle import SlidingWindowThrottle
from kiebot.kie.types import (
    CREATE_PATHS,
    CREATED_DECODER,
    CREDIT_PATH,
    CREDITS_DECODER,
    DOWNLOAD_URL_PATH,
    ENCODER,
    ENVELOPE_DECODER,
    MARKET_DECODER,
    RECORD_PATHS,
    SUNO_DECODER,
    TEXT_DECODER,
    UPLOAD_BASE64_PATH,
    UPLOAD_STREAM_PATH,
    UPLOAD_URL_PATH,
    UPLOADED_DECODER,
    VEO_DECODER,
    Envelope,
    Family,
    TaskStatus,
)

if TYPE_CHECKING:
    from kiebot.kie.catalogue import CatalogueClient
    from kiebot.kie.pacing import Pacer

class ByteSink(Protocol):
    """Where a streamed download goes, chunk by chunk (e.g. ``kiebot.generation.media_file.MediaFile``):
    memory for the whole file is the sink's business, not the client's."""

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


log = logging.getLogger("kiebot.kie")

DEFAULT_API_URL: Final = "https://api.kie.ai"
DEFAULT_UPLOAD_URL: Final = "https://kieai.redpandaai.co"
_MAX_MESSAGE: Final = 500


@dataclass(frozen=True)
class RetryPolicy:
    """``attempts`` tries in all, sleeping ``base_delay_s * 2**n`` (capped) with equal jitter between."""

    attempts: int = 4
    base_delay_s: float = 0.5
    max_delay_s: float = 8.0

    def delay(self, retry: int, rng: random.Random) -> float:
        full = min(self.max_delay_s, self.base_delay_s * 2.0**retry)
        return full / 2 + rng.uniform(0, full / 2)


@dataclass(frozen=True)
class _Failure:
    """An httpx transport exception reduced to what is safe to keep: its kind and class name.

    ``kind``: ``connect`` (the request never left: connect error/timeout, pool timeout),
    ``timeout`` (no answer in time after sending), ``network`` (anything else on the wire).
    """

    kind: str
    name: str

    @classmethod
    def of(cls, exc: httpx.HTTPError) -> _Failure:
        if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout):
            return cls("connect", type(exc).__name__)
        if isinstance(exc, httpx.TimeoutException):
            return cls("timeout", type(exc).__name__)
        return cls("network", type(exc).__name__)

    def error(self, what: str) -> KieError:
        if self.kind == "timeout":
            return Timeout(f"{what}: no answer in time ({self.name})")
        return NetworkError(f"{what}: {self.name}")


class KieClient:
    """One Kie account (API key) over an injected ``httpx.AsyncClient``.

    Args:
        http: the transport; its own base URL and default headers are not used.
        api_key: the Bearer key; it is sent only to ``api_url`` and ``upload_url``.
        api_url: base of the v1 API (``KIE_API_URL``).
        upload_url: base of the file upload API (``KIE_UPLOAD_URL``).
        timeout: seconds for each network phase of a Kie call (connect, write, read).
        upload_timeout: the same for uploads and result downloads.
        throttle: the createTask window; share one per key if several clients use it.
        read_retry: back-off for reads and uploads.
        create_retry: back-off for createTask after a 429 or a refused connection.
        rng: jitter source (inject a seeded one in tests).
        observer: called after every attempt as ``observer(endpoint, code)`` — endpoint one of
            ``create.<family>``, ``record.<family>``, ``credit``, ``download-url``,
            ``upload.stream|base64|url``, ``result``; code Kie's code or HTTP status as text, or
            ``connect``/``timeout``/``network``/``refused``. For metrics; it must not raise.
        results: downloads result files (https only, public addresses only, connection pinned
            to the checked address: :mod:`kiebot.kie.result_fetch`); the default trusts no host.
            It does not use ``http``.
    """

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        api_key: str,
        api_url: str = DEFAULT_API_URL,
        upload_url: str = DEFAULT_UPLOAD_URL,
        timeout: float = 30.0,
        upload_timeout: float = 120.0,
        throttle: SlidingWindowThrottle | None = None,
        read_retry: RetryPolicy | None = None,
        create_retry: RetryPolicy | None = None,
        rng: random.Random | None = None,
        observer: Callable[[str, str], None] | None = None,
        results: ResultFetcher | None = None,
    ) -> None:
        if not api_key:
            raise ValueError("api_key is empty")
        self._http = http
        self._key = api_key
        self._api_url = api_url.rstrip("/")
        self._upload_url = upload_url.rstrip("/")
        self._timeout = httpx.Timeout(timeout)
        self._upload_timeout = httpx.Timeout(upload_timeout)
        self.throttle = throttle or SlidingWindowThrottle(20, 10.0)
        self._read_retry = read_retry or RetryPolicy()
        self._create_retry = create_retry or RetryPolicy(attempts=5, base_delay_s=2.0, max_delay_s=16.0)
        self._rng = rng or random.Random()
        self._observer = observer
        self._results = results or ResultFetcher()

    def __repr__(self) -> str:
        return f"KieClient(api_url={self._api_url!r}, upload_url={self._upload_url!r})"

    def catalogue(self, pacer: Pacer | None = None) -> CatalogueClient:
        """A client of Kie's free catalogue API (models, price, schema, success-rate) for the same
        account and transport; share ``pacer`` between its users (one 1 request/s budget)."""
        from kiebot.kie.catalogue import CatalogueClient

        return CatalogueClient(self._http, api_key=self._key, api_url=self._api_url, pacer=pacer)

    # ---- tasks ---------------------------------------------------------------------------

    async def create_task(self, family: Family, body: Mapping[str, Any], *, callback_url: str | None) -> str:
        """Submit a generation; returns Kie's task id. The task is queued, not finished.

        ``body`` is the family's create body without ``callBackUrl`` (market:
        ``{"model", "input"}``; Veo and Suno: their flat bodies); ``callback_url`` is added as
        ``callBackUrl`` (always send one: some market models fail without it and Suno requires
        it; ``None`` leaves it out, for poll-only setups).

        Record the job as "submitting" before calling: if the surrounding cancel scope fires
        while the request is in flight, the outcome is just as unknown as after a timeout.

        Raises:
            ValueError: the body holds a Telegram file URL, or the family is unknown.
            SubmitOutcomeUnknown: the request may have reached Kie but no answer came back.
                Never retried here: reconcile instead.
            RateLimited: Kie kept answering 429 through every back-off.
            InputRejected, InsufficientCredits, Unauthorized, Maintenance, ServerError, ...:
                Kie's answer (see :mod:`kiebot.kie.errors`).
        """
        path = CREATE_PATHS.get(family)
        if path is None:
            raise ValueError(f"unknown Kie family {family!r}")
        payload = dict(body)
        if callback_url is not None:
            payload["callBackUrl"] = callback_url
        refuse_telegram_file_urls(payload)
        content = ENCODER.encode(payload)
        what = f"create.{family}"
        policy = self._create_retry
        for attempt in range(policy.attempts):
            await self.throttle.acquire()
            request = self._api_request("POST", path, content=content)
            outcome = await self._send(request)
            self._observe(what, outcome)
            if isinstance(outcome, _Failure):
                if outcome.kind != "connect":
                    raise SubmitOutcomeUnknown(
                        f"{what}: {outcome.name} after the request may have been sent; not re-sent",
                        cause=outcome.kind,
                    )
                error: KieError = outcome.error(what)
                retry_after = None
            else:
                if outcome.status_code >= 500 and not _looks_like_envelope(outcome.content):
                    raise SubmitOutcomeUnknown(
                        f"{what}: HTTP {outcome.status_code} without a Kie answer; not re-sent",
                        cause="gateway",
                        http_status=outcome.status_code,
                    )
                try:
                    envelope = self._envelope(outcome, what)
                except RateLimited as exc:
                    error, retry_after = exc, _retry_after(outcome)
                else:
                    return self._task_id(envelope, what)
            if attempt + 1 >= policy.attempts:
                raise error
            delay = max(policy.delay(attempt, self._rng), retry_after or 0.0)
            log.warning("kie %s: %s, retrying in %.2f s", what, type(error).__name__, delay)
            await trio.sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    def _task_id(self, envelope: Envelope, what: str) -> str:
        try:
            task_id = CREATED_DECODER.decode(envelope.data).id
        except msgspec.DecodeError:
            task_id = None
        if not task_id:
            # Kie said "success" but gave no id: a task may exist that we cannot name.
            raise SubmitOutcomeUnknown(f"{what}: success without a task id", cause="malformed")
        return task_id

    async def get_task(self, family: Family, task_id: str) -> TaskStatus:
        """The task's current status (recordInfo / record-info). Retries 5xx and network errors.

        Raises:
            NotFound: Kie has no such task (or answered without a record).
        """
        path = RECORD_PATHS.get(family)
        if path is None:
            raise ValueError(f"unknown Kie family {family!r}")
        if not task_id:
            raise ValueError("task_id is empty")
        what = f"record.{family}"
        envelope = await self._read(lambda: self._api_request("GET", path, params={"taskId": task_id}), what)
        if bytes(envelope.data).strip() in (b"", b"null"):
            raise NotFound(f"{what}: no record for this task", code=404)
        try:
            if family == "market":
                return market_status(MARKET_DECODER.decode(envelope.data), fallback_task_id=task_id)
            if family == "veo":
                return veo_status(VEO_DECODER.decode(envelope.data), fallback_task_id=task_id)
            return suno_status(SUNO_DECODER.decode(envelope.data), fallback_task_id=task_id)
        except msgspec.DecodeError as exc:
            raise UnexpectedResponse(f"{what}: {_first_line(exc)}") from None

    async def remaining_credits(self) -> int:
        """The account's remaining credits (``GET /api/v1/chat/credit``, https://docs.kie.ai/common-api)."""
        what = "credit"
        envelope = await self._read(lambda: self._api_request("GET", CREDIT_PATH), what)
        try:
            return int(CREDITS_DECODER.decode(envelope.data))
        except msgspec.DecodeError as exc:
            raise UnexpectedResponse(f"{what}: {_first_line(exc)}") from None

    async def download_url(self, kie_url: str) -> str:
        """A temporary (20 min) download link for a Kie-generated file URL.

        ``POST /api/v1/common/download-url`` (https://docs.kie.ai/common-api/download-url);
        Kie answers 422 (:class:`~kiebot.kie.errors.InputRejected`) for URLs it did not generate.
        """
        refuse_telegram_file_urls(kie_url, "url")
        content = ENCODER.encode({"url": kie_url})
        what = "download-url"
        envelope = await self._read(
            lambda: self._api_request("POST", DOWNLOAD_URL_PATH, content=content), what
        )
        try:
            return TEXT_DECODER.decode(envelope.data)
        except msgspec.DecodeError as exc:
            raise UnexpectedResponse(f"{what}: {_first_line(exc)}") from None

    # ---- uploads (https://docs.kie.ai/file-upload-api/quickstart; files are kept 3 days) ------

    async def upload_stream(
        self, data: bytes | BinaryIO, *, file_name: str, mime_type: str, upload_path: str = "kiebot"
    ) -> str:
        """Upload bytes as multipart (``POST /api/file-stream-upload``); returns the download URL.

        ``data`` may be a seekable file object: httpx then sends it in 64 KiB pieces (and rewinds
        it for a retry), so the file need not be in memory.

        ``upload_path`` + ``file_name`` is the file's identity at Kie: an upload under a used pair
        replaces that file, also under a task that has not read it yet. Give each job its own
        (:class:`kiebot.kie.upload_names.JobUploads`); never a name a user chose.
        """
        files = {"file": (file_name, data, mime_type)}
        form = {"uploadPath": upload_path, "fileName": file_name}
        return await self._upload(
            lambda: self._upload_request(UPLOAD_STREAM_PATH, files=files, data=form), "upload.stream"
        )

    async def upload_base64(
        self, data: bytes, *, file_name: str, mime_type: str, upload_path: str = "kiebot"
    ) -> str:
        """Upload small bytes as a base64 data URL (``POST /api/file-base64-upload``)."""
        encoded = base64.b64encode(data).decode("ascii")
        content = ENCODER.encode(
            {
                "base64Data": f"data:{mime_type};base64,{encoded}",
                "uploadPath": upload_path,
                "fileName": file_name,
            }
        )
        return await self._upload(
            lambda: self._upload_request(UPLOAD_BASE64_PATH, content=content), "upload.base64"
        )

    async def upload_from_url(self, url: str, *, file_name: str, upload_path: str = "kiebot") -> str:
        """Have Kie fetch a public URL (``POST /api/file-url-upload``; 30 s download limit there).

        Raises ValueError for a Telegram file URL (it carries the bot token).
        """
        refuse_telegram_file_urls(url, "url")
        content = ENCODER.encode({"fileUrl": url, "uploadPath": upload_path, "fileName": file_name})
        return await self._upload(
            lambda: self._upload_request(UPLOAD_URL_PATH, content=content), "upload.url"
        )

    async def _upload(self, build: Callable[[], httpx.Request], what: str) -> str:
        envelope = await self._read(build, what)
        if envelope.success is False:
            raise UnexpectedResponse(f"{what}: {self._scrub(envelope.text) or 'success=false'}")
        try:
            link = UPLOADED_DECODER.decode(envelope.data).link
        except msgspec.DecodeError as exc:
            raise UnexpectedResponse(f"{what}: {_first_line(exc)}") from None
        if not link:
            raise UnexpectedResponse(f"{what}: no download URL in the answer")
        return link

    # ---- results -------------------------------------------------------------------------

    async def fetch_result(self, url: str, *, max_bytes: int) -> bytes:
        """A result file's bytes (:meth:`fetch_result_into` a buffer in memory): for small files."""
        sink = _BytesSink()
        await self.fetch_result_into(url, sink, max_bytes=max_bytes)
        return bytes(sink.data)

    async def fetch_result_into(self, url: str, sink: ByteSink, *, max_bytes: int) -> int:
        """Download a result file into ``sink``, streamed and capped at ``max_bytes``; its size.

        Chunks go to the sink as they arrive, so the client holds one chunk at a time; a retry
        resets the sink first.

        Result URLs expire (~24 h, https://docs.kie.ai/market/common/get-task-detail), so fetch
        at once. No ``Authorization`` header is sent: file hosts are not Kie's API. Only https
        to public addresses, every redirect hop checked again (:mod:`kiebot.kie.result_fetch`).
        Network errors and 5xx are retried; a 404/410 is :class:`~kiebot.kie.errors.NotFound`.

        Raises:
            ResultTooLarge: the file is (or is announced as) larger than ``max_bytes``.
            ResultRefused: the URL or a redirect points at http, a private address, or too far.
        """
        if not url.lower().startswith(("https://", "http://")):
            raise ValueError("result URL must be http(s)")
        what = "result"
        policy = self._read_retry
        for attempt in range(policy.attempts):
            failure: _Failure | None = None
            status = 0
            invalid = False
            if attempt:
                await sink.reset()
            try:
                async with self._results.stream(url, timeout=self._upload_timeout) as response:
                    self._observe(what, response)
                    if response.status_code == 200:
                        return await _stream_capped(response, sink, max_bytes)
                    status = response.status_code
            except ResultRefused:
                self._observe(what, _Failure("refused", "ResultRefused"))
                raise
            except httpx.HTTPError as exc:
                failure = _Failure.of(exc)
                self._observe(what, failure)
            except httpx.InvalidURL:
                invalid = True
            if invalid:
                raise ValueError("result URL is not a valid URL")
            error = failure.error(what) if failure is not None else _plain_http_error(status, what)
            if not error.retryable or attempt + 1 >= policy.attempts:
                raise error
            await self._back_off(policy, attempt, what, error)
        raise AssertionError("unreachable")  # pragma: no cover

    # ---- plumbing ------------------------------------------------------------------------

    def _api_request(self, method: str, path: str, **kwargs: Any) -> httpx.Request:
        return self._http.build_request(
            method,
            self._api_url + path,
            headers=self._headers(json=method == "POST"),
            timeout=self._timeout,
            **kwargs,
        )

    def _upload_request(self, path: str, **kwargs: Any) -> httpx.Request:
        json_body = "content" in kwargs
        return self._http.build_request(
            "POST",
            self._upload_url + path,
            headers=self._headers(json=json_body),
            timeout=self._upload_timeout,
            **kwargs,
        )

    def _headers(self, *, json: bool) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {self._key}", "Accept": "application/json"}
        if json:
            headers["Content-Type"] = "application/json"
        return headers

    async def _send(self, request: httpx.Request) -> httpx.Response | _Failure:
        """Send; an httpx error comes back as a :class:`_Failure` so nothing chains it."""
        try:
            return await self._http.send(request)
        except httpx.HTTPError as exc:
            return _Failure.of(exc)

    async def _read(self, build: Callable[[], httpx.Request], what: str) -> Envelope:
        """Send a safe-to-repeat request, retrying retryable errors; returns the 200 envelope."""
        policy = self._read_retry
        for attempt in range(policy.attempts):
            outcome = await self._send(build())
            self._observe(what, outcome)
            if isinstance(outcome, _Failure):
                error = outcome.error(what)
            else:
                try:
                    return self._envelope(outcome, what)
                except KieError as exc:
                    error = exc
            if not error.retryable or attempt + 1 >= policy.attempts:
                raise error
            await self._back_off(policy, attempt, what, error)
        raise AssertionError("unreachable")  # pragma: no cover

    def _observe(self, what: str, outcome: httpx.Response | _Failure) -> None:
        """Report one attempt: Kie's envelope code (else the HTTP status), or the failure kind."""
        if self._observer is None:
            return
        if isinstance(outcome, _Failure):
            code = outcome.kind
        else:
            try:
                envelope_code = ENVELOPE_DECODER.decode(outcome.content).code
            except (msgspec.DecodeError, httpx.ResponseNotRead):
                envelope_code = None
            if envelope_code is None or (envelope_code == 200 and outcome.status_code >= 300):
                code = str(outcome.status_code)  # as _envelope decides: no envelope, or HTTP wins
            else:
                code = str(envelope_code)
        self._observer(what, code)

    async def _back_off(self, policy: RetryPolicy, attempt: int, what: str, error: KieError) -> None:
        delay = policy.delay(attempt, self._rng)
        log.warning("kie %s: %s, retrying in %.2f s", what, type(error).__name__, delay)
        await trio.sleep(delay)

    def _envelope(self, response: httpx.Response, what: str) -> Envelope:
        """The decoded envelope of a successful answer, or the typed error for Kie's code."""
        try:
            envelope = ENVELOPE_DECODER.decode(response.content)
        except msgspec.DecodeError:
            if response.status_code != 200:
                raise _plain_http_error(response.status_code, what) from None
            raise UnexpectedResponse(f"{what}: the answer is not a Kie envelope", http_status=200) from None
        code = envelope.code if envelope.code is not None else response.status_code
        if code == 200 and response.status_code < 300:
            return envelope
        if code == 200:  # an HTTP error status around a "success" body: trust HTTP
            code = response.status_code
        message = self._scrub(envelope.text)
        raise error_for_code(
            code, f"{what}: {message}" if message else what, http_status=response.status_code
        )

    def _scrub(self, text: str) -> str:
        return text.replace(self._key, "***")[:_MAX_MESSAGE]


def _looks_like_envelope(content: bytes) -> bool:
    try:
        return ENVELOPE_DECODER.decode(content).code is not None
    except msgspec.DecodeError:
        return False


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After", "")
    try:
        return min(max(float(value), 0.0), 60.0) if value else None
    except ValueError:
        return None


def _plain_http_error(status: int, what: str) -> KieError:
    """An HTTP status without a Kie envelope (a proxy, a file host)."""
    if status in (404, 410):
        return NotFound(f"{what}: HTTP {status}", http_status=status)
    if status >= 500:
        return ServerError(f"{what}: HTTP {status}", http_status=status)
    if status == 429:
        return RateLimited(f"{what}: HTTP 429", http_status=status)
    return error_for_code(status, f"{what}: HTTP {status}", http_status=status)


async def _stream_capped(response: httpx.Response, sink: ByteSink, max_bytes: int) -> int:
    announced = response.headers.get("Content-Length")
    if announced and announced.isdigit() and int(announced) > max_bytes:
        raise ResultTooLarge(f"result is {announced} bytes, the cap is {max_bytes}")
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > max_bytes:
            raise ResultTooLarge(f"result exceeds the cap of {max_bytes} bytes")
        await sink.write(chunk)
    return size


def _first_line(exc: Exception) -> str:
    return str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
