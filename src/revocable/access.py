"""Short-lived JWT access tokens (RFC 9068 ``at+jwt``), minted and verified strictly.

Verification: the strict pre-check (``core.jwtcheck``), then the key named by
``kid`` in our own ring (no other way to find a key, no network), the
algorithm that key was made for and no other (no ``alg`` confusion, no
``none``), then PyJWT's signature and claim checks with every claim required.

A token seen again is not verified again: a bounded cache (``core.tokencache``)
remembers, by digest, tokens that passed, with the key and policy they passed
under. Expiry, ``nbf``, ``not_before`` and the key still being in the ring are
checked on every call.
"""

from __future__ import annotations

import math
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import jwt

from revocable.core.jwtcheck import MAX_TOKEN_LENGTH, precheck
from revocable.core.tokencache import DEFAULT_CACHE_SIZE, VerifiedCache, token_digest
from revocable.errors import ConfigurationError, InvalidAccessToken
from revocable.jwtverify import verify_claims
from revocable.keys import KeyRing, SigningKey

__all__ = ["AccessClaims", "AccessTokenPolicy", "AccessTokens"]

TYP = "at+jwt"
_REQUIRED = ["exp", "iat", "sub", "iss", "aud", "jti"]


@dataclass(frozen=True, slots=True)
class AccessTokenPolicy:
    """Issuer, audience and timing of access tokens. Lifetimes are minutes, not hours."""

    issuer: str
    audience: str
    lifetime: float = 600.0
    leeway: float = 30.0
    allow_long_lifetime: bool = False
    """Only for a reasoned exception: lifetimes above one hour defeat revocation."""

    def __post_init__(self) -> None:
        if not self.issuer or not self.audience:
            raise ConfigurationError("access tokens need an issuer and an audience")
        if not (math.isfinite(self.lifetime) and self.lifetime > 0):
            raise ConfigurationError("lifetime must be a positive number of seconds")
        if self.lifetime > 3600 and not self.allow_long_lifetime:
            raise ConfigurationError(
                "access tokens live minutes, not hours: a lifetime above 3600 s needs "
                "allow_long_lifetime=True (and a reason)"
            )
        if not 0 <= self.leeway <= 60:
            raise ConfigurationError("leeway must be between 0 and 60 seconds")


@dataclass(frozen=True, slots=True)
class AccessClaims:
    """The verified claims of an access token."""

    subject: str
    issued_at: float
    expires_at: float
    token_id: str
    family_id: str | None
    claims: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class _Verified:
    """A cache entry: claims that passed, and the key and policy they passed under."""

    claims: AccessClaims
    key: SigningKey
    policy: AccessTokenPolicy


class AccessTokens:
    """Mints and verifies access tokens with one key ring and one policy.

    ``cache_size`` bounds how many verified tokens are remembered (0: none).
    """

    def __init__(
        self,
        keys: KeyRing,
        policy: AccessTokenPolicy,
        *,
        clock: Callable[[], float] = time.time,
        cache_size: int = DEFAULT_CACHE_SIZE,
    ) -> None:
        self.keys = keys
        self.policy = policy
        self._clock = clock
        self._verified: VerifiedCache[_Verified] = VerifiedCache(cache_size)

    def mint(
        self, subject: str, *, family_id: str | None = None, extra: Mapping[str, Any] | None = None
    ) -> str:
        """A signed token for ``subject``, optionally naming its refresh family."""
        now = int(self._clock())
        claims: dict[str, Any] = dict(extra or {})
        claims.update(
            sub=subject,
            iss=self.policy.issuer,
            aud=self.policy.audience,
            iat=now,
            exp=now + int(self.policy.lifetime),
            jti=secrets.token_urlsafe(16),
        )
        if family_id is not None:
            claims["fid"] = family_id
        key = self.keys.signing_key
        private: Any = key.private
        return jwt.encode(
            claims, private, algorithm=key.algorithm, headers={"kid": key.kid, "typ": TYP}
        )

    def verify(self, token: object, *, not_before: float | None = None) -> AccessClaims:
        """The claims of a valid token; ``InvalidAccessToken`` with a reason otherwise.

        ``not_before`` is the subject's revocation time ("log out all devices"):
        tokens issued before it are refused as ``revoked``.
        """
        now = self._clock()
        digest = None
        # Bounded before hashing: a megabyte of junk is refused by precheck, not hashed.
        if self._verified.enabled and isinstance(token, str) and len(token) <= MAX_TOKEN_LENGTH:
            digest = token_digest(token)
            hit = self._verified.get(digest, now)
            if hit is not None:
                if self.keys.find(hit.key.kid) is hit.key and hit.policy is self.policy:
                    return self._current(hit.claims, now, not_before)
                self._verified.discard(digest)  # its key left the ring, or the policy changed
        header, payload = precheck(token, typ=TYP)
        key = self.keys.find(header["kid"])
        if key is None:
            raise InvalidAccessToken("unknown_key", "no key of ours has this kid")
        policy = self.policy
        claims = verify_claims(
            str(token),
            header,
            key.verification_key(),
            key.algorithm,
            audience=policy.audience,
            issuer=policy.issuer,
            required=_REQUIRED,
            now=now,
            leeway=policy.leeway,
            payload=payload,
        )
        verified = AccessClaims(
            subject=claims["sub"],
            issued_at=float(claims["iat"]),
            expires_at=float(claims["exp"]),
            token_id=claims["jti"],
            family_id=claims.get("fid"),
            # Read-only: a cache hit hands the same object to every caller.
            claims=MappingProxyType(claims),
        )
        self._current(verified, now, not_before)
        if digest is not None:  # only tokens that passed every check are remembered
            self._verified.put(
                digest, _Verified(verified, key, policy), claims["exp"] + policy.leeway
            )
        return verified

    def _current(
        self, verified: AccessClaims, now: float, not_before: float | None
    ) -> AccessClaims:
        """``verified`` if it is valid at ``now`` and not revoked; the checks every call makes.

        The time checks repeat ``verify_claims``'s (same leeway) for cache hits.
        """
        claims, leeway = verified.claims, self.policy.leeway
        if claims["exp"] <= now - leeway:
            raise InvalidAccessToken("expired", "the token has expired")
        if claims["iat"] > now + leeway or claims.get("nbf", 0) > now + leeway:
            raise InvalidAccessToken("not_yet_valid", "the token is not valid yet")
        if not_before is not None and claims["iat"] < not_before:
            raise InvalidAccessToken("revoked", "the subject's tokens were revoked")
        return verified
