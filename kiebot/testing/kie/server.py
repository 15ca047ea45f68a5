"""A fake Kie.ai server speaking real HTTP, for tests, ``KIE_STUB=1`` and the browser sandbox.

It serves the v1 API and the upload API on one base URL (use it as both ``KIE_API_URL`` and
``KIE_UPLOAD_URL``), keeps state (tasks with their request bodies, credits, uploaded files),
checks the Bearer key and inputs like Kie (401, 422 naming the field, 402 when credits run out,
429 past 20 creates per 10 s), runs each task for a realistic time scaled by ``speed``, then POSTs
the family's exact callback body (signed with ``X-Webhook-Timestamp``/``X-Webhook-Signature``
when an HMAC key is set) and serves real result files (a PNG in the prompt's colour, an MP4, an
MP3) from its own URLs.

Usage::

    fake = FakeKie(api_key="k", speed=0.01)
    async with trio.open_nursery() as nursery:
        base_url = await nursery.start(fake.serve)
        fake.script("google/nano-banana", outcome="fail", message="NSFW content")
        fake.fail_next_create(status=402)
        fake.delay_next("create", 5.0)       # the task is created, the answer comes 5 s late
        fake.duplicate_callbacks = True
        fake.bill_next("google/imagen4-ultra", credits=120)   # billed 120 credits, not 12
        ...
        fake.requests["/api/v1/jobs/createTask"]   # requests per endpoint path

Scripting (``script``, ``bill_next``, ``fail_next``, ``delay_next``) is consumed in order, one entry per
matching request, ``times`` times.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import logging
import re
import secrets
import time
from collections import Counter, deque
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

import httpx
import trio
from quart import Response, request
from quart_trio import QuartTrio

from kiebot.kie.guard import find_telegram_file_url
from kiebot.kie.types import Family
from kiebot.runtime.serving import hypercorn_config, start_serving
from kiebot.testing.kie import media as kie_media
from kiebot.testing.kie.catalogue import FakeCatalogue
from kiebot.testing.kie.inputs import InputReader, input_urls
from kiebot.testing.kie.registry import registry_pricer, registry_profile, registry_validator
from kiebot.testing.kie.rules import (
    DEFAULT_PRICES,
    DURATIONS_S,
    Kind,
    Profile,
    Profiler,
    Validator,
    check_market_body,
    check_suno_body,
    check_veo_body,
    guess_profile,
    prompt_of,
)
from kiebot.testing.kie.tasks import BillScript, FakeTask, Fault, Outcome, Script, callback_body, record_body

log = logging.getLogger("kiebot.testing.kie.server")

UNAUTHORIZED_MSG: Final = "You do not have access permissions"
Endpoint = Literal["create", "record", "credit", "download-url", "upload", "file", "catalog"]
#: ``pricer(family, model, payload) -> credits`` (None: use the default for the task's kind).
Pricer = Callable[[str, str, Mapping[str, Any]], float | None]

_CREATE_ROUTES: Final[dict[str, Family]] = {
    "/api/v1/jobs/createTask": "market",
    "/api/v1/veo/generate": "veo",
    "/api/v1/generate": "suno",
}
_RECORD_ROUTES: Final[dict[str, Family]] = {
    "/api/v1/jobs/recordInfo": "market",
    "/api/v1/veo/record-info": "veo",
    "/api/v1/generate/record-info": "suno",
}
_DEFAULT_MESSAGES: Final[dict[int, str]] = {
    400: "Bad request",
    401: UNAUTHORIZED_MSG,
    402: "Credits insufficient",
    404: "Not found",
    422: "Validation error",
    429: "Rate limit exceeded: too many requests",
    455: "Service unavailable: under maintenance",
    500: "Internal server error",
    501: "Generation failed",
    502: "Bad gateway",
    503: "Service unavailable",
    505: "Feature disabled",
}
_MIME: Final[dict[str, str]] = {"png": "image/png", "mp4": "video/mp4", "mp3": "audio/mpeg"}
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]")


@dataclass(frozen=True)
class CallbackAttempt:
    """One POST the fake made to a task's ``callBackUrl``: what was sent and how it went."""

    task_id: str
    url: str
    body: bytes
    headers: dict[str, str]
    status: int | None
    error: str | None

    @property
    def delivered(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


@dataclass(frozen=True)
class StoredFile:
    data: bytes
    mime_type: str


class FakeKie:
    """The fake server. Python API: :meth:`serve`, :meth:`script`, :meth:`bill_next`, :meth:`fail_next`,
    :meth:`fail_next_create`, :meth:`delay_next`, :meth:`wait_final`, and the state below.

    Args:
        api_key: the only Bearer key accepted.
        speed: multiplies the typical durations (image 8 s, video 60 s, audio 20 s); tests ~0.01.
        hmac_key: when set, callbacks carry Kie's HMAC headers.
        validator: extra input rules, ``validator(model, payload) -> problems`` (market: the
            ``input``; Veo/Suno: the flat body). Structure and Veo/Suno limits are always checked.
            The default judges market inputs by the catalogue (``registry/models.toml``), as Kie
            would; ``None`` accepts any market input.
        pricer / profiler: credits per task, and what it returns (kind of file, files per
            run). The defaults read the catalogue; without an answer (or with ``None``) a task
            costs by kind (image 4, video 60, audio 12) and its kind is guessed from the id.
        credits: the starting balance; each success costs its price; a create that cannot be
            paid gets 402.
        rate_limit: ``(creates, seconds)`` per key before 429, or None.
        input_read_delay_s: how long after its creation a task reads its input files (Kie reads
            them late; see :mod:`kiebot.testing.kie.inputs`). :meth:`hold_inputs` and
            :meth:`release_inputs` make "late" as late as a test needs.

    Uploads to the same ``uploadPath`` + ``fileName`` overwrite each other, as on Kie; a task
    reads its inputs from whatever their names hold when it reads them (``FakeTask.inputs_read``)
    and an image result carries the SHA-256 of every input it consumed
    (:func:`kiebot.testing.kie.media.input_digests`). An input URL that holds nothing then fails
    the task.

    State: ``tasks``, ``credits``, ``uploads``, ``callbacks`` (every attempt), ``requests`` (a
    Counter by path), ``upload_log`` (the stored key of every upload, in order),
    ``telegram_urls_seen`` (where a Telegram file URL arrived: must stay empty),
    ``duplicate_callbacks``, ``early_callbacks``, ``chunked_files`` (results without
    Content-Length), ``video_result_bytes`` (video results padded to that size).
    """

    def __init__(
        self,
        *,
        api_key: str,
        speed: float = 1.0,
        hmac_key: str | None = None,
        validator: Validator | None = registry_validator,
        pricer: Pricer | None = registry_pricer,
        profiler: Profiler | None = registry_profile,
        credits: float = 100_000.0,
        rate_limit: tuple[int, float] | None = (20, 10.0),
        callback_attempts: int = 3,
        callback_timeout_s: float = 15.0,
        input_read_delay_s: float = 0.0,
    ) -> None:
        if not api_key:
            raise ValueError("api_key is empty")
        self.api_key = api_key
        self.speed = speed
        self.hmac_key = hmac_key
        self.validator = validator
        self.pricer = pricer
        self.profiler = profiler
        self.credits = float(credits)
        self.rate_limit = rate_limit
        self.callback_attempts = max(1, callback_attempts)
        self.callback_timeout_s = callback_timeout_s
        self.duplicate_callbacks = False
        self.early_callbacks = False
        self.chunked_files = False
        #: When set, every video result is the sample MP4 padded with zeros to this many bytes,
        #: streamed (memory tests and the media benchmark: 50 MB results without 50 MB here).
        self.video_result_bytes: int | None = None
        #: Where result URLs point (default: this server). Tests set e.g. ``https://10.0.0.1`` or
        #: ``http://localhost:<port>`` to see how the bot judges a result host.
        self.result_base_url: str | None = None

        self.base_url = ""
        self.tasks: dict[str, FakeTask] = {}
        self.uploads: dict[str, StoredFile] = {}
        self.upload_log: list[str] = []
        self.inputs = InputReader(input_read_delay_s)
        self.callbacks: list[CallbackAttempt] = []
        self.requests: Counter[str] = Counter()
        self.telegram_urls_seen: list[str] = []
        self._temporary_links: dict[str, str] = {}

        self._scripts: list[Script] = []
        self._bills: list[BillScript] = []
        self._faults: dict[str, deque[Fault]] = {}
        self._creates: deque[float] = deque()
        self._nursery: trio.Nursery | None = None
        self._http: httpx.AsyncClient | None = None
        #: The catalogue API (models, price, schema, success-rate) and its switches.
        self.catalogue = FakeCatalogue()
        self._app = self._build_app()

    def __repr__(self) -> str:
        return f"FakeKie(base_url={self.base_url!r}, tasks={len(self.tasks)}, credits={self.credits})"

    # ---- scripting -------------------------------------------------------------------------

    def script(
        self,
        model: str | None = None,
        *,
        outcome: Outcome = "fail",
        message: str = "Internal server error",
        fail_code: str = "500",
        times: int = 1,
        duration_s: float | None = None,
    ) -> None:
        """Decide the outcome of the next ``times`` tasks of ``model`` (any model if None).

        ``outcome``: "success", "fail" (``fail_code``/``message`` become Kie's failCode/failMsg,
        a Veo errorCode/errorMessage, a Suno error callback) or "never" (stays generating).
        ``duration_s`` overrides the scaled typical duration.
        """
        self._scripts.append(Script(model, outcome, message, fail_code, times, duration_s))

    def bill_next(
        self,
        model: str | None = None,
        *,
        credits: float | None = None,
        factor: float | None = None,
        times: int = 1,
        when: Mapping[str, Any] | None = None,
    ) -> None:
        """Bill the next ``times`` tasks of ``model`` (any model if None) differently from their
        quote: exactly ``credits``, or ``factor`` × the catalogue price; ``when`` narrows it to
        one variant (input values, e.g. ``{"resolution": "4K"}``). The figure is what callbacks
        report as ``consumeCredits``, recordInfo as ``creditsConsumed``, and what a success takes
        from the fake's balance."""
        if (credits is None) == (factor is None):
            raise ValueError("give exactly one of credits and factor")
        self._bills.append(BillScript(model, credits, factor, times, dict(when or {})))

    def fail_next(
        self,
        endpoint: Endpoint,
        status: int,
        *,
        times: int = 1,
        message: str | None = None,
        http_status: int | None = None,
        delay_s: float = 0.0,
        bare: bool = False,
    ) -> None:
        """Answer the next ``times`` requests to ``endpoint`` with Kie's error envelope ``status``.

        ``http_status`` defaults to ``status`` (Kie's codes double as HTTP statuses); pass 200 to
        get the "HTTP 200, error in the envelope" variant. ``bare=True`` answers the status with a
        plain-text body and no envelope, like a gateway in front of Kie (``file`` faults always do).
        """
        message = message or _DEFAULT_MESSAGES.get(status, f"Error {status}")
        fault = Fault(status, message, http_status, delay_s, times, bare)
        self._faults.setdefault(endpoint, deque()).append(fault)

    def fail_next_create(
        self, status: int = 402, *, times: int = 1, message: str | None = None, http_status: int | None = None
    ) -> None:
        """:meth:`fail_next` for createTask of any family (nothing is created, nothing charged)."""
        self.fail_next("create", status, times=times, message=message, http_status=http_status)

    def delay_next(self, endpoint: Endpoint, seconds: float, *, times: int = 1) -> None:
        """Hold the next ``times`` answers of ``endpoint`` for ``seconds``.

        A delayed create **is** processed (the task exists and runs) before the answer is held:
        exactly the "request arrived, answer lost to a client timeout" case.
        """
        self._faults.setdefault(endpoint, deque()).append(Fault(None, "", None, seconds, times))

    def hold_inputs(self) -> None:
        """Tasks created from now on read their input files only after :meth:`release_inputs`."""
        self.inputs.hold()

    def release_inputs(self) -> None:
        """Let the held tasks read their input files (from whatever their names hold now)."""
        self.inputs.release()

    async def wait_final(self, task_id: str) -> FakeTask:
        """Wait until the task has finished and its callbacks were attempted."""
        task = self.tasks[task_id]
        await task.done.wait()
        return task

    @property
    def create_count(self) -> int:
        """createTask requests of every family (answered or not)."""
        return sum(self.requests[path] for path in _CREATE_ROUTES)

    # ---- serving ---------------------------------------------------------------------------

    async def serve(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Serve until cancelled; reports the base URL (``http://127.0.0.1:<port>``) when bound."""
        config = hypercorn_config(host, port, log_name="kiebot.testing.kie.server.http", graceful_s=0.01)
        async with httpx.AsyncClient(timeout=self.callback_timeout_s) as http, trio.open_nursery() as nursery:
            self._http = http
            self._nursery = nursery
            self.base_url = await start_serving(nursery, self._app, config)
            task_status.started(self.base_url)

    def _build_app(self) -> QuartTrio:
        app = QuartTrio("kiebot.testing.kie.server")
        app.config["MAX_CONTENT_LENGTH"] = 64 * 1024 * 1024
        for path, family in _CREATE_ROUTES.items():
            app.add_url_rule(path, f"create_{family}", self._view(self._create, family), methods=["POST"])
        for path, family in _RECORD_ROUTES.items():
            app.add_url_rule(path, f"record_{family}", self._view(self._record, family), methods=["GET"])
        app.add_url_rule("/api/v1/chat/credit", "credit", self._credit, methods=["GET"])
        app.add_url_rule("/api/v1/common/download-url", "download_url", self._download_url, methods=["POST"])
        app.add_url_rule("/api/file-stream-upload", "upload_stream", self._upload_stream, methods=["POST"])
        app.add_url_rule("/api/file-base64-upload", "upload_base64", self._upload_base64, methods=["POST"])
        app.add_url_rule("/api/file-url-upload", "upload_url", self._upload_url, methods=["POST"])
        app.add_url_rule("/files/<task_id>/<name>", "result_file", self._result_file, methods=["GET"])
        app.add_url_rule("/uploads/<path:key>", "uploaded_file", self._uploaded_file, methods=["GET"])
        app.add_url_rule("/download/<token>", "temporary_link", self._temporary_link, methods=["GET"])
        self.catalogue.mount(app, lambda: self._guard("catalog"))
        return app

    @staticmethod
    def _view(handler: Callable[[Family], Any], family: Family) -> Callable[[], Any]:
        async def view() -> Response:
            result: Response = await handler(family)
            return result

        return view

    # ---- helpers ---------------------------------------------------------------------------

    def _count(self) -> None:
        self.requests[request.path] += 1

    def _authorized(self) -> bool:
        given = request.headers.get("Authorization", "")
        return hmac.compare_digest(given.encode(), f"Bearer {self.api_key}".encode())

    @staticmethod
    def _json(payload: object, status: int = 200) -> Response:
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
        return Response(body, status=status, content_type="application/json")

    def _error(self, code: int, message: str, http_status: int | None = None) -> Response:
        return self._json({"code": code, "msg": message}, http_status or (code if 400 <= code < 600 else 200))

    def _ok(self, data: object, msg: str = "success") -> Response:
        return self._json({"code": 200, "msg": msg, "data": data})

    def _take_fault(self, endpoint: Endpoint) -> Fault | None:
        queue = self._faults.get(endpoint)
        if not queue:
            return None
        fault = queue[0]
        fault.times -= 1
        if fault.times <= 0:
            queue.popleft()
        return fault

    async def _guard(self, endpoint: Endpoint) -> tuple[Response | None, float]:
        """Count, check the key, apply a scripted fault. Returns (early answer, delay after work)."""
        self._count()
        # Read the whole body before any answer: answering early leaves unread bytes on a
        # keep-alive connection, and the client's next request on it would stall.
        await request.get_data(True, False, False)
        if not self._authorized():
            return self._error(401, UNAUTHORIZED_MSG), 0.0
        fault = self._take_fault(endpoint)
        if fault is None:
            return None, 0.0
        if fault.status is not None:
            await trio.sleep(fault.delay_s)
            if fault.bare:
                return Response(fault.message, status=fault.status, content_type="text/plain"), 0.0
            return self._error(fault.status, fault.message, fault.http_status), 0.0
        if endpoint == "create":
            return None, fault.delay_s
        await trio.sleep(fault.delay_s)
        return None, 0.0

    async def _body_json(self) -> dict[str, Any] | None:
        try:
            value = json.loads(await request.get_data(True, False, False))
        except (ValueError, UnicodeDecodeError):
            return None
        return value if isinstance(value, dict) else None

    def _note_telegram_urls(self, body: object) -> None:
        found = find_telegram_file_url(body, request.path)
        if found:
            log.error("fake kie: a Telegram file URL arrived in %s", found)
            self.telegram_urls_seen.append(found)

    def _rate_limited(self) -> bool:
        if self.rate_limit is None:
            return False
        limit, window = self.rate_limit
        now = trio.current_time()
        while self._creates and self._creates[0] <= now - window:
            self._creates.popleft()
        if len(self._creates) >= limit:
            return True
        self._creates.append(now)
        return False

    # ---- tasks -----------------------------------------------------------------------------

    async def _create(self, family: Family) -> Response:
        early, delay = await self._guard("create")
        if early is not None:
            return early
        body = await self._body_json()
        if body is None:
            return self._error(422, "request body must be a JSON object")
        self._note_telegram_urls(body)
        problems = self._validate(family, body)
        if problems:
            return self._error(422, "; ".join(problems))
        if self._rate_limited():
            return self._error(429, _DEFAULT_MESSAGES[429])
        model = str(body.get("model") or ("veo3_fast" if family == "veo" else ""))
        payload: Mapping[str, Any] = body["input"] if family == "market" else body
        profile = (self.profiler(family, model) if self.profiler else None) or guess_profile(family, model)
        price = self._price(family, model, payload, profile.kind)
        if self.credits < price:
            return self._error(402, _DEFAULT_MESSAGES[402])
        task = self._new_task(family, model, body, profile, price)
        assert self._nursery is not None, "FakeKie.serve() is not running"
        if self.early_callbacks and task.outcome != "never":
            await self._run(task, instant=True)  # the callback arrives before this answer
        else:
            self._nursery.start_soon(self._run, task)
        if delay:
            await trio.sleep(delay)
        return self._ok({"taskId": task.task_id})

    def _validate(self, family: Family, body: dict[str, Any]) -> list[str]:
        if family == "market":
            problems = check_market_body(body)
            if problems:
                return problems
            return self._extra(body["model"], body["input"])
        rules = check_veo_body if family == "veo" else check_suno_body
        problems = rules(body)
        return problems or self._extra(str(body.get("model", "")), body)

    def _extra(self, model: str, payload: Mapping[str, Any]) -> list[str]:
        return list(self.validator(model, payload)) if self.validator else []

    def _price(self, family: Family, model: str, payload: Mapping[str, Any], kind: Kind) -> float:
        price = self.pricer(family, model, payload) if self.pricer else None
        return DEFAULT_PRICES[kind] if price is None else price

    def _new_task(
        self, family: Family, model: str, body: dict[str, Any], profile: Profile, price: float
    ) -> FakeTask:
        outcome: Outcome = "success"
        message, code, duration = "", "", None
        for script in self._scripts:
            if script.matches(model):
                script.times -= 1
                outcome, message, code, duration = (
                    script.outcome,
                    script.message,
                    script.fail_code,
                    script.duration_s,
                )
                break
        self._scripts = [s for s in self._scripts if s.times > 0]
        billed: float | None = None
        payload = body.get("input") if family == "market" else body
        for bill in self._bills:
            if bill.matches(model, payload if isinstance(payload, Mapping) else None):
                bill.times -= 1
                billed = bill.billed(price)
                break
        self._bills = [b for b in self._bills if b.times > 0]
        prefix = {"market": "task_", "veo": "veo_task_", "suno": "suno_"}[family]
        task = FakeTask(
            task_id=prefix + secrets.token_hex(12),
            family=family,
            model=model,
            body=body,
            kind=profile.kind,
            results=profile.results,
            prompt=prompt_of(family, body),
            outcome=outcome,
            fail_code=code,
            fail_message=message,
            duration_s=duration if duration is not None else DURATIONS_S[profile.kind] * self.speed,
            price_credits=price,
            input_urls=input_urls(body, f"{self.base_url}/uploads/"),
            input_gate=self.inputs.gate(),
            billed_credits=billed,
        )
        self.tasks[task.task_id] = task
        return task

    async def _read_inputs(self, task: FakeTask, *, instant: bool) -> None:
        """Read the task's inputs the way Kie does: late, from what their names hold by then."""
        if not task.input_urls:
            return
        if not instant:
            await self.inputs.wait(task.input_gate)
        prefix = f"{self.base_url}/uploads/"
        for url in task.input_urls:
            stored = self.uploads.get(url[len(prefix) :])
            task.inputs_read[url] = stored.data if stored is not None else None
        if any(data is None for data in task.inputs_read.values()) and task.outcome != "never":
            task.outcome, task.fail_code, task.fail_message = "fail", "400", "Failed to fetch the input file"

    async def _run(self, task: FakeTask, *, instant: bool = False) -> None:
        """Walk the task through its phases, sending callbacks on the way."""

        async def pause(fraction: float) -> None:
            if not instant:
                await trio.sleep(task.duration_s * fraction)

        await self._read_inputs(task, instant=instant)
        await pause(0.1)
        task.phase = "running"
        if task.family == "suno" and task.outcome != "fail":
            await pause(0.3)
            task.phase = "text"
            await self._deliver(task)
            await pause(0.3)
            task.phase = "first"
            await self._deliver(task)
            await pause(0.3)
        else:
            await pause(0.9)
        if task.outcome == "never":
            return  # stays "generating" forever, no callback
        self._finish(task)
        await self._deliver(task)
        if self.duplicate_callbacks:
            await self._deliver(task)
        task.done.set()

    def _finish(self, task: FakeTask) -> None:
        task.phase = "done"
        task.completed_ms = int(time.time() * 1000)
        if task.outcome == "success":
            task.consumed_credits = task.price_credits if task.billed_credits is None else task.billed_credits
            self.credits = max(0.0, self.credits - task.consumed_credits)
        task.remaining_credits = self.credits

    async def _deliver(self, task: FakeTask) -> None:
        """POST the task's current callback, retrying a few times on failure (Kie's timeout: 15 s)."""
        url = task.callback_url
        if not url or self._http is None:
            return
        body = json.dumps(
            callback_body(task, self._result_base), ensure_ascii=False, separators=(",", ":")
        ).encode()
        for attempt in range(self.callback_attempts):
            headers = {"Content-Type": "application/json"}
            if self.hmac_key:
                stamp = str(int(time.time()))
                mac = hmac.new(self.hmac_key.encode(), f"{task.task_id}.{stamp}".encode(), "sha256").digest()
                headers["X-Webhook-Timestamp"] = stamp
                headers["X-Webhook-Signature"] = base64.b64encode(mac).decode()
            status: int | None = None
            error: str | None = None
            try:
                response = await self._http.post(url, content=body, headers=headers)
                status = response.status_code
            except (httpx.HTTPError, httpx.InvalidURL) as exc:
                error = type(exc).__name__
            attempt_record = CallbackAttempt(task.task_id, url, body, headers, status, error)
            self.callbacks.append(attempt_record)
            if attempt_record.delivered:
                return
            if attempt + 1 < self.callback_attempts:
                await trio.sleep(max(0.01, 2.0**attempt * self.speed))

    async def _record(self, family: Family) -> Response:
        early, _ = await self._guard("record")
        if early is not None:
            return early
        task = self.tasks.get(request.args.get("taskId", ""))
        if task is None or task.family != family:
            return self._error(404, "Task not found")
        return self._json(record_body(task, self._result_base))

    async def _credit(self) -> Response:
        early, _ = await self._guard("credit")
        return early or self._ok(int(self.credits))

    async def _download_url(self) -> Response:
        early, _ = await self._guard("download-url")
        if early is not None:
            return early
        body = await self._body_json()
        url = body.get("url") if body else None
        if not isinstance(url, str) or not url:
            return self._error(422, "url is required")
        self._note_telegram_urls(body)
        if not url.startswith(self.base_url + "/files/"):
            return self._error(422, "The URL is not a Kie-generated file")
        # A temporary link that redirects to the file, as presigned download links do.
        token = secrets.token_urlsafe(16)
        self._temporary_links[token] = url
        return self._ok(f"{self.base_url}/download/{token}")

    async def _temporary_link(self, token: str) -> Response:
        self._count()
        target = self._temporary_links.get(token)
        if target is None:
            return Response("Not found", status=404, content_type="text/plain")
        return Response("", status=302, headers={"Location": target})

    # ---- uploads (https://docs.kie.ai/file-upload-api/quickstart) ---------------------------

    def _store(self, upload_path: str, file_name: str, data: bytes, mime: str) -> Response:
        folder = "/".join(
            _SAFE_NAME.sub("_", part) for part in upload_path.split("/") if part not in ("", ".", "..")
        )
        name = _SAFE_NAME.sub("_", file_name) or secrets.token_hex(8)
        key = f"{folder}/{name}" if folder else name
        self.uploads[key] = StoredFile(data, mime)  # the same path and name: overwritten, as on Kie
        self.upload_log.append(key)
        data_out = {
            "fileName": name,
            "filePath": key,
            "downloadUrl": f"{self.base_url}/uploads/{key}",
            "fileSize": len(data),
            "mimeType": mime,
            "uploadedAt": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
        }
        return self._json(
            {"success": True, "code": 200, "msg": "File uploaded successfully", "data": data_out}
        )

    async def _upload_stream(self) -> Response:
        early, _ = await self._guard("upload")
        if early is not None:
            return early
        form = await request.form
        files = await request.files
        upload = files.get("file")
        upload_path = form.get("uploadPath", "")
        if upload is None:
            return self._error(422, "file is required")
        if not upload_path:
            return self._error(422, "uploadPath is required")
        data = upload.read()
        name = form.get("fileName") or upload.filename or ""
        return self._store(upload_path, name, data, upload.mimetype or "application/octet-stream")

    async def _upload_base64(self) -> Response:
        early, _ = await self._guard("upload")
        if early is not None:
            return early
        body = await self._body_json()
        raw = body.get("base64Data") if body else None
        if not isinstance(raw, str) or not raw:
            return self._error(422, "base64Data is required")
        if not body or not body.get("uploadPath"):
            return self._error(422, "uploadPath is required")
        mime = "application/octet-stream"
        match = re.match(r"^data:([\w.+-]+/[\w.+-]+);base64,", raw)
        if match:
            mime, raw = match.group(1), raw[match.end() :]
        try:
            data = base64.b64decode(raw, validate=True)
        except (binascii.Error, ValueError):
            return self._error(422, "base64Data is not valid base64")
        return self._store(str(body["uploadPath"]), str(body.get("fileName") or ""), data, mime)

    async def _upload_url(self) -> Response:
        early, _ = await self._guard("upload")
        if early is not None:
            return early
        body = await self._body_json()
        url = body.get("fileUrl") if body else None
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            return self._error(422, "fileUrl is required")
        if not body or not body.get("uploadPath"):
            return self._error(422, "uploadPath is required")
        self._note_telegram_urls(body)
        assert self._http is not None
        try:
            fetched = await self._http.get(url, timeout=30.0)  # Kie's documented limit
        except (httpx.HTTPError, httpx.InvalidURL):
            return self._error(422, "Failed to download the file from fileUrl")
        if fetched.status_code != 200:
            return self._error(422, f"Failed to download the file from fileUrl (HTTP {fetched.status_code})")
        name = str(body.get("fileName") or url.rstrip("/").rsplit("/", 1)[-1].split("?")[0])
        mime = fetched.headers.get("Content-Type", "application/octet-stream").split(";")[0]
        return self._store(str(body["uploadPath"]), name, fetched.content, mime)

    # ---- files -----------------------------------------------------------------------------

    async def _file_fault(self) -> Response | None:
        """Count a file download and apply a scripted ``file`` fault (a bare status, or a delay)."""
        self._count()
        fault = self._take_fault("file")
        if fault is None:
            return None
        await trio.sleep(fault.delay_s)
        if fault.status is None:
            return None
        return Response(fault.message, status=fault.status, content_type="text/plain")

    async def _result_file(self, task_id: str, name: str) -> Response:
        faulted = await self._file_fault()
        if faulted is not None:
            return faulted
        task = self.tasks.get(task_id)
        if task is None or not any(url.endswith(f"/{name}") for url in self._ready_urls(task)):
            return Response("Not found", status=404, content_type="text/plain")
        ext = name.rsplit(".", 1)[-1]
        if task.kind == "image":
            consumed = [data for data in task.inputs_read.values() if data is not None]
            data = kie_media.png_with_inputs(task.prompt, consumed)
        elif task.kind == "video":
            if self.video_result_bytes is not None:
                return self._padded(kie_media.sample_mp4(), self.video_result_bytes, _MIME.get(ext, "video/mp4"))
            data = kie_media.sample_mp4()
        else:
            data = kie_media.sample_mp3()
        return self._file(data, _MIME.get(ext, "application/octet-stream"))

    @property
    def _result_base(self) -> str:
        return (self.result_base_url or self.base_url).rstrip("/")

    def _ready_urls(self, task: FakeTask) -> list[str]:
        if task.succeeded:
            return task.result_urls(self._result_base)
        if task.family == "suno" and task.phase == "first":
            return task.result_urls(self._result_base, ready=1)
        return []

    async def _uploaded_file(self, key: str) -> Response:
        faulted = await self._file_fault()
        if faulted is not None:
            return faulted
        stored = self.uploads.get(key)
        if stored is None:
            return Response("Not found", status=404, content_type="text/plain")
        return self._file(stored.data, stored.mime_type)

    def _padded(self, head: bytes, size: int, mime: str) -> Response:
        """``head`` followed by zeros up to ``size`` bytes, streamed: a big file the fake never
        holds (Content-Length given unless ``chunked_files``)."""
        block = bytes(64 * 1024)

        async def chunks() -> AsyncIterator[bytes]:
            yield head[:size]
            left = size - min(len(head), size)
            while left > 0:
                n = min(left, len(block))
                yield block[:n] if n < len(block) else block
                left -= n

        headers = {} if self.chunked_files else {"Content-Length": str(size)}
        return Response(chunks(), status=200, content_type=mime, headers=headers)

    def _file(self, data: bytes, mime: str) -> Response:
        if not self.chunked_files:
            return Response(data, status=200, content_type=mime)

        async def chunks() -> AsyncIterator[bytes]:
            for start in range(0, len(data), 1024):
                yield data[start : start + 1024]

        return Response(chunks(), status=200, content_type=mime)
