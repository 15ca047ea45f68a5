"""A small HTTP/1.1 server for the bot's ASGI application: h11 over trio, one write per response.

Why (issue 18): with the webhook on a plain ASGI path, a py-spy profile of ``benchmarks/ingest.py``
still put a third of the bot's samples in hypercorn sending each answer — the status line and
headers with one socket send, the body with another, through several protocol layers — and on a
virtual machine each send that wakes the other core is costly. Telegram's webhook wants small
answers on a few long-lived connections; so here a response that fits in one ASGI message (all of
the bot's do, Quart's included) is serialised by h11 and written with a single ``send_all``.

What it does, and the limits it keeps:

* ASGI 3 ``http`` and ``lifespan`` scopes (Quart's ``before_serving``/``after_serving`` run);
  no websockets, no HTTP/2, no TLS (Render terminates TLS in front of the service);
* keep-alive, with a connection closed after ``keep_alive_s`` of silence (Telegram keeps its
  webhook connections open), and a request head bounded by h11 (16 KiB) that must arrive within
  that same time;
* a request body must arrive within ``body_timeout_s`` of its head: a client that trickles it (or
  stops half-way) gets 408 and a closed connection, so it cannot hold a connection, a task and a
  slot of the application for ever (the application sees ``http.disconnect`` and stores nothing);
* a request body is handed to the application as it arrives (the application bounds it:
  ``WEBHOOK_MAX_BODY_BYTES``); a connection whose request body was not read to its end, or whose
  answer says ``Connection: close``, is closed after the answer;
* malformed HTTP gets 400 and a closed connection; an application error before its answer gets
  500; after it, the connection is closed;
* shutdown: stop accepting, close idle connections, give requests in flight ``graceful_s``, then
  cancel them, then the lifespan's shutdown.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import unquote

import h11
import trio

log = logging.getLogger(__name__)

ASGIApp = Callable[[Any, Any, Any], Awaitable[None]]

_READ_SIZE = 65_536
_NO_BODY_STATUSES = frozenset({204, 304})


class LifespanError(RuntimeError):
    """The application refused to start (``lifespan.startup.failed``)."""


class _Lifespan:
    """Runs the application's lifespan scope: startup before serving, shutdown after."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app
        self._to_app, self._from_server = trio.open_memory_channel[dict[str, Any]](2)
        self._started = trio.Event()
        self._stopped = trio.Event()
        self._failure = ""
        self.state: dict[str, Any] = {}
        self._supported = True

    async def run(self, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        scope = {"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.0"}, "state": self.state}
        task_status.started()
        try:
            await self._app(scope, self._from_server.receive, self._send)
        except Exception:
            if not self._started.is_set():
                self._supported = False  # an application without lifespan support
                log.debug("the application does not handle lifespan events")
            else:
                log.exception("lifespan failed")
        finally:
            self._started.set()
            self._stopped.set()

    async def _send(self, message: dict[str, Any]) -> None:
        kind = message["type"]
        if kind == "lifespan.startup.complete":
            self._started.set()
        elif kind == "lifespan.startup.failed":
            self._failure = str(message.get("message", "startup failed"))
            self._started.set()
        elif kind in ("lifespan.shutdown.complete", "lifespan.shutdown.failed"):
            self._stopped.set()

    async def startup(self) -> None:
        await self._to_app.send({"type": "lifespan.startup"})
        await self._started.wait()
        if self._failure:
            raise LifespanError(self._failure)

    async def shutdown(self) -> None:
        if self._supported and not self._stopped.is_set():
            await self._to_app.send({"type": "lifespan.shutdown"})
            await self._stopped.wait()


class _Server:
    def __init__(self, app: ASGIApp, *, keep_alive_s: float, body_timeout_s: float, lifespan_state: dict[str, Any]) -> None:
        self._app = app
        self._keep_alive_s = keep_alive_s
        self.body_timeout_s = body_timeout_s
        self._state = lifespan_state
        self.closing = False
        self.idle: set[trio.CancelScope] = set()
        self.busy = 0
        self.quiet = trio.Event()

    async def connection(self, stream: trio.SocketStream) -> None:
        conn = h11.Connection(h11.SERVER)
        try:
            client = _address(stream.socket.getpeername())
            server = _address(stream.socket.getsockname())
            while not self.closing:
                request = await self._next_request(stream, conn)
                if request is None:
                    return
                self.busy += 1
                try:
                    reusable = await _Exchange(self, stream, conn, request, client, server).run()
                finally:
                    self.busy -= 1
                    if self.busy == 0:
                        self.quiet.set()
                if not reusable or conn.our_state is not h11.DONE or conn.their_state is not h11.DONE:
                    return
                conn.start_next_cycle()
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
            return
        finally:
            with trio.move_on_after(0.5) as cleanup:
                cleanup.shield = True
                await stream.aclose()

    async def _next_request(self, stream: trio.SocketStream, conn: h11.Connection) -> h11.Request | None:
        """The next request head, or None when the client closed, went silent, or spoke nonsense."""
        with trio.CancelScope() as waiting:
            self.idle.add(waiting)
            waiting.deadline = trio.current_time() + self._keep_alive_s
            try:
                while True:
                    try:
                        event = conn.next_event()
                    except h11.RemoteProtocolError as exc:
                        await _refuse(stream, conn, exc.error_status_hint)
                        return None
                    if isinstance(event, h11.Request):
                        return event
                    if event is h11.NEED_DATA:
                        data = await stream.receive_some(_READ_SIZE)
                        conn.receive_data(data)
                        if not data and conn.their_state is h11.IDLE:
                            return None
                        continue
                    return None  # ConnectionClosed, or the client paused mid-cycle
            finally:
                self.idle.discard(waiting)
        return None  # silent for keep_alive_s, or the server is closing


class _Exchange:
    """One request and its answer."""

    def __init__(
        self,
        server: _Server,
        stream: trio.SocketStream,
        conn: h11.Connection,
        request: h11.Request,
        client: tuple[str, int] | None,
        own: tuple[str, int] | None,
    ) -> None:
        self._server = server
        self._stream = stream
        self._conn = conn
        self._request = request
        target = bytes(request.target)
        raw_path, _, query = target.partition(b"?")
        self.scope = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": request.http_version.decode(),
            "method": request.method.decode(),
            "scheme": "http",
            "path": unquote(raw_path.decode("latin-1")),
            "raw_path": raw_path,
            "query_string": query,
            "root_path": "",
            "headers": [(bytes(k), bytes(v)) for k, v in request.headers],
            "client": client,
            "server": own,
            "state": dict(server._state),
            "extensions": {},
        }
        self._body_done = False
        self._body_deadline = trio.current_time() + server.body_timeout_s
        self._start: dict[str, Any] | None = None
        self._head_sent = False
        self._status = 0
        self._answered = trio.Event()
        self._broken = False

    async def run(self) -> bool:
        """Serve the exchange; True when the connection may carry another request."""
        try:
            await self._server._app(self.scope, self._receive, self._send)
        except Exception:
            log.exception("the application failed on a request")
            if not self._head_sent and not self._broken:
                await self._write(_simple(self._conn, 500))
            return False
        if self._broken:
            return False
        if not self._answered.is_set():
            if not self._head_sent:
                log.error("the application returned without an answer")
                await self._write(_simple(self._conn, 500))
            return False
        return True

    async def _receive(self) -> dict[str, Any]:
        if self._body_done or self._broken:
            await self._answered.wait()  # nothing more will come: the client is gone or served
            return {"type": "http.disconnect"}
        while True:
            try:
                event = self._conn.next_event()
            except h11.RemoteProtocolError:
                self._broken = True
                return {"type": "http.disconnect"}
            if isinstance(event, h11.Data):
                return {"type": "http.request", "body": bytes(event.data), "more_body": True}
            if isinstance(event, h11.EndOfMessage):
                self._body_done = True
                return {"type": "http.request", "body": b"", "more_body": False}
            if event is h11.NEED_DATA:
                if self._conn.they_are_waiting_for_100_continue:  # it waits before sending its body (curl does)
                    await self._write(self._conn.send(h11.InformationalResponse(status_code=100, headers=[])) or b"")
                data = b""
                with trio.move_on_at(self._body_deadline) as waiting:
                    try:
                        data = await self._stream.receive_some(_READ_SIZE)
                    except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
                        data = b""
                if waiting.cancelled_caught:
                    log.info("request body too slow; closing the connection", extra={"path": self.scope["path"]})
                    if not self._head_sent:
                        self._head_sent = True
                        await self._write(_simple(self._conn, 408))
                    self._broken = True
                    self._answered.set()
                    return {"type": "http.disconnect"}
                if not data:
                    self._broken = True
                    self._answered.set()
                    return {"type": "http.disconnect"}
                self._conn.receive_data(data)
                continue
            self._broken = True
            return {"type": "http.disconnect"}

    async def _send(self, message: dict[str, Any]) -> None:
        kind = message["type"]
        if self._broken or self._answered.is_set():
            return  # the client is gone, or the answer is complete: nothing more goes out
        if kind == "http.response.start":
            if self._start is not None:
                raise RuntimeError("http.response.start sent twice")
            self._start = message
            self._status = int(message["status"])
            return
        if kind != "http.response.body" or self._start is None:
            return  # push, early hints, trailers: not for HTTP/1.1 clients of this bot
        body = bytes(message.get("body", b""))
        more = bool(message.get("more_body", False))
        data = b""
        if not self._head_sent:
            self._head_sent = True
            headers = [(bytes(k), bytes(v)) for k, v in self._start.get("headers", [])]
            data += self._conn.send(h11.Response(status_code=self._status, headers=headers)) or b""
        if body and not self._suppressed():
            data += self._conn.send(h11.Data(data=body)) or b""
        if not more:
            data += self._conn.send(h11.EndOfMessage()) or b""
        await self._write(data)
        if not more:
            self._answered.set()

    def _suppressed(self) -> bool:
        return self.scope["method"] == "HEAD" or self._status in _NO_BODY_STATUSES or self._status < 200

    async def _write(self, data: bytes) -> None:
        if not data:
            return
        try:
            with trio.CancelScope(shield=True):
                await self._stream.send_all(data)
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
            self._broken = True


def _simple(conn: h11.Connection, status: int) -> bytes:
    body = b'{"ok":false}'
    try:
        head = conn.send(h11.Response(status_code=status, headers=[("Content-Type", "application/json"), ("Content-Length", str(len(body))), ("Connection", "close")]))
        return (head or b"") + (conn.send(h11.Data(data=body)) or b"") + (conn.send(h11.EndOfMessage()) or b"")
    except h11.LocalProtocolError:
        return b""


async def _refuse(stream: trio.SocketStream, conn: h11.Connection, status: int) -> None:
    """Answer malformed HTTP (h11 knows the status) and let the caller close the connection."""
    if conn.our_state not in (h11.IDLE, h11.SEND_RESPONSE):
        return
    try:
        data = _simple(conn, status)
        if data:
            await stream.send_all(data)
    except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
        pass


def _address(value: Any) -> tuple[str, int] | None:
    if isinstance(value, tuple) and len(value) >= 2:
        return str(value[0]), int(value[1])
    return None


async def serve_asgi(
    app: ASGIApp,
    host: str,
    port: int,
    *,
    shutdown_trigger: Callable[[], Awaitable[None]],
    graceful_s: float = 5.0,
    keep_alive_s: float = 75.0,
    body_timeout_s: float = 30.0,
    task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve ``app`` on ``host:port`` until ``shutdown_trigger`` returns; reports the bound URL
    (``http://host:port``, with the port actually bound when ``port`` is 0)."""
    lifespan = _Lifespan(app)
    async with trio.open_nursery() as outer:
        await outer.start(lifespan.run)
        await lifespan.startup()
        server = _Server(app, keep_alive_s=keep_alive_s, body_timeout_s=body_timeout_s, lifespan_state=lifespan.state)
        listeners = await trio.open_tcp_listeners(port, host=host)
        bound = listeners[0].socket.getsockname()
        shown = f"[{bound[0]}]" if ":" in str(bound[0]) else str(bound[0])
        async with trio.open_nursery() as connections:
            accepting = trio.CancelScope()

            async def accept() -> None:
                with accepting:  # leaving it closes the listeners
                    await trio.serve_listeners(server.connection, listeners, handler_nursery=connections)

            connections.start_soon(accept)
            task_status.started(f"http://{shown}:{bound[1]}")
            await shutdown_trigger()
            server.closing = True
            accepting.cancel()
            for waiting in list(server.idle):
                waiting.cancel()
            if server.busy:
                server.quiet = trio.Event()
                with trio.move_on_after(graceful_s if math.isfinite(graceful_s) else 3600):
                    while server.busy:
                        await server.quiet.wait()
                        server.quiet = trio.Event()
            connections.cancel_scope.cancel()
        await lifespan.shutdown()
        outer.cancel_scope.cancel()
