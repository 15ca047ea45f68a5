"""The Telegram client's HTTP transport (kiebot/telegram/lean_http.py) against a small HTTP/1.1
server on 127.0.0.1 written with h11: keep-alive reuse, connections the server closed, bodies
streamed and abandoned, time-outs and refusals as httpx's exceptions."""

from __future__ import annotations

import contextlib
import json
import shutil
import ssl
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import h11
import httpx
import pytest
import trio

from kiebot.telegram.lean_http import LeanTransport


@dataclass
class Plan:
    """What the server does for a request path."""

    body: bytes = b'{"ok":true}'
    close: bool = False  # answer with Connection: close
    chunked: bool = False
    stall_s: float = 0.0  # wait before answering


@dataclass
class Server:
    url: str = ""
    connections: int = 0
    requests: list[tuple[str, bytes]] = field(default_factory=list)
    heads: list[list[tuple[bytes, bytes]]] = field(default_factory=list)  # each request's headers
    plans: dict[str, Plan] = field(default_factory=dict)
    close_idle: bool = False  # close each connection once its response is sent (without saying so)
    body_arrived: trio.Event = field(default_factory=trio.Event)  # set at the first piece of any request body

    async def handle(self, stream: trio.SocketStream) -> None:
        self.connections += 1
        # The client may go away (a body it stopped reading, a cancelled request).
        with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
            await self._serve(stream)

    async def _serve(self, stream: trio.SocketStream) -> None:
        conn = h11.Connection(h11.SERVER)
        with trio.move_on_after(30):
            while True:
                event = conn.next_event()
                if event is h11.NEED_DATA:
                    data = await stream.receive_some(65536)
                    conn.receive_data(data)
                    if not data and conn.their_state is not h11.DONE:
                        return
                    continue
                if isinstance(event, h11.Request):
                    target, body = event.target.decode(), b""
                    self.heads.append([(bytes(k), bytes(v)) for k, v in event.headers])
                    while not isinstance(ev := conn.next_event(), h11.EndOfMessage):
                        if ev is h11.NEED_DATA:
                            conn.receive_data(await stream.receive_some(65536))
                        elif isinstance(ev, h11.Data):
                            body += ev.data
                            self.body_arrived.set()
                    self.requests.append((target, body))
                    plan = self.plans.get(target, Plan())
                    await trio.sleep(plan.stall_s)
                    headers = [("Content-Type", "application/json")]
                    headers += [("Transfer-Encoding", "chunked")] if plan.chunked else [("Content-Length", str(len(plan.body)))]
                    if plan.close:
                        headers.append(("Connection", "close"))
                    out = conn.send(h11.Response(status_code=200, headers=headers))
                    if plan.chunked:
                        for i in range(0, len(plan.body), 1000):
                            out += conn.send(h11.Data(data=plan.body[i : i + 1000]))
                    else:
                        out += conn.send(h11.Data(data=plan.body))
                    out += conn.send(h11.EndOfMessage())
                    await stream.send_all(out)
                    if conn.our_state is h11.MUST_CLOSE or self.close_idle:
                        await stream.aclose()
                        return
                    conn.start_next_cycle()
                else:
                    return


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    srv = Server()
    async with trio.open_nursery() as nursery:
        listeners = await nursery.start(partial(trio.serve_tcp, srv.handle, 0, host="127.0.0.1"))
        srv.url = f"http://127.0.0.1:{listeners[0].socket.getsockname()[1]}"
        yield srv
        nursery.cancel_scope.cancel()


def _client(**kwargs: object) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=LeanTransport(), timeout=httpx.Timeout(5.0, **kwargs))  # type: ignore[arg-type]


async def test_requests_reuse_one_connection_and_carry_their_bodies(server: Server) -> None:
    with trio.fail_after(10):
        async with _client() as http:
            for i in range(5):
                response = await http.post(f"{server.url}/sendMessage?i={i}", content=json.dumps({"n": i}).encode())
                assert response.status_code == 200
                assert response.json() == {"ok": True}
    assert server.connections == 1
    assert server.requests == [(f"/sendMessage?i={i}", json.dumps({"n": i}).encode()) for i in range(5)]


async def test_a_streamed_request_body_is_sent_as_it_comes_not_read_whole_first(server: Server) -> None:
    """An upload from a temporary file must not be gathered in memory (MEDIA_MEMORY_MB): the
    second piece is produced only once the server has the first, so reading the whole body
    before sending it would never finish."""

    async def pieces() -> AsyncIterator[bytes]:
        yield b"a" * 70_000
        await server.body_arrived.wait()
        yield b"b" * 70_000

    with trio.fail_after(10):
        async with _client() as http:
            response = await http.post(f"{server.url}/sendVideo", content=pieces())
            assert response.status_code == 200
    assert server.requests == [("/sendVideo", b"a" * 70_000 + b"b" * 70_000)]


async def test_concurrent_requests_open_their_own_connections(server: Server) -> None:
    server.plans["/slow"] = Plan(stall_s=0.2)
    with trio.fail_after(10):
        async with _client() as http, trio.open_nursery() as nursery:
            for _ in range(3):
                nursery.start_soon(http.post, f"{server.url}/slow")
    assert server.connections == 3


async def test_a_streamed_body_can_be_read_in_pieces_or_abandoned(server: Server) -> None:
    big = bytes(range(256)) * 400  # 100 KiB, chunked
    server.plans["/file"] = Plan(body=big, chunked=True)
    with trio.fail_after(10):
        async with _client() as http:
            async with http.stream("GET", f"{server.url}/file") as response:
                got = b"".join([chunk async for chunk in response.aiter_raw()])
            assert got == big
            async with http.stream("GET", f"{server.url}/file") as response:
                async for _ in response.aiter_raw():
                    break  # stop early: this connection must not be reused
            assert (await http.get(f"{server.url}/after")).status_code == 200
    assert server.connections == 2


# -- post_json: the JSON calls' path without httpx's client (issue 18) ---------------------------

_TIMEOUT = httpx.Timeout(5.0)


async def test_post_json_reuses_one_connection_and_sends_what_the_bot_api_expects(server: Server) -> None:
    with trio.fail_after(10):
        transport = LeanTransport()
        for i in range(5):
            status, body = await transport.post_json(f"{server.url}/bot1:x/sendMessage", json.dumps({"n": i}).encode(), _TIMEOUT)
            assert (status, json.loads(body)) == (200, {"ok": True})
        await transport.aclose()
    assert server.connections == 1
    assert server.requests == [("/bot1:x/sendMessage", json.dumps({"n": i}).encode()) for i in range(5)]
    host = server.url.removeprefix("http://").encode()
    assert (b"host", host) in server.heads[0]
    assert (b"content-type", b"application/json") in server.heads[0]


async def test_post_json_reads_a_chunked_answer_whole(server: Server) -> None:
    big = json.dumps({"ok": True, "result": ["x" * 50] * 200}).encode()
    server.plans["/getUpdates"] = Plan(body=big, chunked=True)
    with trio.fail_after(10):
        transport = LeanTransport()
        assert await transport.post_json(f"{server.url}/getUpdates", b"{}", _TIMEOUT) == (200, big)
        assert (await transport.post_json(f"{server.url}/again", b"{}", _TIMEOUT))[0] == 200
        await transport.aclose()
    assert server.connections == 1


class Poster:
    """A POST either way the Telegram client sends one over this transport: through httpx's client
    (uploads, downloads) or through :meth:`LeanTransport.post_json` (the JSON calls)."""

    def __init__(self, way: str, *, max_connections: int = 200, **timeouts: float) -> None:
        self.way = way
        self.transport = LeanTransport(max_connections=max_connections)
        self.http = httpx.AsyncClient(transport=self.transport, timeout=httpx.Timeout(5.0, **timeouts))  # type: ignore[arg-type]

    async def post(self, url: str) -> tuple[int, bytes]:
        if self.way == "httpx":
            response = await self.http.post(url, content=b"{}")
            return response.status_code, response.content
        return await self.transport.post_json(url, b"{}", self.http.timeout)

    async def aclose(self) -> None:
        await self.http.aclose()


WAYS = pytest.mark.parametrize("way", ["httpx", "post_json"])


@WAYS
@pytest.mark.parametrize("why", ["connection close", "closed while idle"])
async def test_a_connection_the_server_closed_is_not_reused(server: Server, why: str, way: str) -> None:
    if why == "connection close":
        server.plans["/a"] = Plan(close=True)
    else:
        server.close_idle = True
    with trio.fail_after(10):
        poster = Poster(way)
        assert (await poster.post(f"{server.url}/a"))[0] == 200
        await trio.sleep(0.05)  # the close reaches us while the connection is idle
        assert (await poster.post(f"{server.url}/b"))[0] == 200
        await poster.aclose()
    assert server.connections == 2


@WAYS
async def test_time_outs_and_refusals_are_httpx_errors(server: Server, way: str) -> None:
    """The same exceptions both ways, so the client's retry rules (sent or not) hold."""
    server.plans["/stall"] = Plan(stall_s=2.0)
    with trio.fail_after(10):
        impatient = Poster(way, read=0.2)
        with pytest.raises(httpx.ReadTimeout):
            await impatient.post(f"{server.url}/stall")
        assert (await impatient.post(f"{server.url}/fine"))[0] == 200
        await impatient.aclose()
        poster = Poster(way)
        with trio.socket.socket() as sock:
            await sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]  # bound, not listening: connections are refused
            with pytest.raises(httpx.ConnectError):
                await poster.post(f"http://127.0.0.1:{port}/x")
        with pytest.raises(httpx.UnsupportedProtocol):
            await poster.post("ftp://127.0.0.1/x")
        await poster.aclose()


async def test_post_json_on_a_closed_transport_sends_nothing(server: Server) -> None:
    transport = LeanTransport()
    await transport.aclose()
    with trio.fail_after(10), pytest.raises(httpx.ConnectError):
        await transport.post_json(f"{server.url}/late", b"{}", _TIMEOUT)
    assert server.connections == 0


@WAYS
async def test_a_cancelled_request_leaves_no_half_used_connection(server: Server, way: str) -> None:
    server.plans["/stall"] = Plan(stall_s=1.0)
    with trio.fail_after(10):
        poster = Poster(way, max_connections=1)
        with trio.move_on_after(0.1):
            await poster.post(f"{server.url}/stall")
        # The one slot came back (else this would wait for the pool), on a new connection.
        assert await poster.post(f"{server.url}/next") == (200, b'{"ok":true}')
        await poster.aclose()
    assert server.connections == 2


@pytest.fixture
def self_signed(tmp_path: Path) -> tuple[Path, Path]:
    """A certificate for ``localhost`` made by the openssl command line (no Python dependency)."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60,
    )
    return cert, key


async def test_https_checks_the_certificate(self_signed: tuple[Path, Path]) -> None:
    cert, key = self_signed
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(cert, key)
    srv = Server()

    async def handle(stream: trio.SocketStream) -> None:
        tls = trio.SSLStream(stream, server_context, server_side=True)
        with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
            await tls.do_handshake()
            await srv._serve(tls)  # type: ignore[arg-type]

    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            listeners = await nursery.start(partial(trio.serve_tcp, handle, 0, host="127.0.0.1"))
            url = f"https://localhost:{listeners[0].socket.getsockname()[1]}"
            trusting = ssl.create_default_context(cafile=str(cert))
            async with httpx.AsyncClient(transport=LeanTransport(ssl_context=trusting)) as http:
                assert (await http.post(url + "/getMe", content=b"{}")).json() == {"ok": True}
                assert (await http.post(url + "/getMe", content=b"{}")).status_code == 200
            async with httpx.AsyncClient(transport=LeanTransport()) as http:  # certifi's roots: refused
                with pytest.raises(httpx.ConnectError):
                    await http.post(url + "/getMe")
            nursery.cancel_scope.cancel()
    assert srv.requests == [("/getMe", b"{}"), ("/getMe", b"{}")]
