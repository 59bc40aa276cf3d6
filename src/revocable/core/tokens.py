"""Session tokens: minting, strict parsing, and the digest the stores key on.

A token is 34 bytes, base64url without padding (46 characters):

* 32 bytes from the OS CSPRNG (256 bits of entropy), then
* 2 routing bytes: the user's routing tag XOR-masked with a hash of the first
  32, so they look as random as the rest to anyone sampling tokens.

The routing tag lets a store find a session from the token alone while keeping
every key of one user in one Redis Cluster hash slot (``{tag}`` in the key), so
"log out all devices" is a single-slot, single-script operation.

Stores never see the token: they get a ``TokenRef``, whose ``digest`` is the
SHA-256 of the token's bytes. A leaked store or log holds no usable cookie.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import secrets
from typing import NamedTuple

from revocable.errors import MalformedToken

__all__ = [
    "HANDLE_LENGTH",
    "TOKEN_LENGTH",
    "TokenRef",
    "is_handle",
    "mint_token",
    "new_handle",
    "parse_token",
    "route_for",
]

_RANDOM_BYTES = 32
_ROUTE_BYTES = 2
TOKEN_LENGTH = 46  # ceil((32 + 2) * 8 / 6) base64url characters
# 34 bytes leave 4 unused bits in the last character: only A, Q, g, w are canonical.
_TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{45}[AQgw]")

HANDLE_LENGTH = 22  # 16 random bytes
_URLSAFE_TO_STANDARD = bytes.maketrans(b"-_", b"+/")
_STANDARD_TO_URLSAFE = bytes.maketrans(b"+/", b"-_")
_sha256 = hashlib.sha256
_new_tuple = tuple.__new__
_b2a_base64 = binascii.b2a_base64

_HANDLE_RE = re.compile(r"[A-Za-z0-9_-]{21}[AQgw]")


class TokenRef(NamedTuple):
    """What a store needs to find a session: never the token itself."""

    digest: bytes
    """SHA-256 of the token's bytes."""
    route: str
    """The owning user's routing tag (4 hex digits)."""

    @property
    def key(self) -> str:
        """The digest as compact text (unpadded base64url), for stores that key on strings."""
        return _b2a_base64(self.digest, newline=False)[:43].translate(_STANDARD_TO_URLSAFE).decode()


def route_for(user_id: str) -> str:
    """The routing tag of a user: 16 bits of a hash of the user id, as hex."""
    return hashlib.sha256(b"revocable.route\x00" + user_id.encode()).digest()[:_ROUTE_BYTES].hex()


def mint_token(route: str) -> tuple[str, TokenRef]:
    """A new token for a user with this routing tag, and its reference."""
    random_part = secrets.token_bytes(_RANDOM_BYTES)
    mask = hashlib.sha256(random_part).digest()[:_ROUTE_BYTES]
    masked = bytes(a ^ b for a, b in zip(bytes.fromhex(route), mask, strict=True))
    raw = random_part + masked
    token = base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")
    return token, TokenRef(hashlib.sha256(raw).digest(), route)


def parse_token(token: object) -> TokenRef:
    """The reference of a well-formed token; ``MalformedToken`` for anything else.

    Cheap on hostile input: the length is checked before anything else, so a
    megabyte cookie costs no more than a short one.
    """
    if not isinstance(token, str) or len(token) != TOKEN_LENGTH:
        raise MalformedToken("a session token is 46 base64url characters")
    if not token.isascii() or _TOKEN_RE.fullmatch(token) is None:
        raise MalformedToken("a session token holds only canonical base64url characters")
    raw = binascii.a2b_base64(token.encode("ascii").translate(_URLSAFE_TO_STANDARD) + b"==")
    mask = _sha256(raw[:_RANDOM_BYTES]).digest()
    # Validation's hot path: two XORs spelled out beat a generator and .hex(), and
    # tuple.__new__ skips the NamedTuple's Python-level __new__.
    route = "%04x" % ((raw[32] ^ mask[0]) << 8 | (raw[33] ^ mask[1]))
    return _new_tuple(TokenRef, (_sha256(raw).digest(), route))


def new_handle() -> str:
    """A public, random session handle for "your devices" pages.

    It is unrelated to the token, so showing it (or leaking it) reveals nothing.
    """
    return secrets.token_urlsafe(16)


def is_handle(value: object) -> bool:
    """Whether ``value`` has the shape of a handle (checked before any store call)."""
    return (
        isinstance(value, str)
        and len(value) == HANDLE_LENGTH
        and bool(value.isascii() and _HANDLE_RE.fullmatch(value))
    )
