"""Where a result download may go: the sans-IO decisions behind :mod:`kiebot.kie.result_fetch`.

A result URL comes from Kie's answer (or, worse, from a forged callback), and the bot fetches it
from inside the deployment. Without a check, ``http://169.254.169.254/…`` (cloud metadata),
``http://10.0.0.5:5432`` or ``http://localhost:10000/metrics`` would be fetched and the bytes sent
to the user's chat — a server-side request forgery. So a result is fetched only:

* over https (http only for a trusted host), from a URL with a host;
* from a host whose every resolved address is public: loopback, private, link-local,
  multicast, reserved, unspecified and any other non-global address (CGNAT, documentation
  ranges, IPv4-mapped forms of those…) are refused.

``KIE_TRUSTED_RESULT_HOSTS`` names hosts exempt from both rules — for a fake Kie on the
operator's own machine (``localhost``, ``127.0.0.1``, ``kie-fake:8080``). An entry with a port
trusts that host on that port only.

Everything here is pure: the I/O (resolving once, connecting to the checked address) lives in
:mod:`kiebot.kie.result_fetch`.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass, field

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

DEFAULT_PORTS = {"http": 80, "https": 443}


def _normal_host(host: str) -> str:
    """Lower case, no brackets around an IPv6 literal, no trailing root dot."""
    host = host.strip().lower()
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host.rstrip(".")


def split_entry(entry: str) -> tuple[str, int | None]:
    """``host``, ``host:port``, ``[v6]``, ``[v6]:port`` or a bare IPv6 literal → (host, port).

    Raises:
        ValueError: an empty host or a port that is not 1–65535.
    """
    entry = entry.strip()
    port_text: str | None = None
    if entry.startswith("["):
        host, sep, rest = entry[1:].partition("]")
        if not sep or (rest and not rest.startswith(":")):
            raise ValueError("unbalanced brackets")
        port_text = rest[1:] if rest else None
    elif entry.count(":") == 1:
        host, port_text = entry.split(":")
    else:
        host = entry  # a name, or a bare IPv6 literal (several colons)
    host = _normal_host(host)
    if not host or any(ch.isspace() or ch in "/?#@" for ch in host):
        raise ValueError("not a host name")
    if port_text is None:
        return host, None
    if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
        raise ValueError("the port must be 1–65535")
    return host, int(port_text)


@dataclass(frozen=True)
class TrustedHosts:
    """Hosts (any port) and host:port pairs a result may come from over http or a private address."""

    names: frozenset[str] = field(default_factory=frozenset)
    origins: frozenset[tuple[str, int]] = field(default_factory=frozenset)

    @classmethod
    def parse(cls, entries: Iterable[str]) -> TrustedHosts:
        """From entries as :func:`split_entry` reads them (raises ValueError on a bad one)."""
        names: set[str] = set()
        origins: set[tuple[str, int]] = set()
        for entry in entries:
            if not entry.strip():
                continue
            host, port = split_entry(entry)
            if port is None:
                names.add(host)
            else:
                origins.add((host, port))
        return cls(frozenset(names), frozenset(origins))

    def with_origin(self, host: str, port: int) -> TrustedHosts:
        return TrustedHosts(self.names, self.origins | {(_normal_host(host), port)})

    def trusts(self, host: str, port: int) -> bool:
        host = _normal_host(host)
        return host in self.names or (host, port) in self.origins

    def __bool__(self) -> bool:
        return bool(self.names or self.origins)


def url_refusal(scheme: str, host: str, port: int | None, trusted: TrustedHosts) -> str | None:
    """Why a URL must not be fetched before any address is looked at, or None.

    ``scheme`` (https only, http for a trusted host), a missing host. The address check comes
    after resolution (:func:`address_refusal`).
    """
    scheme = scheme.lower()
    if scheme not in DEFAULT_PORTS:
        return "scheme"
    if not host:
        return "host"
    if scheme == "https":
        return None
    effective = port if port is not None else DEFAULT_PORTS[scheme]
    return None if trusted.trusts(host, effective) else "scheme"


def address_refusal(address: str | IPAddress, *, trusted: bool) -> str | None:
    """Why the bot must not connect to ``address`` for a result, or None when it may.

    A trusted host may be anywhere. Otherwise the address must be globally routable
    (``is_global``), with explicit refusals first so the reason says which rule hit: an
    IPv4-mapped IPv6 address (``::ffff:10.0.0.1``) is judged as the IPv4 address it carries.
    """
    if trusted:
        return None
    try:
        ip = ipaddress.ip_address(address) if isinstance(address, str) else address
    except ValueError:
        return "address:invalid"
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.scope_id:
            return "address:scoped"
        mapped = ip.ipv4_mapped or ip.sixtofour
        if mapped is not None:
            ip = mapped
    for reason, hit in (
        ("unspecified", ip.is_unspecified),
        ("loopback", ip.is_loopback),
        ("link-local", ip.is_link_local),
        ("multicast", ip.is_multicast),
        ("reserved", ip.is_reserved),
        ("private", ip.is_private),
        ("not-global", not ip.is_global),
    ):
        if hit:
            return f"address:{reason}"
    return None


def ip_literal(host: str) -> IPAddress | None:
    """The address when ``host`` is an IP literal (no lookup needed), else None."""
    try:
        return ipaddress.ip_address(_normal_host(host).split("%", 1)[0])
    except ValueError:
        return None
