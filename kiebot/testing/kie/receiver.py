"""A tiny real HTTP endpoint that records the callbacks a (fake) Kie server POSTs to it.

For tests of the fake Kie server and of the client's callback handling in isolation; the bot's own
callback route is tested against the real web app. It can refuse the first ``fail_first``
deliveries (HTTP 503) to exercise Kie's retries.
"""

from __future__ import annotations

from dataclasses import dataclass

import trio
from quart import Response, request
from quart_trio import QuartTrio

from kiebot.runtime.serving import hypercorn_config, start_serving


@dataclass(frozen=True)
class ReceivedCallback:
    method: str
    path: str
    body: bytes
    headers: dict[str, str]
    answered: int


class CallbackReceiver:
    """Records every POST (and GET) to ``<base_url>/<any path>``; :meth:`wait_for` waits for POSTs.

    GETs are recorded too, answered ``ok``, so a test can check what headers a download carries.
    """

    def __init__(self, *, fail_first: int = 0) -> None:
        self.fail_first = fail_first
        self.received: list[ReceivedCallback] = []
        self.base_url = ""
        self._changed = trio.Event()
        self._app = QuartTrio("kiebot.testing.kie.receiver")
        self._app.add_url_rule("/<path:path>", "receive", self._receive, methods=["POST", "GET"])

    def url(self, path: str = "kie/callback") -> str:
        return f"{self.base_url}/{path.lstrip('/')}"

    @property
    def accepted(self) -> list[ReceivedCallback]:
        return [c for c in self.received if c.answered == 200 and c.method == "POST"]

    async def _receive(self, path: str) -> Response:
        body = await request.get_data(True, False, False)
        refused = self.fail_first > 0 and request.method == "POST"
        if refused:
            self.fail_first -= 1
        status = 503 if refused else 200
        headers = {k: v for k, v in request.headers.items()}
        self.received.append(ReceivedCallback(request.method, "/" + path, body, headers, status))
        self._changed.set()
        self._changed = trio.Event()
        return Response("busy" if refused else "ok", status=status, content_type="text/plain")

    async def wait_for(self, count: int, *, accepted_only: bool = True) -> list[ReceivedCallback]:
        """Wait until at least ``count`` callbacks arrived (accepted ones only, by default)."""
        while len(self.accepted if accepted_only else self.received) < count:
            await self._changed.wait()
        return self.accepted if accepted_only else self.received

    async def serve(self, *, task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED) -> None:
        config = hypercorn_config("127.0.0.1", 0, log_name="kiebot.testing.kie.receiver.http", graceful_s=0.01)
        async with trio.open_nursery() as nursery:
            self.base_url = await start_serving(nursery, self._app, config)
            task_status.started(self.base_url)
