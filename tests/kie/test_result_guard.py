"""The sans-IO result-URL decisions (issue 13, item 2): which schemes, hosts and addresses a
result may be fetched from. Pure: nothing here resolves or connects."""

from __future__ import annotations

import pytest

from kiebot.kie.result_guard import TrustedHosts, address_refusal, ip_literal, split_entry, url_refusal

REFUSED = [
    ("10.0.0.1", "address:private"),
    ("172.16.5.4", "address:private"),
    ("192.168.1.1", "address:private"),
    ("fc00::1", "address:private"),
    ("127.0.0.1", "address:loopback"),
    ("127.8.9.10", "address:loopback"),
    ("::1", "address:loopback"),
    ("169.254.169.254", "address:link-local"),  # cloud metadata
    ("fe80::1", "address:link-local"),
    ("224.0.0.1", "address:multicast"),
    ("ff02::1", "address:multicast"),
    ("0.0.0.0", "address:unspecified"),
    ("::", "address:unspecified"),
    ("240.0.0.1", "address:reserved"),
    ("100.64.0.1", "address:not-global"),  # carrier-grade NAT
    ("::ffff:10.0.0.1", "address:private"),  # IPv4-mapped: judged as the IPv4 address
    ("::ffff:127.0.0.1", "address:loopback"),
    ("2002:a00:1::1", "address:private"),  # 6to4 around 10.0.0.1
    ("fe80::1%eth0", "address:scoped"),
    ("not-an-ip", "address:invalid"),
]
PUBLIC = ["93.184.216.34", "8.8.8.8", "2606:4700:4700::1111", "::ffff:93.184.216.34"]


@pytest.mark.parametrize(("address", "reason"), REFUSED)
def test_inside_addresses_are_refused_with_their_reason(address: str, reason: str) -> None:
    assert address_refusal(address, trusted=False) == reason


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_pass(address: str) -> None:
    assert address_refusal(address, trusted=False) is None


@pytest.mark.parametrize(("address", "_reason"), REFUSED)
def test_a_trusted_host_may_be_anywhere(address: str, _reason: str) -> None:
    assert address_refusal(address, trusted=True) is None


def test_urls_need_https_unless_the_host_is_trusted() -> None:
    none = TrustedHosts()
    trusted = TrustedHosts.parse(["localhost", "kie-fake:8080", "[::1]"])
    assert url_refusal("https", "files.example", None, none) is None
    assert url_refusal("http", "files.example", None, none) == "scheme"
    assert url_refusal("ftp", "files.example", None, trusted) == "scheme"
    assert url_refusal("file", "", None, trusted) == "scheme"
    assert url_refusal("https", "", None, none) == "host"
    assert url_refusal("http", "localhost", 12345, trusted) is None
    assert url_refusal("HTTP", "LOCALHOST.", None, trusted) is None
    assert url_refusal("http", "kie-fake", 8080, trusted) is None
    assert url_refusal("http", "kie-fake", 8081, trusted) == "scheme"  # a port pins the trust
    assert url_refusal("http", "kie-fake", None, trusted) == "scheme"
    assert url_refusal("http", "::1", 80, trusted) is None
    assert url_refusal("http", "127.0.0.1", 80, trusted) == "scheme"  # not named, not trusted


@pytest.mark.parametrize(
    ("entry", "parsed"),
    [
        ("localhost", ("localhost", None)),
        (" Kie-Fake.Local. ", ("kie-fake.local", None)),
        ("127.0.0.1:8080", ("127.0.0.1", 8080)),
        ("[::1]", ("::1", None)),
        ("[::1]:9000", ("::1", 9000)),
        ("::1", ("::1", None)),
    ],
)
def test_trusted_entries_parse(entry: str, parsed: tuple[str, int | None]) -> None:
    assert split_entry(entry) == parsed


@pytest.mark.parametrize("entry", ["", ":80", "host:0", "host:99999", "host:x", "[::1", "a/b", "user@host"])
def test_malformed_trusted_entries_are_refused(entry: str) -> None:
    with pytest.raises(ValueError):
        split_entry(entry)


def test_ip_literals_need_no_lookup() -> None:
    assert str(ip_literal("10.0.0.1")) == "10.0.0.1"
    assert str(ip_literal("[::1]")) == "::1"
    assert ip_literal("files.example") is None
