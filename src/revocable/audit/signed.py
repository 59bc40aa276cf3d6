"""Cookies that are signed payloads, not random ids: JWTs and itsdangerous values. No I/O.

A random session id is a key into state the server keeps; a signed payload *is*
the state (a user name, a session dict, claims), carried by the client and
made tamper-proof by a signature. Guessing one means forging the signature, so
its secrecy rests on the server's signing key, not on how random the value is,
and the server cannot end it without keeping state of its own (a blocklist, a
"revoked before" time). C9's statistics do not apply to it ("n/a"), and sampling
more of them proves nothing.

:func:`recognise` knows two shapes, both by decoding, never by the look of the
first characters:

* a **JWT** (compact JWS): what C7 reads, ``jwts.peek``: a JSON header and
  JSON claims;
* an **itsdangerous** value (Starlette's ``SessionMiddleware``, Flask's session
  cookie, anything on ``itsdangerous``): ``payload[.timestamp].signature``,
  the payload base64 (with or without ``=`` padding) of a JSON object, or
  ``.`` and base64 of zlib-compressed JSON (Flask's ``.eJ…`` form).

A value whose first part decodes to a JSON object and that has a signature part
is a signed payload; anything else is left to the statistics. Nothing here
returns a value's content: only its kind, its shape and its field names.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import zlib
from dataclasses import dataclass
from typing import Any, Literal

from revocable.audit.cookies import clean
from revocable.audit.jwts import peek

__all__ = ["SignedKind", "SignedPayload", "recognise"]

SignedKind = Literal["JWT", "itsdangerous"]

_MAX_VALUE = 16 * 1024  # a bigger cookie is not decoded
_MAX_JSON = 64 * 1024  # bytes a compressed payload may inflate to
_PART = re.compile(r"[A-Za-z0-9_-]+")
_PAYLOAD = re.compile(r"[A-Za-z0-9_+/-]+={0,2}")
_MIN_SIGNATURE = 16  # base64 characters: 96 bits, well below HMAC-SHA1's 27
_MAX_TIMESTAMP = 12  # itsdangerous' base64 of an int is about 6


@dataclass(frozen=True)
class SignedPayload:
    """What a signed-payload cookie is: its kind and shape, never its content."""

    kind: SignedKind
    fields: tuple[str, ...] = ()
    """The payload's top-level keys (claims for a JWT), cleaned, at most 8."""
    compressed: bool = False
    timestamped: bool = False
    exp: float | None = None
    """A JWT's exp claim (seconds since the epoch), if it has a usable one."""

    def describe(self) -> str:
        """``a JWT`` or ``itsdangerous-signed JSON (payload.timestamp.signature)``."""
        if self.kind == "JWT":
            return "a JWT"
        shape = "." if self.compressed else ""
        shape += "payload" + (".timestamp" if self.timestamped else "") + ".signature"
        zipped = "zlib-compressed " if self.compressed else ""
        return f"itsdangerous-signed {zipped}JSON ({shape})"


def _b64(text: str) -> bytes | None:
    """Standard or URL-safe base64, with or without padding; None if it is neither."""
    if not _PAYLOAD.fullmatch(text):
        return None
    body = text.rstrip("=").replace("-", "+").replace("_", "/")
    try:
        return base64.b64decode(body + "=" * (-len(body) % 4), validate=True)
    except (binascii.Error, ValueError):
        return None


def _json_object(raw: bytes) -> dict[str, Any] | None:
    try:
        value = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def _inflate(raw: bytes) -> bytes | None:
    inflater = zlib.decompressobj()
    try:
        out = inflater.decompress(raw, _MAX_JSON)
    except zlib.error:
        return None
    return out if inflater.eof else None  # cut short (too big) or not zlib at all


def _keys(payload: dict[str, Any]) -> tuple[str, ...]:
    return tuple(clean(str(key), 30) for key in list(payload)[:8])


def recognise(value: str) -> SignedPayload | None:
    """The signed payload ``value`` is (a cookie's value, quotes allowed), or None."""
    if len(value) > _MAX_VALUE:
        return None
    if len(value) >= 2 and value[0] == value[-1] == '"':
        value = value[1:-1]
    token = peek(value)
    if token is not None:
        exp = token.exp
        return SignedPayload("JWT", _keys(dict(token.claims)), exp=exp)
    compressed = value.startswith(".")
    parts = value[1:].split(".") if compressed else value.split(".")
    if len(parts) not in (2, 3):
        return None
    payload_b64, signature = parts[0], parts[-1]
    if len(signature) < _MIN_SIGNATURE or not _PART.fullmatch(signature):
        return None
    if len(parts) == 3 and not (len(parts[1]) <= _MAX_TIMESTAMP and _PART.fullmatch(parts[1])):
        return None
    raw = _b64(payload_b64)
    if raw is not None and compressed:
        raw = _inflate(raw)
    payload = _json_object(raw) if raw is not None else None
    if payload is None:
        return None
    return SignedPayload(
        "itsdangerous", _keys(payload), compressed=compressed, timestamped=len(parts) == 3
    )
