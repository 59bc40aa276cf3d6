"""Client IPs behind trusted proxies."""

from __future__ import annotations

import pytest

from revocable.core.clientip import client_ip, parse_networks

PROXIES = parse_networks(["10.0.0.0/8", "::1"])


def test_without_trusted_proxies_the_header_is_ignored() -> None:
    """With no trusted proxy configured, X-Forwarded-For is never believed."""
    assert client_ip("203.0.113.9", "1.2.3.4", ()) == "203.0.113.9"


def test_header_from_an_untrusted_peer_is_ignored() -> None:
    """A client sending X-Forwarded-For directly cannot choose its address."""
    assert client_ip("203.0.113.9", "1.2.3.4", PROXIES) == "203.0.113.9"


def test_rightmost_untrusted_hop_is_the_client() -> None:
    """Behind proxies, the first untrusted address from the right is the client."""
    assert client_ip("10.0.0.2", "6.6.6.6, 198.51.100.7, 10.0.0.1", PROXIES) == "198.51.100.7"
    assert client_ip("::1", "2001:db8::5", PROXIES) == "2001:db8::5"


@pytest.mark.parametrize("header", ["", "garbage", "10.0.0.3, not-an-ip"])
def test_malformed_or_empty_headers_stop_at_the_last_trusted_hop(header: str) -> None:
    """Junk in the header never becomes the client address."""
    assert client_ip("10.0.0.2", header, PROXIES) in ("10.0.0.2", "10.0.0.3")


def test_bad_network_specs_are_named() -> None:
    """A bad --trusted-proxy entry is refused with its text."""
    with pytest.raises(ValueError, match="nope"):
        parse_networks(["nope"])
