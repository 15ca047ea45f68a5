"""A webhook load generator: Telegram's side of ``POST /webhook``, at a controlled rate.

Telegram delivers updates over up to ``max_connections`` (default 40) keep-alive HTTPS connections
(https://core.telegram.org/bots/api#setwebhook), one request at a time per connection. This
generator does the same over plain HTTP/1.1 on 127.0.0.1, with a hand-written request and a
minimal response parser: httpx costs several times more CPU per request, and the generator shares
a core with the fakes, so a heavy client would measure itself.

**Open loop** (:func:`open_loop`): request *i* is due at ``start + i / rate`` whatever happened to
the earlier ones, and its latency counts from that due time — if every connection is busy the wait
for one is part of the latency, as it is for Telegram. Measuring from the actual send instead would
hide queueing ("coordinated omission"). **Closed loop** (:func:`closed_loop`): every connection
sends its next request as soon as the previous one is answered; the completed requests per second
are the maximum rate the server sustains with that many connections.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import trio

from benchmarks._common import percentile

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
TELEGRAM_CONNECTIONS = 40


class ResponseError(Exception):
    """The server closed the connection or sent something that is not an HTTP/1.1 response."""


class Connection:
    """One keep-alive HTTP/1.1 connection that POSTs JSON bodies to one path."""

    def __init__(self, url: str, headers: dict[str, str]) -> None:
        parts = urlsplit(url)
        self._host = parts.hostname or "127.0.0.1"
        self._port = parts.port or 80
        head = f"POST {parts.path or '/'} HTTP/1.1\r\nHost: {self._host}:{self._port}\r\nContent-Type: application/json\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        self._head = head.encode()
        self._stream: trio.SocketStream | None = None
        self._buffer = bytearray()

    async def aclose(self) -> None:
        if self._stream is not None:
            await self._stream.aclose()
            self._stream = None

    async def post(self, body: bytes) -> int:
        """Send one request and read the whole answer; returns the status code. Reconnects once
        when the server had closed an idle keep-alive connection."""
        for attempt in range(2):
            if self._stream is None:
                self._stream = await trio.open_tcp_stream(self._host, self._port)
                self._buffer.clear()
            try:
                await self._stream.send_all(self._head + b"Content-Length: %d\r\n\r\n" % len(body) + body)
                return await self._read_response()
            except (trio.BrokenResourceError, trio.ClosedResourceError, ResponseError):
                await self.aclose()
                if attempt:
                    raise
        raise AssertionError("unreachable")

    async def _fill(self) -> None:
        assert self._stream is not None
        chunk = await self._stream.receive_some(65536)
        if not chunk:
            raise ResponseError("connection closed")
        self._buffer += chunk

    async def _read_response(self) -> int:
        while (end := self._buffer.find(b"\r\n\r\n")) < 0:
            await self._fill()
        head = bytes(self._buffer[:end]).decode("latin-1").split("\r\n")
        del self._buffer[: end + 4]
        try:
            status = int(head[0].split(" ", 2)[1])
        except (IndexError, ValueError):
            raise ResponseError(f"bad status line {head[0]!r}") from None
        headers = {}
        for line in head[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        if headers.get("transfer-encoding", "").lower() == "chunked":
            await self._skip_chunked()
        else:
            length = int(headers.get("content-length", "0"))
            while len(self._buffer) < length:
                await self._fill()
            del self._buffer[:length]
        if headers.get("connection", "").lower() == "close":
            await self.aclose()
        return status

    async def _skip_chunked(self) -> None:
        while True:
            while (end := self._buffer.find(b"\r\n")) < 0:
                await self._fill()
            size = int(bytes(self._buffer[:end]).split(b";")[0], 16)
            del self._buffer[: end + 2]
            while len(self._buffer) < size + 2:
                await self._fill()
            del self._buffer[: size + 2]
            if size == 0:
                return


@dataclass
class LoadResult:
    """What one load run saw. Latencies are in seconds."""

    offered_rate: float | None
    sent: int
    elapsed_s: float
    latencies: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    errors: int = 0

    @property
    def completed(self) -> int:
        return len(self.latencies)

    @property
    def achieved_rate(self) -> float:
        return self.completed / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def ms(self, q: float) -> float:
        return percentile(self.latencies, q) * 1000

    @property
    def ok(self) -> int:
        return sum(n for status, n in self.statuses.items() if 200 <= status < 300)


Bodies = Callable[[int], bytes]


async def open_loop(
    url: str, secret: str, body_of: Bodies, *, rate: float, count: int, connections: int = TELEGRAM_CONNECTIONS
) -> LoadResult:
    """Send ``count`` requests at ``rate`` per second over ``connections`` connections."""
    result = LoadResult(offered_rate=rate, sent=count, elapsed_s=0.0)
    send, receive = trio.open_memory_channel[tuple[float, bytes]](math.inf)
    last_done = 0.0

    async def worker() -> None:
        nonlocal last_done
        conn = Connection(url, {SECRET_HEADER: secret})
        try:
            async for due, body in receive:
                try:
                    status = await conn.post(body)
                except (OSError, trio.BrokenResourceError, ResponseError):
                    result.errors += 1
                    continue
                now = trio.current_time()
                result.statuses[status] += 1
                result.latencies.append(now - due)
                last_done = max(last_done, now)
        finally:
            await conn.aclose()

    start = trio.current_time() + 0.05
    async with trio.open_nursery() as nursery:
        for _ in range(connections):
            nursery.start_soon(worker)
        async with send:
            for i in range(count):
                due = start + i / rate
                await trio.sleep_until(due)
                send.send_nowait((due, body_of(i)))
    result.elapsed_s = max(last_done, start) - start
    return result


async def closed_loop(
    url: str, secret: str, body_of: Bodies, *, seconds: float, connections: int = TELEGRAM_CONNECTIONS, first: int = 0
) -> LoadResult:
    """Every connection sends back to back for ``seconds``; bodies are numbered from ``first``."""
    result = LoadResult(offered_rate=None, sent=0, elapsed_s=0.0)
    counter = iter(range(first, first + 10**9))
    start = trio.current_time()
    stop_at = start + seconds

    async def worker() -> None:
        conn = Connection(url, {SECRET_HEADER: secret})
        try:
            while trio.current_time() < stop_at:
                body = body_of(next(counter))
                result.sent += 1
                began = trio.current_time()
                try:
                    status = await conn.post(body)
                except (OSError, trio.BrokenResourceError, ResponseError):
                    result.errors += 1
                    continue
                result.statuses[status] += 1
                result.latencies.append(trio.current_time() - began)
        finally:
            await conn.aclose()

    async with trio.open_nursery() as nursery:
        for _ in range(connections):
            nursery.start_soon(worker)
    result.elapsed_s = trio.current_time() - start
    return result


def describe(result: LoadResult) -> str:
    statuses = ", ".join(f"{status}×{n}" for status, n in sorted(result.statuses.items()))
    return (
        f"sent {result.sent}, completed {result.completed} in {result.elapsed_s:.2f} s "
        f"({result.achieved_rate:,.0f}/s), p50 {result.ms(50):.1f} ms, p99 {result.ms(99):.1f} ms, "
        f"max {result.ms(100):.1f} ms, statuses {statuses or '-'}, errors {result.errors}"
    )


def start_update(update_id: int, user_id: int, text: str = "/start", first_name: str = "Bench") -> bytes:
    """A private-chat text message as Telegram sends it (a ``bot_command`` entity for commands)."""
    command = text.split(" ")[0]
    entities = b""
    if command.startswith("/"):
        units = len(command.encode("utf-16-le")) // 2  # entity offsets count UTF-16 code units
        entities = b',"entities":[{"type":"bot_command","offset":0,"length":%d}]' % units
    return (
        b'{"update_id":%d,"message":{"message_id":%d,"date":1700000000,'
        b'"chat":{"id":%d,"type":"private","first_name":"%s"},'
        b'"from":{"id":%d,"is_bot":false,"first_name":"%s","language_code":"ru"},"text":"%s"%s}}'
        % (update_id, update_id, user_id, first_name.encode(), user_id, first_name.encode(), text.encode(), entities)
    )


__all__ = ["Connection", "LoadResult", "closed_loop", "describe", "open_loop", "start_update"]
