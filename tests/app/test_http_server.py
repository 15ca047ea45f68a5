"""The bot's HTTP/1.1 server (kiebot/runtime/http_server.py) with small ASGI applications, over
real sockets on 127.0.0.1: keep-alive, closing rules, errors, lifespan and graceful shutdown."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
import trio

from kiebot.runtime.http_server import serve_asgi
from tests.support.asgi import read_body

Scope = dict[str, Any]


class App:
    """Echoes the body; ``/slow`` waits, ``/boom`` fails, ``/close`` answers Connection: close,
    ``/early`` answers without reading the body; records lifespan events."""

    def __init__(self) -> None:
        self.lifespan: list[str] = []
        self.release = trio.Event()
        self.started_slow = trio.Event()

    async def __call__(self, scope: Scope, receive: Callable[..., Any], send: Callable[..., Any]) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                self.lifespan.append(message["type"])
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                else:
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        path = scope["path"]
        if path == "/boom":
            raise RuntimeError("boom")
        headers = [(b"content-type", b"text/plain")]
        if path == "/early":
            await send({"type": "http.response.start", "status": 413, "headers": [*headers, (b"content-length", b"0")]})
            await send({"type": "http.response.body", "body": b""})
            return
        body = await read_body(receive)
        if path == "/slow":
            self.started_slow.set()
            await self.release.wait()
        if path == "/close":
            headers.append((b"connection", b"close"))
        answer = f"{scope['method']} {path}?{scope['query_string'].decode()} {body.decode()}".encode()
        await send({"type": "http.response.start", "status": 200, "headers": [*headers, (b"content-length", str(len(answer)).encode())]})
        await send({"type": "http.response.body", "body": answer})


class Running:
    def __init__(self, app: App, url: str, stop: trio.Event, stopped: trio.Event) -> None:
        self.app, self.url, self.stop, self.stopped = app, url, stop, stopped


@pytest.fixture
async def running() -> AsyncIterator[Running]:
    app = App()
    stop, stopped = trio.Event(), trio.Event()

    async def serve(task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED) -> None:
        try:
            await serve_asgi(app, "127.0.0.1", 0, shutdown_trigger=stop.wait, graceful_s=2.0, keep_alive_s=1.0, task_status=task_status)
        finally:
            stopped.set()

    async with trio.open_nursery() as nursery:
        url = await nursery.start(serve)
        yield Running(app, url, stop, stopped)
        stop.set()


async def _raw(url: str, data: bytes) -> bytes:
    host, port = url.removeprefix("http://").split(":")
    stream = await trio.open_tcp_stream(host, int(port))
    async with stream:
        await stream.send_all(data)
        out = b""
        with trio.move_on_after(3):
            while chunk := await stream.receive_some(65536):
                out += chunk
        return out


async def test_requests_share_a_connection_and_bodies_arrive(running: Running) -> None:
    with trio.fail_after(10):
        async with httpx.AsyncClient() as http:
            first = await http.post(running.url + "/a?x=1", content=b"hello")
            second = await http.get(running.url + "/b")
        assert (first.status_code, first.text) == (200, "POST /a?x=1 hello")
        assert (second.status_code, second.text) == (200, "GET /b? ")
        assert running.app.lifespan == ["lifespan.startup"]
        # Two requests written back to back on one connection (pipelined) are answered in order.
        answer = await _raw(running.url, b"GET /p1 HTTP/1.1\r\nHost: x\r\n\r\nGET /close HTTP/1.1\r\nHost: x\r\n\r\n")
        assert answer.count(b"HTTP/1.1 200") == 2
        assert answer.index(b"GET /p1") < answer.index(b"GET /close")


async def test_connections_close_when_they_must(running: Running) -> None:
    with trio.fail_after(10):
        # Connection: close from the application: the server closes after the answer.
        closed = await _raw(running.url, b"GET /close HTTP/1.1\r\nHost: x\r\n\r\n")
        assert closed.startswith(b"HTTP/1.1 200")
        assert closed.endswith(b"GET /close? ")
        # An answer that left the request body unread: the rest of the connection is not trusted.
        early = await _raw(running.url, b"POST /early HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n12345")
        assert early.startswith(b"HTTP/1.1 413")
        # A client that waits for "100 Continue" before its body gets it.
        host, port = running.url.removeprefix("http://").split(":")
        async with await trio.open_tcp_stream(host, int(port)) as stream:
            await stream.send_all(b"POST /e HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n")
            assert (await stream.receive_some(65536)).startswith(b"HTTP/1.1 100")
            await stream.send_all(b"hi")
            assert (await stream.receive_some(65536)).endswith(b"POST /e? hi")
        # Nonsense: 400, closed.
        assert (await _raw(running.url, b"NOT HTTP AT ALL\r\n\r\n")).startswith(b"HTTP/1.1 400")
        # An idle connection is closed after keep_alive_s (1 s here): the read ends without an answer.
        assert await _raw(running.url, b"") == b""


async def test_an_application_error_is_a_500_and_the_server_goes_on(running: Running) -> None:
    with trio.fail_after(10):
        async with httpx.AsyncClient() as http:
            assert (await http.get(running.url + "/boom")).status_code == 500
            assert (await http.get(running.url + "/ok")).status_code == 200


async def test_shutdown_lets_requests_in_flight_finish_then_runs_the_lifespan_shutdown(running: Running) -> None:
    with trio.fail_after(10):
        results: list[int] = []
        async with httpx.AsyncClient() as http, trio.open_nursery() as nursery:

            async def slow() -> None:
                results.append((await http.post(running.url + "/slow", content=b"x")).status_code)

            nursery.start_soon(slow)
            await running.app.started_slow.wait()
            running.stop.set()
            await trio.sleep(0.2)
            assert not running.stopped.is_set()  # the request in flight holds the shutdown
            with pytest.raises(httpx.ConnectError):  # no new connections meanwhile
                await httpx.AsyncClient().get(running.url + "/new")
            running.app.release.set()
        await running.stopped.wait()
        assert results == [200]
        assert running.app.lifespan == ["lifespan.startup", "lifespan.shutdown"]




async def test_a_body_that_trickles_is_cut_off_with_408() -> None:
    """A client that sends its head and then too little of its body within ``body_timeout_s``
    gets 408 and a closed connection; the application sees a disconnect, not a body."""
    app = App()
    stop = trio.Event()
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            url = await nursery.start(
                lambda task_status: serve_asgi(
                    app, "127.0.0.1", 0, shutdown_trigger=stop.wait, keep_alive_s=5.0, body_timeout_s=0.3, task_status=task_status
                )
            )
            host, port = url.removeprefix("http://").split(":")
            async with await trio.open_tcp_stream(host, int(port)) as stream:
                began = trio.current_time()
                await stream.send_all(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n123")
                await trio.sleep(0.15)
                await stream.send_all(b"4")  # still trickling: it does not buy more time
                answer = b""
                while chunk := await stream.receive_some(65536):  # ends when the server closes
                    answer += chunk
                waited = trio.current_time() - began
            assert answer.startswith(b"HTTP/1.1 408")
            assert b"POST /echo" not in answer  # the application never got the body
            assert 0.25 <= waited < 3
            # A prompt client on the same server is served as usual.
            async with httpx.AsyncClient() as http:
                assert (await http.post(url + "/echo", content=b"0123456789")).text == "POST /echo? 0123456789"
            stop.set()
