"""Refresh-token rotation as a pure decision: ``family, presented, now -> Decision``.

A refresh token is ``familyId.secret``. The store keeps, per family, digests
only: of the current secret and of the one it replaced. Each rotation draws a
fresh random nonce; the successor secret is ``HMAC(key, family | secret |
nonce)``, so a client that presents the just-rotated secret again within the
grace window gets the *same* successor back (an idempotent replay: two tabs
refreshing at once both survive), while nothing in the store can rebuild a
live token. Outside the window, any old secret kills the whole family.

Because the successor depends only on the key, the presented secret and a
nonce we draw, the whole rotation can be computed *before* reading the store
(``speculate``). The store then applies it in one atomic round trip (swap if
the family is live and its current digest is the presented one) and, only
when it did not swap, hands back the family so that ``decide`` can tell a
replay from reuse or expiry. ``Kill`` deletes the family; ``Replay`` and
refusals change nothing.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass, field, replace
from typing import Literal

from revocable.core.tokens import route_for

__all__ = [
    "Decision",
    "Expired",
    "Kill",
    "RefreshFamily",
    "Replay",
    "Rotate",
    "Speculation",
    "decide",
    "digest",
    "family_route",
    "new_family",
    "parse_refresh_token",
    "rotated",
    "speculate",
    "successor_secret",
]

_SECRET_BYTES = 32
_TOKEN_RE = re.compile(r"([A-Za-z0-9_-]{22})\.([A-Za-z0-9_-]{43})")


@dataclass(frozen=True, slots=True)
class RefreshFamily:
    """What the server keeps about one login's chain of refresh tokens."""

    family_id: str
    user_id: str
    created_at: float
    expires_at: float
    """Absolute family lifetime: rotation never extends it."""
    current: bytes
    """SHA-256 of the secret that may be used next."""
    previous: bytes | None = None
    """SHA-256 of the secret it replaced, for the grace window."""
    rotated_at: float | None = None
    nonce: bytes = b""
    """The random input of the last rotation (rebuilds the successor on a replay)."""
    generation: int = 0


@dataclass(frozen=True, slots=True)
class Rotate:
    """Swap ``family`` in if its current digest is still ``expected``; hand out ``token``."""

    family: RefreshFamily
    expected: bytes
    token: str


@dataclass(frozen=True, slots=True)
class Replay:
    """The just-rotated secret again, within the grace window: the same successor."""

    family: RefreshFamily
    token: str


@dataclass(frozen=True, slots=True)
class Kill:
    """Reuse: delete the family (attacker and victim are both logged out)."""

    family_id: str
    user_id: str | None
    kind: Literal["stale_ancestor", "unknown_family", "outside_grace"]


@dataclass(frozen=True, slots=True)
class Expired:
    """The family outlived its absolute lifetime: refuse (and the store may drop it)."""

    family_id: str


Decision = Rotate | Replay | Kill | Expired


@dataclass(frozen=True, slots=True)
class Speculation:
    """The rotation of ``familyId.secret`` computed before reading the store.

    It holds if the stored family's current digest is ``expected``; the store
    then keeps ``current`` and ``nonce``, and ``token`` is handed out.
    """

    expected: bytes
    """SHA-256 of the presented secret."""
    current: bytes
    """SHA-256 of the successor secret."""
    nonce: bytes
    token: str = field(repr=False)
    """``familyId.successor``: the only place the new secret exists."""


def digest(secret: str) -> bytes:
    """What the store keeps of a secret."""
    return hashlib.sha256(secret.encode("ascii")).digest()


def parse_refresh_token(token: object) -> tuple[str, str] | None:
    """``(family_id, secret)`` of a well-formed token, else None (before any store call)."""
    if not isinstance(token, str) or len(token) != 66:
        return None
    match = _TOKEN_RE.fullmatch(token)
    return (match.group(1), match.group(2)) if match else None


def new_family(user_id: str, now: float, lifetime: float) -> tuple[RefreshFamily, str]:
    """A new family for a fresh login, and its first token.

    The family id carries the user's routing tag (masked, as in session tokens),
    so a store can keep all of a user's families in one Redis Cluster slot.
    """
    family_id = _family_id(route_for(user_id))
    secret = secrets.token_urlsafe(_SECRET_BYTES)
    family = RefreshFamily(family_id, user_id, now, now + lifetime, digest(secret))
    return family, f"{family_id}.{secret}"


def _family_id(route: str) -> str:
    random_part = secrets.token_bytes(14)
    mask = hashlib.sha256(random_part).digest()
    tag = bytes.fromhex(route)
    raw = random_part + bytes((tag[0] ^ mask[0], tag[1] ^ mask[1]))
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def family_route(family_id: str) -> str:
    """The routing tag inside a (well-formed) family id."""
    raw = base64.urlsafe_b64decode(family_id + "==")
    mask = hashlib.sha256(raw[:14]).digest()
    return f"{(raw[14] ^ mask[0]) << 8 | (raw[15] ^ mask[1]):04x}"


def successor_secret(key: bytes, family_id: str, secret: str, nonce: bytes) -> str:
    """The secret that follows ``secret`` in its family, for this rotation's ``nonce``."""
    mac = hmac.new(key, b"revocable.refresh\x00", hashlib.sha256)
    mac.update(f"{family_id}\x00{secret}\x00".encode("ascii") + nonce)
    return base64.urlsafe_b64encode(mac.digest()).rstrip(b"=").decode("ascii")


def speculate(family_id: str, secret: str, *, key: bytes) -> Speculation:
    """The successor of ``family_id.secret`` for a fresh nonce, before any store read.

    Costs a hash, an HMAC and 16 random bytes; wasted only when the token turns
    out to be a replay or reuse, the rare case.
    """
    nonce = secrets.token_bytes(16)
    new_secret = successor_secret(key, family_id, secret, nonce)
    return Speculation(digest(secret), digest(new_secret), nonce, f"{family_id}.{new_secret}")


def rotated(family: RefreshFamily, current: bytes, nonce: bytes, now: float) -> RefreshFamily:
    """``family`` after rotating to the secret digested as ``current`` at ``now``.

    What every store's ``rotate_family`` writes: the old current becomes
    ``previous`` (for the grace window); the absolute expiry is never touched.
    """
    return replace(
        family,
        current=current,
        previous=family.current,
        rotated_at=now,
        nonce=nonce,
        generation=family.generation + 1,
    )


def decide(
    family: RefreshFamily | None,
    family_id: str,
    secret: str,
    now: float,
    *,
    key: bytes,
    grace: float,
) -> Decision:
    """What presenting ``family_id.secret`` at ``now`` must do."""
    if family is None:
        return Kill(family_id, None, "unknown_family")
    if now >= family.expires_at:
        return Expired(family_id)
    presented = digest(secret)
    if hmac.compare_digest(presented, family.current):
        spec = speculate(family_id, secret, key=key)
        return Rotate(rotated(family, spec.current, spec.nonce, now), family.current, spec.token)
    if family.previous is not None and hmac.compare_digest(presented, family.previous):
        if family.rotated_at is not None and now - family.rotated_at <= grace:
            again = successor_secret(key, family_id, secret, family.nonce)
            return Replay(family, f"{family_id}.{again}")
        return Kill(family_id, family.user_id, "outside_grace")
    return Kill(family_id, family.user_id, "stale_ancestor")


def family_handle(family_id: str) -> str:
    """A family's public name on "your devices" pages: a one-way digest of its id, so no
    page or log shows the first half of a refresh token."""
    mac = hashlib.sha256(b"revocable.family\x00" + family_id.encode("ascii")).digest()
    return base64.urlsafe_b64encode(mac[:12]).decode("ascii")
