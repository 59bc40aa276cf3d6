"""CSRF decisions for cookie-authenticated requests, in the order OWASP recommends.

1. Safe methods (GET, HEAD, OPTIONS) are never checked and must never change state.
2. Fetch Metadata: ``Sec-Fetch-Site: cross-site`` is refused outright.
3. Origin: when sent, it must be the app's own origin or a trusted one; with no
   Origin, an HTTPS request's Referer must be same-origin (absent is tolerated,
   the token still decides).
4. A signed double-submit token bound to the session: HMAC of the session's
   handle and last password proof under a CSRF-only key, from the ``X-CSRF-Token`` header or a
   ``csrf_token`` form field, compared in constant time.

All functions are pure: headers and keys in, a decision out.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Collection, Sequence
from enum import Enum
from urllib.parse import urlsplit

__all__ = [
    "SAFE_METHODS",
    "CsrfRejection",
    "check_origin",
    "check_request",
    "csrf_token",
    "normalise_origin",
    "verify_csrf_token",
]

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_TOKEN_LENGTH = 43  # base64url of a 32-byte HMAC-SHA256


class CsrfRejection(Enum):
    """Why a state-changing request was refused; the value is the error code."""

    CROSS_SITE = "csrf_cross_site"
    ORIGIN_MISMATCH = "csrf_origin_mismatch"
    REFERER_MISMATCH = "csrf_referer_mismatch"
    TOKEN_MISSING = "csrf_token_missing"  # noqa: S105 (an error code, not a secret)
    TOKEN_INVALID = "csrf_token_invalid"  # noqa: S105 (an error code, not a secret)


def csrf_token(key: bytes, session_binding: str) -> str:
    """The CSRF token of a session: HMAC-SHA256 of its binding under the CSRF key.

    The binding names the session and its last password proof (see
    ``SessionAuth.csrf_token``), so a re-authentication also renews the token.
    """
    mac = hmac.new(key, b"revocable.csrf\x00" + session_binding.encode(), hashlib.sha256)
    return base64.urlsafe_b64encode(mac.digest()).rstrip(b"=").decode("ascii")


def verify_csrf_token(keys: Sequence[bytes], session_binding: str, presented: object) -> bool:
    """Whether ``presented`` is the session's token under any of ``keys`` (rotation)."""
    if not isinstance(presented, str) or len(presented) != _TOKEN_LENGTH:
        return False
    return any(hmac.compare_digest(csrf_token(key, session_binding), presented) for key in keys)


def normalise_origin(value: str) -> str | None:
    """``scheme://host[:port]`` in lower case, default ports dropped; None if unusable."""
    try:
        parts = urlsplit(value.strip())
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    default = 443 if parts.scheme == "https" else 80
    host = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
    return f"{parts.scheme}://{host}" + ("" if port in (None, default) else f":{port}")


def check_origin(
    *,
    method: str,
    origin: str | None,
    referer: str | None,
    sec_fetch_site: str | None,
    own_origin: str,
    trusted_origins: Collection[str] = (),
) -> CsrfRejection | None:
    """Steps 1-3, the header checks; they also guard unauthenticated forms (login CSRF)."""
    if method.upper() in SAFE_METHODS:
        return None
    if sec_fetch_site is not None and sec_fetch_site.strip().lower() == "cross-site":
        return CsrfRejection.CROSS_SITE
    allowed = {own_origin, *trusted_origins}
    # "Origin: null" (sandboxed frames, cross-origin redirects) never matches.
    if origin is not None and normalise_origin(origin) not in allowed:
        return CsrfRejection.ORIGIN_MISMATCH
    https_referer = origin is None and referer and own_origin.startswith("https://")
    if https_referer and normalise_origin(referer or "") not in allowed:
        return CsrfRejection.REFERER_MISMATCH
    return None


def check_request(
    *,
    method: str,
    origin: str | None,
    referer: str | None,
    sec_fetch_site: str | None,
    own_origin: str,
    trusted_origins: Collection[str] = (),
    keys: Sequence[bytes],
    session_binding: str,
    presented_token: str | None,
) -> CsrfRejection | None:
    """None to let a cookie-authenticated request through, else why it is refused."""
    if method.upper() in SAFE_METHODS:
        return None
    rejection = check_origin(
        method=method,
        origin=origin,
        referer=referer,
        sec_fetch_site=sec_fetch_site,
        own_origin=own_origin,
        trusted_origins=trusted_origins,
    )
    if rejection is not None:
        return rejection
    if not presented_token:
        return CsrfRejection.TOKEN_MISSING
    if not verify_csrf_token(keys, session_binding, presented_token):
        return CsrfRejection.TOKEN_INVALID
    return None
