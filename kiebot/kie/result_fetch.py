"""Downloading result files without letting a URL point the bot inside (issue 13, item 2).

:class:`PinnedTransport` is an httpx transport that, for every request, checks the URL
(:func:`~kiebot.kie.result_guard.url_refusal`), resolves the host **once** with an injectable
resolver, refuses unless every address passes
:func:`~kiebot.kie.result_guard.address_refusal`, and then connects to one of the checked
addresses itself — the URL's host is replaced by the IP while the ``Host`` header stays, and for
https the TLS server name (SNI) and certificate check stay on the host name (httpcore's
``sni_hostname`` request extension). A DNS answer that changes between the check and the connect
(DNS rebinding) therefore cannot move the connection. Connections are not kept alive: a pooled
connection is keyed by IP, and one verified for one host name must not serve another.

:class:`ResultFetcher` follows redirects by hand, at most ``max_redirects`` hops, each hop a new
request through the same transport — so each is checked like the first. Nothing here sends
credentials: result hosts are third parties.
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager

import httpx
import trio

from kiebot.kie.errors import ResultRefused
from kiebot.kie.result_guard import (
    DEFAULT_PORTS,
    TrustedHosts,
    address_refusal,
    ip_literal,
    url_refusal,
)

#: ``resolver(host, port) -> addresses`` (text IPs). Tests inject a stand-in; never a real lookup.
Resolver = Callable[[str, int], Awaitable[Sequence[str]]]

MAX_REDIRECTS = 5
_IDENTITY = {"Accept-Encoding": "identity"}


async def system_resolver(host: str, port: int) -> list[str]:
    """The operating system's answer (``getaddrinfo``), in its order, without duplicates."""
    try:
        infos = await trio.socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:  # socket.gaierror
        raise httpx.ConnectError(f"cannot resolve the result host ({type(exc).__name__})") from None
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def _refused(host: str, reason: str) -> ResultRefused:
    return ResultRefused(f"result host {host!r} refused ({reason})", host=host, reason=reason)


class PinnedTransport(httpx.AsyncBaseTransport):
    """Checks, resolves once and connects to the checked address (see the module docstring).

    Args:
        trusted: hosts allowed over http and on private addresses.
        resolver: host name → addresses; default :func:`system_resolver`.
        inner: the transport that really connects (default: no keep-alive, no proxy from the
            environment — a proxy would connect to the host name itself).
    """

    def __init__(
        self,
        trusted: TrustedHosts,
        *,
        resolver: Resolver | None = None,
        inner: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._trusted = trusted
        self._resolve = resolver or system_resolver
        self._inner = inner or httpx.AsyncHTTPTransport(
            trust_env=False, limits=httpx.Limits(max_connections=100, max_keepalive_connections=0)
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        host = url.raw_host.decode("ascii")
        scheme = url.scheme
        reason = url_refusal(scheme, host, url.port, self._trusted)
        if reason is not None:
            raise _refused(host, reason)
        port = url.port if url.port is not None else DEFAULT_PORTS[scheme]
        trusted = self._trusted.trusts(host, port)
        literal = ip_literal(host)
        addresses = [str(literal)] if literal is not None else list(dict.fromkeys(await self._resolve(host, port)))
        if not addresses:
            raise httpx.ConnectError("the result host has no address")
        for address in addresses:  # all of them, before any connection is attempted
            reason = address_refusal(address, trusted=trusted)
            if reason is not None:
                raise _refused(host, reason)
        extensions = dict(request.extensions)
        if scheme == "https" and literal is None:
            extensions["sni_hostname"] = host
        last: httpx.ConnectError | None = None
        for address in addresses:
            pinned = httpx.Request(
                request.method,
                url.copy_with(host=address),
                headers=request.headers,  # keeps Host: <the name>
                stream=request.stream,
                extensions=extensions,
            )
            try:
                return await self._inner.handle_async_request(pinned)
            except httpx.ConnectError as exc:  # e.g. localhost → ::1 where only 127.0.0.1 listens
                last = exc
        assert last is not None
        raise last

    async def aclose(self) -> None:
        await self._inner.aclose()


class ResultFetcher:
    """GETs a result through a :class:`PinnedTransport`, following redirects hop by hop."""

    def __init__(
        self,
        trusted: TrustedHosts | None = None,
        *,
        resolver: Resolver | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        max_redirects: int = MAX_REDIRECTS,
    ) -> None:
        self.trusted = trusted or TrustedHosts()
        self._max_redirects = max_redirects
        pinned = PinnedTransport(self.trusted, resolver=resolver, inner=transport)
        self._client = httpx.AsyncClient(transport=pinned, trust_env=False, follow_redirects=False)

    @asynccontextmanager
    async def stream(self, url: str, *, timeout: httpx.Timeout) -> AsyncIterator[httpx.Response]:  # noqa: ASYNC109 - httpx phases, not a deadline
        """The final (non-redirect) response, streamed; closed on exit.

        Raises:
            ResultRefused: a hop was refused, or more than ``max_redirects`` redirects.
            httpx.HTTPError: the network failed (the caller decides about retrying).
            httpx.InvalidURL: a malformed URL or ``Location``.
        """
        current = httpx.URL(url)
        for _ in range(self._max_redirects + 1):
            # identity: a compressed answer would be inflated chunk by chunk past the size cap
            request = self._client.build_request("GET", current, headers=_IDENTITY, timeout=timeout)
            response = await self._client.send(request, stream=True)
            if not response.has_redirect_location:
                try:
                    yield response
                finally:
                    await response.aclose()
                return
            location = response.headers["Location"]
            await response.aclose()
            current = current.join(location)
        raise _refused(current.raw_host.decode("ascii"), "redirects")

    async def aclose(self) -> None:
        await self._client.aclose()
