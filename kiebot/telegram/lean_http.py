"""A lean HTTP/1.1 transport for httpx: keep-alive connections over trio, one write per request.

Why (issue 18): in a py-spy profile of ``benchmarks/e2e.py`` half of the bot's own Python time
went to httpcore's connection pool around the two ``sendMessage`` calls of a ``/start``: for every
request it looks at *every* pooled connection (``has_expired`` → a readability poll of each
socket), and it writes the request head and the body with two socket sends — on a virtual machine
each send that wakes a process on the other core is expensive. This transport keeps what the
Telegram client needs and nothing else:

* idle connections per origin, reused newest first; only the connection about to be reused is
  checked (a peer that closed it while idle makes it readable: it is dropped, never written to);
* the request (head and body) serialised by h11 and sent with one ``send_all``;
* the response body streamed to httpx (downloads read it in pieces, with a size limit);
* httpx's exceptions, with the same meaning for retries: ``ConnectError``/``ConnectTimeout``/
  ``PoolTimeout`` only when nothing was sent (``kiebot.telegram.client`` retries those freely),
  ``Write*``/``Read*``/``RemoteProtocolError`` once the request may have been sent;
* TLS with httpx's default context (certifi's trust store), SNI and hostname checks.

No proxies, no HTTP/2, no ``Expect: 100-continue``: the Bot API needs none of them. A connection
whose response was not read to the end, or whose request was cancelled, is closed, never reused.

:meth:`LeanTransport.post_json` is the same exchange without httpx's client around it — no
``Request``/``Response`` objects, no URL parsing per call, no auth, redirect or cookie machinery —
for the Bot API's JSON calls (all but uploads and downloads), which the Telegram client makes
twice per ``/start``: measured in ``benchmarks/e2e.py``, httpx's client layers were about a tenth
of the bot's CPU per update. It raises the same httpx exceptions, so retries mean the same.
"""

from __future__ import annotations

import contextlib
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import h11
import httpx
import trio

_READ_SIZE = 65_536
_Origin = tuple[str, str, int]
#: Distinct URLs whose parts are kept (the Bot API's methods: a few dozen).
_URL_CACHE_SIZE = 256
_USER_AGENT = b"kiebot"


@dataclass(eq=False)
class _Connection:
    stream: trio.abc.Stream
    socket_stream: trio.SocketStream
    h11: h11.Connection = field(default_factory=lambda: h11.Connection(our_role=h11.CLIENT))
    idle_since: float = 0.0

    def reusable_now(self) -> bool:
        """Still open and silent: a closed-by-peer connection is readable (EOF) while idle."""
        try:
            return not self.socket_stream.socket.is_readable()
        except OSError:
            return False

    def close(self) -> None:
        with contextlib.suppress(OSError, trio.TrioInternalError):
            self.socket_stream.socket.close()


def _seconds(timeouts: dict[str, Any], key: str) -> float:
    value = timeouts.get(key)
    return float("inf") if value is None else float(value)


class LeanTransport(httpx.AsyncBaseTransport):
    """``httpx.AsyncClient(transport=LeanTransport())``.

    Args:
        max_connections: open connections at most (a request waits up to the pool timeout for one).
        max_idle_per_origin: idle connections kept per scheme/host/port.
        idle_timeout_s: an idle connection older than this is closed instead of reused.
        ssl_context: for ``https`` (default: httpx's, with certifi's trust store; ``SSL_CERT_FILE`` honoured).
    """

    def __init__(
        self,
        *,
        max_connections: int = 200,
        max_idle_per_origin: int = 50,
        idle_timeout_s: float = 30.0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self._slots = trio.CapacityLimiter(max_connections)
        self._max_idle = max_idle_per_origin
        self._idle_timeout_s = idle_timeout_s
        self._ssl_context = ssl_context
        self._idle: dict[_Origin, list[_Connection]] = {}
        self._closed = False
        self._urls: dict[str, tuple[_Origin, bytes, bytes]] = {}

    def _ssl(self) -> ssl.SSLContext:
        if self._ssl_context is None:
            self._ssl_context = httpx.create_ssl_context()  # certifi's roots, as httpx's own transport
        return self._ssl_context

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self._closed:
            raise httpx.ConnectError("the transport is closed", request=request)
        url = request.url
        scheme = url.scheme
        if scheme not in ("http", "https"):
            raise httpx.UnsupportedProtocol(f"unsupported scheme {scheme!r}", request=request)
        origin = (scheme, url.host, url.port or (443 if scheme == "https" else 80))
        timeouts: dict[str, Any] = request.extensions.get("timeout", {})
        # A body already in memory (JSON, small forms) goes out with the head in one write; a
        # streamed one (a multipart upload from a temporary file) is sent piece by piece, so an
        # upload of a 50 MB result never sits in memory whole (MEDIA_MEMORY_MB, issue 17).
        streamed = not isinstance(request.stream, httpx.ByteStream)
        body = b"" if streamed else await request.aread()
        head = h11.Request(method=request.method, target=url.raw_path, headers=list(request.headers.raw))

        slot = await self._acquire(timeouts, request)
        conn: _Connection | None = None
        answered = False
        try:
            conn = self._take_idle(origin) or await self._connect(origin, request, timeouts)
            data = conn.h11.send(head) or b""
            if streamed:
                await _send(conn, request, timeouts, data)
                async for chunk in request.stream:  # type: ignore[union-attr]
                    if chunk:
                        await _send(conn, request, timeouts, conn.h11.send(h11.Data(data=chunk)) or b"")
                await _send(conn, request, timeouts, conn.h11.send(h11.EndOfMessage()) or b"")
            else:
                if body:
                    data += conn.h11.send(h11.Data(data=body)) or b""
                data += conn.h11.send(h11.EndOfMessage()) or b""
                await _send(conn, request, timeouts, data)
            event = await _response_head(conn, request, _seconds(timeouts, "read"))
            answered = True
        finally:
            if not answered:  # failed or cancelled half-way: the connection's state is unknown
                if conn is not None:
                    conn.close()
                self._slots.release_on_behalf_of(slot)
        stream = _ResponseBody(self, origin, conn, slot, request, _seconds(timeouts, "read"))
        return httpx.Response(
            status_code=event.status_code,
            headers=event.headers,
            stream=stream,
            extensions={"http_version": b"HTTP/1.1", "reason_phrase": event.reason},
        )

    async def post_json(self, url: str, body: bytes, phases: httpx.Timeout) -> tuple[int, bytes]:
        """POST ``body`` as JSON to ``url``; returns (status, response body). Raises httpx's
        transport exceptions (``ConnectError``, ``PoolTimeout``, ``ReadTimeout``, ...) like
        :meth:`handle_async_request` — without a ``request`` attached, as none was built."""
        if self._closed:
            raise httpx.ConnectError("the transport is closed")
        origin, target, host = self._url_parts(url)
        timeouts = phases.as_dict()  # connect, write, read and pool time-outs, as httpx counts them
        head = h11.Request(
            method=b"POST",
            target=target,
            headers=[
                (b"host", host),
                (b"user-agent", _USER_AGENT),
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        )
        slot = await self._acquire(timeouts, None)
        conn: _Connection | None = None
        reuse = False
        try:
            conn = self._take_idle(origin) or await self._connect(origin, None, timeouts)
            data = (conn.h11.send(head) or b"") + (conn.h11.send(h11.Data(data=body)) or b"") + (conn.h11.send(h11.EndOfMessage()) or b"")
            await _send(conn, None, timeouts, data)
            read_s = _seconds(timeouts, "read")
            status = (await _response_head(conn, None, read_s)).status_code
            chunks: list[bytes] = []
            while (piece := await _body_piece(conn, None, read_s)) is not None:
                chunks.append(piece)
            reuse = conn.h11.our_state is h11.DONE and conn.h11.their_state is h11.DONE
            return status, chunks[0] if len(chunks) == 1 else b"".join(chunks)
        finally:
            if conn is None:
                self._slots.release_on_behalf_of(slot)
            else:  # failed or cancelled half-way: the connection's state is unknown, it is closed
                self._release(origin, conn, slot, reuse=reuse)

    async def _acquire(self, timeouts: dict[str, Any], request: httpx.Request | None) -> object:
        """A connection slot (the token to release it with), within the pool time-out."""
        slot = object()
        with trio.move_on_after(_seconds(timeouts, "pool")) as waited:
            await self._slots.acquire_on_behalf_of(slot)
        if waited.cancelled_caught:
            raise httpx.PoolTimeout("no connection free in time", request=request)
        return slot

    def _url_parts(self, url: str) -> tuple[_Origin, bytes, bytes]:
        """(origin, request target, Host header) of ``url``, parsed once per distinct URL."""
        parts = self._urls.get(url)
        if parts is None:
            parsed = httpx.URL(url)
            scheme = parsed.scheme
            if scheme not in ("http", "https"):
                raise httpx.UnsupportedProtocol(f"unsupported scheme {scheme!r}")
            default_port = 443 if scheme == "https" else 80
            port = parsed.port or default_port
            name = b"[" + parsed.raw_host + b"]" if b":" in parsed.raw_host else parsed.raw_host  # IPv6
            host = name + (b"" if port == default_port else b":%d" % port)
            parts = ((scheme, parsed.host, port), parsed.raw_path, host)
            if len(self._urls) < _URL_CACHE_SIZE:
                self._urls[url] = parts
        return parts

    def _take_idle(self, origin: _Origin) -> _Connection | None:
        idle = self._idle.get(origin)
        now = trio.current_time()
        while idle:
            conn = idle.pop()
            if now - conn.idle_since <= self._idle_timeout_s and conn.reusable_now():
                return conn
            conn.close()
        return None

    async def _connect(self, origin: _Origin, request: httpx.Request | None, timeouts: dict[str, Any]) -> _Connection:
        scheme, host, port = origin
        with _errors(request, httpx.ConnectTimeout, httpx.ConnectError), trio.fail_after(_seconds(timeouts, "connect")):
            tcp = await trio.open_tcp_stream(host, port)
            if scheme == "http":
                return _Connection(stream=tcp, socket_stream=tcp)
            shaken = False
            try:
                tls = trio.SSLStream(tcp, self._ssl(), server_hostname=host, https_compatible=True)
                await tls.do_handshake()
                shaken = True
            finally:
                if not shaken:
                    tcp.socket.close()
            return _Connection(stream=tls, socket_stream=tcp)

    def _release(self, origin: _Origin, conn: _Connection, slot: object, *, reuse: bool) -> None:
        self._slots.release_on_behalf_of(slot)
        idle = self._idle.setdefault(origin, [])
        if reuse and not self._closed and len(idle) < self._max_idle:
            try:
                conn.h11.start_next_cycle()
            except h11.LocalProtocolError:
                conn.close()
                return
            conn.idle_since = trio.current_time()
            idle.append(conn)
        else:
            conn.close()

    async def aclose(self) -> None:
        self._closed = True
        for idle in self._idle.values():
            for conn in idle:
                conn.close()
        self._idle.clear()


class _ResponseBody(httpx.AsyncByteStream):
    """The response body, read from the connection as httpx iterates; the connection goes back to
    the pool once the body has been read to its end, and is closed if the reader stops early."""

    def __init__(
        self, transport: LeanTransport, origin: _Origin, conn: _Connection, slot: object, request: httpx.Request, read_s: float
    ) -> None:
        self._transport = transport
        self._origin = origin
        self._conn = conn
        self._slot = slot
        self._request = request
        self._read_s = read_s
        self._done = False
        self._released = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            while not self._done:
                piece = await _body_piece(self._conn, self._request, self._read_s)
                if piece is None:
                    self._done = True
                else:
                    yield piece
        finally:
            state = self._conn.h11
            self._finish(reuse=self._done and state.our_state is h11.DONE and state.their_state is h11.DONE)

    async def aclose(self) -> None:
        self._finish(reuse=False)

    def _finish(self, *, reuse: bool) -> None:
        if not self._released:
            self._released = True
            self._transport._release(self._origin, self._conn, self._slot, reuse=reuse and self._done)


async def _send(conn: _Connection, request: httpx.Request | None, timeouts: dict[str, Any], data: bytes) -> None:
    """One write, within the write timeout (per write, as httpcore counts it)."""
    with _errors(request, httpx.WriteTimeout, httpx.WriteError), trio.fail_after(_seconds(timeouts, "write")):
        await conn.stream.send_all(data)


async def _response_head(conn: _Connection, request: httpx.Request | None, read_s: float) -> h11.Response:
    """The response's status line and headers (informational answers skipped)."""
    event = await _next_event(conn, request, read_s)
    while isinstance(event, h11.InformationalResponse):
        event = await _next_event(conn, request, read_s)
    if not isinstance(event, h11.Response):
        raise httpx.RemoteProtocolError(f"unexpected {type(event).__name__} instead of a response", request=request)
    return event


async def _body_piece(conn: _Connection, request: httpx.Request | None, read_s: float) -> bytes | None:
    """The next piece of the response body, or None at its end."""
    event = await _next_event(conn, request, read_s)
    if isinstance(event, h11.Data):
        return bytes(event.data)
    if isinstance(event, h11.EndOfMessage):
        return None
    raise httpx.RemoteProtocolError(f"unexpected {type(event).__name__} in a response body", request=request)


async def _next_event(conn: _Connection, request: httpx.Request | None, read_s: float) -> Any:
    while True:
        with _errors(request, httpx.RemoteProtocolError, httpx.RemoteProtocolError):
            event = conn.h11.next_event()
        if event is not h11.NEED_DATA:
            return event
        with _errors(request, httpx.ReadTimeout, httpx.ReadError), trio.fail_after(read_s):
            data = await conn.stream.receive_some(_READ_SIZE)
        with _errors(request, httpx.RemoteProtocolError, httpx.RemoteProtocolError):
            conn.h11.receive_data(bytes(data))  # b"" is the end of the stream


@contextlib.contextmanager
def _errors(request: httpx.Request | None, timeout: type[httpx.TransportError], error: type[httpx.TransportError]) -> Any:
    """trio, OS, TLS and h11 failures as the httpx exceptions the client already handles."""
    try:
        yield
    except trio.TooSlowError:
        raise timeout("timed out", request=request) from None
    except h11.RemoteProtocolError as exc:
        raise httpx.RemoteProtocolError(str(exc), request=request) from None
    except (OSError, trio.BrokenResourceError, trio.ClosedResourceError) as exc:
        raise error(f"{type(exc).__name__}: {exc}", request=request) from None
