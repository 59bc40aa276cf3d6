"""The client's IP address behind trusted reverse proxies, and only those."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

__all__ = ["IPNetwork", "client_ip", "parse_networks"]

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(specs: Sequence[str]) -> tuple[IPNetwork, ...]:
    """``["10.0.0.0/8", "::1"]`` as networks; ``ValueError`` names the bad entry."""
    networks = []
    for spec in specs:
        try:
            networks.append(ipaddress.ip_network(spec.strip(), strict=False))
        except ValueError:
            raise ValueError(f"not an IP address or network: {spec!r}") from None
    return tuple(networks)


def client_ip(
    peer: str | None, forwarded_for: str | None, trusted: Sequence[IPNetwork]
) -> str | None:
    """The address of the client that reached the first trusted proxy.

    ``X-Forwarded-For`` is read only when the direct peer is a trusted proxy,
    from the right: each hop that is itself a trusted proxy is skipped, and the
    first untrusted one is the client. Anything a client could have forged
    (entries left of it, or a header sent to us directly) is ignored.
    """
    if peer is None or not trusted or not forwarded_for or not _trusted(peer, trusted):
        return peer
    address = peer
    for hop in reversed(forwarded_for.split(",")[-32:]):
        hop = hop.strip()
        if not _plain_address(hop):
            return address  # a malformed hop: stop at the last one we could trust
        address = hop
        if not _trusted(hop, trusted):
            return hop
    return address


def _plain_address(text: str) -> bool:
    """An IPv4 or IPv6 address without a zone id (``%eth0`` is free text)."""
    try:
        return not getattr(ipaddress.ip_address(text), "scope_id", None)
    except ValueError:
        return False


def _trusted(address: str, trusted: Sequence[IPNetwork]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in trusted)
