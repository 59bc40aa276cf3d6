"""Rate-limit rules as values: how many attempts per window, and the counter keys."""

from __future__ import annotations

import hashlib
import ipaddress
import math
from dataclasses import dataclass

from revocable.errors import ConfigurationError

__all__ = ["RateLimit", "client_network", "counter_key", "retry_after"]


@dataclass(frozen=True, slots=True)
class RateLimit:
    """At most ``attempts`` per fixed window of ``window`` seconds."""

    attempts: int
    window: float

    def __post_init__(self) -> None:
        if self.attempts < 1 or not (math.isfinite(self.window) and self.window > 0):
            raise ConfigurationError("a rate limit needs attempts >= 1 and a positive window")

    @classmethod
    def parse(cls, text: str) -> RateLimit | None:
        """``"10/60"`` (10 per 60 s), or ``"off"`` for None."""
        if text.strip().lower() == "off":
            return None
        attempts, sep, window = text.partition("/")
        try:
            if not sep:
                raise ValueError(text)
            return cls(int(attempts), float(window))
        except ValueError:
            raise ConfigurationError(
                f"rate limit {text!r}: write ATTEMPTS/SECONDS, like 10/60, or off"
            ) from None

    def scaled(self, factor: int) -> RateLimit:
        """The same window with ``factor`` times the attempts (per-IP limits behind NAT)."""
        return RateLimit(self.attempts * factor, self.window)


def counter_key(purpose: str, value: str) -> str:
    """A fixed-size key for a counter: user input (names, IPs) never reaches a store key."""
    digest = hashlib.sha256(f"{purpose}\x00{value}".encode("utf-8", "surrogatepass"))
    return f"{purpose}:{digest.hexdigest()[:32]}"


def retry_after(window: float, now: float) -> int:
    """Whole seconds until the current window ends (at least 1)."""
    return max(1, math.ceil(window - now % window))


def client_network(address: str) -> str:
    """What a per-IP limit counts: an IPv4 address, or the /64 an IPv6 address is in.

    One IPv6 subscriber usually holds a whole /64: counting single addresses
    would give them billions of separate budgets.
    """
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if ip.version == 6:
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)
