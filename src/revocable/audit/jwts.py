"""Reading JWTs the target issued, for C7: decoded WITHOUT verification, judged by lifetime. No I/O.

Nothing here checks a signature: the auditor has no key and needs none. What a
token claims is used for one thing only, reporting how long the app meant it to
live (``exp - iat``, or ``exp - now`` without ``iat``) and how it is signed.

Evidence shows a token as its length and a short SHA-256 prefix (``fingerprint``),
never its characters: two fingerprints tell tokens apart without revealing them.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from revocable.audit.cookies import clean
from revocable.audit.result import Finding

__all__ = [
    "FAIL_ABOVE",
    "WARN_ABOVE",
    "PeekedJwt",
    "duration",
    "fingerprint",
    "judge_access_token",
    "looks_like_jwt",
    "peek",
]

FAIL_ABOVE = 15 * 60
"""An access token meant to live longer than this (seconds) fails C7."""
WARN_ABOVE = 10 * 60
"""...and longer than this warns."""

_MAX_TOKEN = 16 * 1024  # a bigger "JWT" is not one the auditor reads
_JWS = re.compile(r"eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")
_SYMMETRIC = frozenset({"HS256", "HS384", "HS512"})
_FIX_LONG = (
    "Issue access tokens for minutes (5-10), not hours: the refresh token renews them, and "
    "revocation only bites when they expire."
)
_FIX_NO_EXP = "Give every access token an exp claim (minutes ahead) and require it when verifying."
_FIX_UNSIGNED = "Sign access tokens (EdDSA or ES256) and never accept alg none."


def fingerprint(token: str) -> str:
    """A credential as evidence may name it: ``<length chars, sha256 1a2b3c4d…>``."""
    digest = hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()[:8]
    return f"<{len(token)} chars, sha256 {digest}…>"


def looks_like_jwt(value: str) -> bool:
    """A compact JWS: three base64url parts, the first a JSON object (``eyJ``)."""
    return len(value) <= _MAX_TOKEN and _JWS.fullmatch(value) is not None


def _part(text: str) -> Mapping[str, Any] | None:
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        value = json.loads(raw)
    except (binascii.Error, ValueError, UnicodeDecodeError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if number == number and abs(number) < 1e12 else None  # NaN, absurd values


@dataclass(frozen=True)
class PeekedJwt:
    """A JWT's header and claims, read without verifying anything."""

    header: Mapping[str, Any]
    claims: Mapping[str, Any]

    @property
    def alg(self) -> str:
        value = self.header.get("alg")
        return clean(value, 20) if isinstance(value, str) else "(none given)"

    @property
    def typ(self) -> str | None:
        value = self.header.get("typ")
        return clean(value, 40) if isinstance(value, str) else None

    @property
    def exp(self) -> float | None:
        return _number(self.claims.get("exp"))

    @property
    def iat(self) -> float | None:
        return _number(self.claims.get("iat"))

    def lifetime(self, now: float) -> float | None:
        """Seconds the issuer meant it to live: exp - iat, else exp - now; None without exp."""
        exp = self.exp
        if exp is None:
            return None
        iat = self.iat
        return exp - (iat if iat is not None else now)

    def describe(self, now: float) -> str:
        """``alg EdDSA, typ at+jwt, kid, lives 10 min (exp - iat)``, for evidence."""
        parts = [f"alg {self.alg}"]
        if self.typ is not None:
            parts.append(f"typ {self.typ}")
        if "kid" in self.header:
            parts.append("kid")
        lifetime = self.lifetime(now)
        if lifetime is None:
            parts.append("no exp")
        else:
            how = "exp - iat" if self.iat is not None else "exp - now, no iat"
            parts.append(f"lives {duration(lifetime)} ({how})")
        return ", ".join(parts)


def peek(token: str) -> PeekedJwt | None:
    """The header and claims of a compact JWS, unverified; None if it is not one."""
    if not looks_like_jwt(token):
        return None
    header_b64, payload_b64, _ = token.split(".")
    header, claims = _part(header_b64), _part(payload_b64)
    if header is None or claims is None:
        return None
    return PeekedJwt(header, claims)


def duration(seconds: float) -> str:
    """``45 s``, ``15 min``, ``1.5 h``, ``30 days``: a lifetime for people."""
    if abs(seconds) < 120:
        return f"{seconds:.0f} s"
    if abs(seconds) < 2 * 3600:
        return f"{seconds / 60:.0f} min"
    if abs(seconds) < 2 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.0f} days"


def judge_access_token(token: PeekedJwt, *, label: str, now: float) -> list[Finding]:
    """C7's verdict on one token used as an access credential (``label`` names where it came
    from, e.g. "the access_token field"): its lifetime, a missing exp, how it is signed."""
    out: list[Finding] = []
    lifetime = token.lifetime(now)
    if lifetime is None:
        out.append(
            Finding(
                "fail",
                "access_token_never_expires",
                f"{label} is a JWT without a usable exp claim: it never expires",
                _FIX_NO_EXP,
            )
        )
    elif lifetime > FAIL_ABOVE:
        out.append(
            Finding(
                "fail",
                "access_token_long_lived",
                f"{label} is a JWT that lives {duration(lifetime)} (more than 15 min)",
                _FIX_LONG,
            )
        )
    elif lifetime > WARN_ABOVE:
        out.append(
            Finding(
                "warn",
                "access_token_over_10_minutes",
                f"{label} is a JWT that lives {duration(lifetime)} (more than 10 min)",
                _FIX_LONG,
            )
        )
    else:
        out.append(Finding("info", "access_token_short", f"{label} lives {duration(lifetime)}"))
    alg = token.alg
    if alg.lower() == "none" or alg == "(none given)":
        out.append(
            Finding(
                "warn",
                "jwt_unsigned",
                f"{label} is unsigned (alg {alg}): anyone can mint one if the app accepts it",
                _FIX_UNSIGNED,
            )
        )
    elif alg in _SYMMETRIC:
        out.append(
            Finding(
                "info",
                "jwt_symmetric",
                f"{label} is signed with {alg}: every service that verifies it can also mint it",
            )
        )
    else:
        out.append(Finding("info", "jwt_asymmetric", f"{label} is signed with {alg}"))
    return out
