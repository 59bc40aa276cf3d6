"""Rate-limit rules and counter keys, with no store."""

from __future__ import annotations

import pytest

from revocable import ConfigurationError
from revocable.core.ratelimit import RateLimit, client_network, counter_key, retry_after


def test_parse_rules_and_off() -> None:
    """'N/SECONDS' parses to a rule; 'off' to None; anything else is a clear error."""
    assert RateLimit.parse("10/60") == RateLimit(10, 60.0)
    assert RateLimit.parse(" OFF ") is None
    for bad in ("10", "x/60", "0/60", "10/0", "10/nan", "-1/5"):
        with pytest.raises(ConfigurationError, match=r"rate limit|attempts"):
            RateLimit.parse(bad)


def test_counter_keys_are_fixed_size_and_hide_the_input() -> None:
    """Keys never carry the raw name or IP, whatever it holds."""
    key = counter_key("login-user", "alice{}\x00\ud800" + "x" * 10_000)
    assert key.startswith("login-user:")
    assert len(key) == len("login-user:") + 32
    assert "alice" not in key
    assert counter_key("login-user", "a") != counter_key("login-ip", "a")


def test_retry_after_is_the_rest_of_the_window() -> None:
    """Retry-After counts whole seconds to the end of the current window, at least 1."""
    assert retry_after(60, 1_000_040.0) == 40  # 1,000,020 starts a window
    assert retry_after(60, 1_000_039.5) == 41
    assert retry_after(60, 1_000_079.99) == 1


def test_ipv6_clients_are_counted_per_64() -> None:
    """Addresses in one IPv6 /64 share a budget; IPv4 addresses are counted one by one."""
    assert client_network("2001:db8:1:2::1") == client_network("2001:db8:1:2:ffff::9")
    assert client_network("2001:db8:1:2::1") != client_network("2001:db8:1:3::1")
    assert client_network("192.0.2.1") == "192.0.2.1"
    assert client_network("") == ""
