"""Test servers for the Telegram client.

* :class:`ScriptedBotApi` — a small real HTTP server (quart-trio on hypercorn, 127.0.0.1 port 0) that
  records every request as the server saw it (JSON or multipart, parsed by Quart) and answers with
  scripted Bot API envelopes. Used to check request shapes end to end over real sockets.
* :class:`MockBotApi` — the same idea on ``httpx.MockTransport`` (no sockets), for timing tests on
  virtual time (429 waits, back-off) where a real socket would fight the mock clock.
"""

from __future__ import annotations

import json
from collections import defaultdict, deque
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import trio
from hypercorn.config import Config
from hypercorn.trio import serve
from quart import Response, request
from quart_trio import QuartTrio

from kiebot.telegram.client import TelegramClient
from kiebot.telegram.lean_http import LeanTransport
from kiebot.telegram.limiter import FloodLimiter

TOKEN = "123456789:AAH-test_SECRET-token-value_0123456789"


@dataclass
class Recorded:
    """One request as the server received it."""

    method: str
    token: str
    content_type: str
    json: dict[str, Any] | None = None
    form: dict[str, str] = field(default_factory=dict)
    files: dict[str, tuple[str, str, bytes]] = field(default_factory=dict)  # name -> (filename, mime, bytes)
    at: float = 0.0

    @property
    def params(self) -> dict[str, Any]:
        """Parameters whatever the encoding: JSON values, or form fields decoded from JSON text."""
        if self.json is not None:
            return self.json
        decoded: dict[str, Any] = {}
        for name, value in self.form.items():
            try:
                decoded[name] = json.loads(value)
            except ValueError:
                decoded[name] = value
        return decoded


def ok(result: Any) -> tuple[int, dict[str, Any]]:
    return 200, {"ok": True, "result": result}


def fail(code: int, description: str, **parameters: Any) -> tuple[int, dict[str, Any]]:
    body: dict[str, Any] = {"ok": False, "error_code": code, "description": description}
    if parameters:
        body["parameters"] = parameters
    return code, body


Reply = tuple[int, dict[str, Any] | bytes]
Handler = Callable[[Recorded], Reply | Awaitable[Reply]]


def message_result(chat_id: int = 42, message_id: int = 1, **extra: Any) -> dict[str, Any]:
    return {"message_id": message_id, "date": 1760000000, "chat": {"id": chat_id, "type": "private"}, **extra}


class Replies:
    """Reply builders, reachable from tests through the server fixtures (test modules cannot import
    this conftest under ``--import-mode=importlib``)."""

    token = TOKEN
    ok = staticmethod(ok)
    fail = staticmethod(fail)
    message = staticmethod(message_result)


class ScriptedBotApi(Replies):
    """A real HTTP Bot API stand-in: queued replies per method, a default of ``{"ok":true,"result":true}``."""

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self.files: dict[str, tuple[int, dict[str, str], bytes]] = {}
        self._queued: dict[str, deque[Reply | Handler]] = defaultdict(deque)
        self.base_url = ""
        self.app = QuartTrio(__name__)
        self.app.add_url_rule("/bot<token>/<method>", "api", self._api, methods=["GET", "POST"])
        self.app.add_url_rule("/file/bot<token>/<path:file_path>", "file", self._file, methods=["GET"])

    def reply(self, method: str, *replies: Reply | Handler) -> None:
        """Queue replies for ``method``, used in order; then the default."""
        self._queued[method].extend(replies)

    def calls(self, method: str) -> list[Recorded]:
        return [r for r in self.requests if r.method == method]

    async def _api(self, token: str, method: str) -> Response:
        content_type = request.headers.get("Content-Type", "")
        record = Recorded(method=method, token=token, content_type=content_type, at=trio.current_time())
        if content_type.startswith("multipart/form-data"):
            form = await request.form
            record.form = {k: form[k] for k in form}
            uploaded = await request.files
            for name in uploaded:
                part = uploaded[name]
                record.files[name] = (part.filename or "", part.content_type or "", part.read())
        elif content_type.startswith("application/json"):
            record.json = json.loads(await request.get_data())
        self.requests.append(record)
        queue = self._queued.get(method)
        reply: Reply | Handler = queue.popleft() if queue else ok(True)
        if callable(reply):
            produced = reply(record)
            reply = await produced if isinstance(produced, Awaitable) else produced
        status, body = reply
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        return Response(data, status=status, content_type="application/json")

    async def _file(self, token: str, file_path: str) -> Response:
        if file_path not in self.files:
            return Response(
                json.dumps({"ok": False, "error_code": 404, "description": "Not Found"}), status=404
            )
        status, headers, data = self.files[file_path]

        async def chunks() -> AsyncIterator[bytes]:
            for start in range(0, len(data), 65536):
                yield data[start : start + 65536]

        response = Response(chunks(), status=status, headers=headers)
        if "Content-Length" not in headers:
            response.headers.pop("Content-Length", None)
        return response

    async def serve(self, *, task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED) -> None:
        config = Config()
        config.bind = ["127.0.0.1:0"]
        config.accesslog = None
        config.errorlog = None

        async with trio.open_nursery() as nursery:
            binds: list[str] = await nursery.start(serve, self.app, config)  # type: ignore[arg-type]
            self.base_url = binds[0]
            task_status.started(self.base_url)


@pytest.fixture
async def bot_api(nursery: trio.Nursery) -> ScriptedBotApi:
    server = ScriptedBotApi()
    await nursery.start(server.serve)
    return server


@pytest.fixture(params=["httpx", "lean"])
async def tg(request: pytest.FixtureRequest, bot_api: ScriptedBotApi, http: httpx.AsyncClient) -> AsyncIterator[TelegramClient]:
    """The client over real HTTP, both ways the app can send: through httpx's client, and (as the
    app does) its JSON calls through :meth:`LeanTransport.post_json` and the rest through httpx."""
    if request.param == "httpx":
        yield TelegramClient(http, TOKEN, base_url=bot_api.base_url, limiter=FloodLimiter())
        return
    transport = LeanTransport()
    async with httpx.AsyncClient(transport=transport, timeout=10) as lean_http:
        yield TelegramClient(lean_http, TOKEN, base_url=bot_api.base_url, limiter=FloodLimiter(), json_poster=transport)


class MockBotApi(Replies):
    """The Bot API on ``httpx.MockTransport``: a handler per call decides the reply; every request is
    recorded with the (virtual) time it was made."""

    def __init__(self) -> None:
        self.requests: list[tuple[float, httpx.Request]] = []
        self._queued: dict[str, deque[Callable[[httpx.Request], httpx.Response]]] = defaultdict(deque)

    def reply(self, method: str, *replies: Reply | Callable[[httpx.Request], httpx.Response]) -> None:
        for item in replies:
            if callable(item):
                self._queued[method].append(item)
            else:
                status, body = item
                data = body if isinstance(body, bytes) else json.dumps(body).encode()
                self._queued[method].append(lambda _r, s=status, d=data: httpx.Response(s, content=d))

    def times(self, method: str) -> list[float]:
        return [t for t, r in self.requests if r.url.path.endswith("/" + method)]

    def handler(self, req: httpx.Request) -> httpx.Response:
        self.requests.append((trio.current_time(), req))
        method = req.url.path.rsplit("/", 1)[-1]
        queue = self._queued.get(method)
        if queue:
            return queue.popleft()(req)
        return httpx.Response(200, json={"ok": True, "result": True})

    def client(self, **kwargs: Any) -> TelegramClient:
        http = httpx.AsyncClient(transport=httpx.MockTransport(self.handler), timeout=10)
        return TelegramClient(http, TOKEN, base_url="https://api.telegram.org", **kwargs)


@pytest.fixture
def mock_api() -> MockBotApi:
    return MockBotApi()
