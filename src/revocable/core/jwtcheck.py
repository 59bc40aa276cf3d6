"""A strict pre-check of compact JWTs, before any signature work.

PyJWT alone accepts things an access token must not have: duplicate JSON keys,
numeric claims given as strings, padded or non-canonical base64url, any
``typ``, unknown ``crit`` extensions. This module refuses all of them, cheaply,
and never looks at header fields that would fetch or embed keys (``jku``,
``x5u``, ``jwk``, ``x5c``): their presence alone refuses the token.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any

from revocable.errors import InvalidAccessToken

__all__ = ["MAX_TOKEN_LENGTH", "precheck"]

MAX_TOKEN_LENGTH = 4096
_PART = re.compile(r"[A-Za-z0-9_-]+")
_KEY_FETCHING = ("jku", "x5u", "jwk", "x5c", "x5t", "x5t#S256")
_NUMERIC = ("exp", "iat", "nbf")
_TEXT = ("sub", "iss", "jti", "fid")


def precheck(token: object, *, typ: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The header and claims of a well-formed token of type ``typ``; ``InvalidAccessToken``.

    Checks shape only; the caller still verifies the signature and the claims' values.
    """
    if not isinstance(token, str) or not token.isascii() or len(token) > MAX_TOKEN_LENGTH:
        raise InvalidAccessToken("malformed", "not a compact JWT of at most 4 KiB")
    parts = token.split(".")
    if len(parts) != 3 or not all(_PART.fullmatch(p) for p in parts):
        raise InvalidAccessToken("malformed", "a JWT is three base64url parts")
    header, claims = (_json_object(_decode(p)) for p in parts[:2])
    _decode(parts[2])  # canonical signature encoding
    if not isinstance(header.get("alg"), str) or not isinstance(header.get("kid"), str):
        raise InvalidAccessToken("malformed", "the header needs string alg and kid")
    if any(name in header for name in _KEY_FETCHING):
        raise InvalidAccessToken("unsupported", "keys are never taken from the token")
    if "crit" in header or "b64" in header:
        raise InvalidAccessToken("unsupported", "no JWS extension is understood")
    if not isinstance(header.get("typ"), str) or header["typ"].lower() not in (
        typ,
        f"application/{typ}",
    ):
        raise InvalidAccessToken("unsupported", f"the token's typ must be {typ}")
    for name in _NUMERIC:
        value = claims.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
            raise InvalidAccessToken("malformed", f"claim {name} must be a number")
    for name in _TEXT:
        if name in claims and not isinstance(claims[name], str):
            raise InvalidAccessToken("malformed", f"claim {name} must be a string")
    aud = claims.get("aud")
    if aud is not None and not (
        isinstance(aud, str) or (isinstance(aud, list) and all(isinstance(a, str) for a in aud))
    ):
        raise InvalidAccessToken("malformed", "claim aud must be a string or list of strings")
    return header, claims


def _decode(part: str) -> bytes:
    """Strict base64url: no padding, and the unused bits of the last character zero."""
    try:
        raw = base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
    except (binascii.Error, ValueError):
        raise InvalidAccessToken("malformed", "a part is not base64url") from None
    if base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii") != part:
        raise InvalidAccessToken("malformed", "a part is not canonical base64url")
    return raw


def _json_object(raw: bytes) -> dict[str, Any]:
    def no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        result = dict(pairs)
        if len(result) != len(pairs):
            raise ValueError("duplicate key")
        return result

    try:
        value = json.loads(raw, object_pairs_hook=no_duplicates)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise InvalidAccessToken("malformed", "a part is not a JSON object") from None
    if not isinstance(value, dict):
        raise InvalidAccessToken("malformed", "a part is not a JSON object")
    return value
