"""The one place a pre-checked JWT's signature and claims are verified (PyJWT).

Shared by user access tokens (``revocable.access``) and service tokens
(``revocable.service``) so both refuse the same things with the same reasons.
The caller has already run ``core.jwtcheck.precheck`` and found the key by
``kid`` in a source it trusts; this module ties the algorithm to that key
(never to the token's header), lets PyJWT check the signature, the audience,
the issuer and that every required claim is present, and then checks the
times against the caller's clock (``now``) with a small leeway.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any

import jwt

from revocable.errors import InvalidAccessToken

__all__ = ["verify_claims"]


def verify_claims(
    token: str,
    header: Mapping[str, Any],
    key: Any,
    algorithm: str,
    *,
    audience: str,
    issuer: str | Collection[str] | None,
    required: Sequence[str],
    now: float,
    leeway: float,
    strict_audience: bool = False,
) -> dict[str, Any]:
    """The claims of ``token`` signed by ``key`` (made for ``algorithm``); ``InvalidAccessToken``.

    ``issuer`` is one issuer, a collection of allowed issuers, or None to accept
    any (``iss`` must still be present if it is in ``required``).
    ``strict_audience`` demands a single ``aud`` string equal to ``audience``.
    ``exp`` and ``iat`` are always required.
    """
    if header.get("alg") != algorithm:
        raise InvalidAccessToken("unsupported", "the algorithm does not match the key")
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            key,
            algorithms=[algorithm],
            audience=audience,
            issuer=issuer,
            # Times are checked below against the caller's (injectable) clock.
            options={
                "require": list(dict.fromkeys(["exp", "iat", *required])),
                "strict_aud": strict_audience,
                "verify_exp": False,
                "verify_nbf": False,
                "verify_iat": False,
            },
        )
    except jwt.InvalidAudienceError:
        raise InvalidAccessToken("wrong_audience", "the token is for another audience") from None
    except jwt.InvalidIssuerError:
        raise InvalidAccessToken("wrong_issuer", "the token is from another issuer") from None
    except jwt.MissingRequiredClaimError as exc:
        raise InvalidAccessToken("missing_claim", f"claim {exc.claim} is required") from None
    except jwt.InvalidSignatureError:
        raise InvalidAccessToken("bad_signature", "the signature does not verify") from None
    except jwt.PyJWTError:
        raise InvalidAccessToken("malformed", "the token does not verify") from None
    if claims["exp"] <= now - leeway:
        raise InvalidAccessToken("expired", "the token has expired")
    if claims["iat"] > now + leeway or claims.get("nbf", 0) > now + leeway:
        raise InvalidAccessToken("not_yet_valid", "the token is not valid yet")
    return claims
