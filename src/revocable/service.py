"""Service-to-service tokens: short JWTs one service mints for one target service.

    tokens = ServiceTokens(KeyRing([SigningKey.generate()]), issuer="orders")
    token = tokens.mint("billing")                    # typ svc+jwt, aud billing, 60 s

    verifier = ServiceTokenVerifier(JWKSClient(orders_jwks_url), audience="billing",
                                    issuers=["orders"])
    claims = await verifier.verify(token)             # ServiceClaims; InvalidAccessToken

Tokens are signed with an asymmetric key (EdDSA by default, or ES256; never
HS256), so the receiver verifies with a public key from a cached JWKS or a
local ``KeyRing`` and never calls the issuer back. They live seconds (default
60 s, at most 600 s unless forced) and name exactly one audience.

Their header ``typ`` is ``svc+jwt``, not the ``at+jwt`` of user access
tokens, and each verifier's pre-check accepts only its own type (RFC 8725,
section 3.11, explicit typing). Without that, a user's access token minted
for audience "billing" could pass as a call from a service, and a service's
token could pass as a user's session at an API that trusts the same keys.
Verification then runs the same code as access tokens (``revocable.jwtverify``).
"""

from __future__ import annotations

import math
import secrets
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import jwt

from revocable.core.jwtcheck import precheck
from revocable.errors import ConfigurationError, InvalidAccessToken, InvalidInput
from revocable.jwtverify import verify_claims
from revocable.keys import KeyRing

if TYPE_CHECKING:  # the JWKS client needs httpx; minting and ring verification do not
    from revocable.jwks import JWKSClient

__all__ = ["TYP", "ServiceClaims", "ServiceTokenVerifier", "ServiceTokens"]

TYP = "svc+jwt"
DEFAULT_LIFETIME = 60.0
MAX_LIFETIME = 600.0
FORCED_MAX_LIFETIME = 3600.0
_REQUIRED = ["exp", "iat", "sub", "iss", "aud", "jti"]


def _check_lifetime(lifetime: float, *, forced: bool) -> float:
    if not (math.isfinite(lifetime) and lifetime > 0):
        raise ConfigurationError("a service token's lifetime must be a positive number of seconds")
    if lifetime > MAX_LIFETIME and not forced:
        raise ConfigurationError(
            f"service tokens live seconds to minutes: a lifetime above {MAX_LIFETIME:g} s "
            "needs allow_long_lifetime=True (and a reason)"
        )
    if lifetime > FORCED_MAX_LIFETIME:
        raise ConfigurationError(
            f"a service token never lives more than {FORCED_MAX_LIFETIME:g} s, even when forced"
        )
    return lifetime


class ServiceTokens:
    """Mints service tokens as ``issuer`` (the calling service) with the newest key of a ring."""

    def __init__(
        self,
        keys: KeyRing,
        issuer: str,
        *,
        lifetime: float = DEFAULT_LIFETIME,
        allow_long_lifetime: bool = False,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not isinstance(issuer, str) or not issuer:
            raise ConfigurationError("service tokens need an issuer: the calling service's name")
        self.keys = keys
        self.issuer = issuer
        self.allow_long_lifetime = allow_long_lifetime
        self.lifetime = _check_lifetime(lifetime, forced=allow_long_lifetime)
        self._clock = clock

    def mint(
        self,
        audience: str,
        *,
        subject: str | None = None,
        lifetime: float | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> str:
        """A signed token for the service ``audience``; ``sub`` is ``subject`` or the issuer.

        ``extra`` claims cannot override the registered ones.
        """
        if not isinstance(audience, str) or not audience:
            raise InvalidInput("a service token needs the target service as audience")
        if subject is not None and (not isinstance(subject, str) or not subject):
            raise InvalidInput("a subject must be a non-empty string")
        seconds = _check_lifetime(
            self.lifetime if lifetime is None else lifetime, forced=self.allow_long_lifetime
        )
        key = self.keys.signing_key
        if key.symmetric:
            raise ConfigurationError(
                "service tokens are signed with EdDSA or ES256 keys, never HS256: a shared "
                "secret would let every receiving service mint tokens too"
            )
        now = int(self._clock())
        claims: dict[str, Any] = dict(extra or {})
        claims.update(
            iss=self.issuer,
            sub=subject or self.issuer,
            aud=audience,
            iat=now,
            exp=now + math.ceil(seconds),
            jti=secrets.token_urlsafe(16),
        )
        private: Any = key.private
        return jwt.encode(
            claims, private, algorithm=key.algorithm, headers={"kid": key.kid, "typ": TYP}
        )


@dataclass(frozen=True, slots=True)
class ServiceClaims:
    """The verified claims of a service token."""

    issuer: str
    subject: str
    audience: str
    issued_at: float
    expires_at: float
    token_id: str
    claims: Mapping[str, Any]


class ServiceTokenVerifier:
    """Verifies service tokens for one ``audience`` (this service), keys by ``kid`` only.

    ``keys`` is a ``JWKSClient`` (the issuers' published keys, cached) or a local
    ``KeyRing``; a token's ``jku``/``x5u``/``jwk`` are never followed (the pre-check
    refuses them). ``issuers``, if given, is the allow-list of calling services.
    ``max_lifetime`` refuses tokens whose ``exp - iat`` is longer: the receiver
    enforces "short-lived" too, whatever the issuer was configured to do.
    """

    def __init__(
        self,
        keys: KeyRing | JWKSClient,
        *,
        audience: str,
        issuers: Iterable[str] | None = None,
        leeway: float = 30.0,
        max_lifetime: float = MAX_LIFETIME,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not isinstance(audience, str) or not audience:
            raise ConfigurationError("a service token verifier needs its own service's audience")
        allowed = None
        if issuers is not None:
            allowed = frozenset([issuers] if isinstance(issuers, str) else issuers)
            if not allowed or not all(isinstance(i, str) and i for i in allowed):
                raise ConfigurationError("issuers must be non-empty service names (or None)")
        if not (math.isfinite(leeway) and 0 <= leeway <= 60):
            raise ConfigurationError("leeway must be between 0 and 60 seconds")
        self.keys = keys
        self.audience = audience
        self.issuers: frozenset[str] | None = allowed
        self.leeway = leeway
        self.max_lifetime = _check_lifetime(max_lifetime, forced=True)
        self._clock = clock

    async def verify(self, token: object) -> ServiceClaims:
        """The claims of a valid service token; ``InvalidAccessToken`` with a reason otherwise.

        Raises ``KeySourceUnavailable`` when the JWKS cannot be fetched for the token's kid.
        """
        header, _ = precheck(token, typ=TYP)
        key, algorithm = await self._key(header["kid"])
        claims = verify_claims(
            str(token),
            header,
            key,
            algorithm,
            audience=self.audience,
            issuer=self.issuers,
            required=_REQUIRED,
            now=self._clock(),
            leeway=self.leeway,
            strict_audience=True,  # one token, one target: no replay at a co-audience
        )
        if claims["exp"] - claims["iat"] > self.max_lifetime:
            raise InvalidAccessToken(
                "unsupported", f"the token lives longer than {self.max_lifetime:g} s"
            )
        return ServiceClaims(
            issuer=claims["iss"],
            subject=claims["sub"],
            audience=claims["aud"],
            issued_at=float(claims["iat"]),
            expires_at=float(claims["exp"]),
            token_id=claims["jti"],
            claims=MappingProxyType(claims),
        )

    async def _key(self, kid: str) -> tuple[Any, str]:
        """The verification key and its algorithm; the algorithm never comes from the token."""
        if isinstance(self.keys, KeyRing):
            local = self.keys.find(kid)
            if local is None:
                raise InvalidAccessToken("unknown_key", "no trusted key has this kid")
            if local.symmetric:
                raise InvalidAccessToken("unsupported", "service tokens are never HS256")
            return local.verification_key(), local.algorithm
        published = await self.keys.find(kid)
        if published is None:
            raise InvalidAccessToken("unknown_key", "the issuers' JWKS has no key with this kid")
        return published.key, published.algorithm
