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

import functools
from collections.abc import Collection, Mapping, Sequence
from typing import Any

import jwt
from jwt.algorithms import Algorithm
from jwt.utils import base64url_decode

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
    payload: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The claims of ``token`` signed by ``key`` (made for ``algorithm``); ``InvalidAccessToken``.

    ``issuer`` is one issuer, a collection of allowed issuers, or None to accept
    any (``iss`` must still be present if it is in ``required``).
    ``strict_audience`` demands a single ``aud`` string equal to ``audience``.
    ``exp`` and ``iat`` are always required.

    ``payload`` is ``precheck``'s parse of this very token's claims: given, PyJWT
    checks only the signature (over the token's own signing input) and this
    module checks the claims as ``jwt.decode`` would, without parsing the token
    a second time (PyJWT's parse costs a third of an Ed25519 verify).
    """
    if header.get("alg") != algorithm:
        raise InvalidAccessToken("unsupported", "the algorithm does not match the key")
    if payload is not None:
        checked = _verified_payload(
            token, payload, key, algorithm, audience, issuer, required, strict_audience
        )
        _check_times(checked, now, leeway)
        return checked
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
    _check_times(claims, now, leeway)
    return claims


def _check_times(claims: Mapping[str, Any], now: float, leeway: float) -> None:
    if claims["exp"] <= now - leeway:
        raise InvalidAccessToken("expired", "the token has expired")
    if claims["iat"] > now + leeway or claims.get("nbf", 0) > now + leeway:
        raise InvalidAccessToken("not_yet_valid", "the token is not valid yet")


@functools.cache
def _algorithm(name: str) -> Algorithm:
    return jwt.get_algorithm_by_name(name)


def _verified_payload(
    token: str,
    payload: Mapping[str, Any],
    key: Any,
    algorithm: str,
    audience: str,
    issuer: str | Collection[str] | None,
    required: Sequence[str],
    strict_audience: bool,
) -> dict[str, Any]:
    """PyJWT's signature check on the signing input, then ``jwt.decode``'s claim checks.

    Same order and same refusals as ``jwt.decode`` with the options above:
    the signature, the required claims, the issuer, then the audience.
    """
    signing_input, _, signature = token.rpartition(".")
    verifier = _algorithm(algorithm)
    try:
        valid = verifier.verify(
            signing_input.encode("ascii"), verifier.prepare_key(key), base64url_decode(signature)
        )
    except (ValueError, TypeError, jwt.PyJWTError):
        raise InvalidAccessToken("malformed", "the token does not verify") from None
    if not valid:
        raise InvalidAccessToken("bad_signature", "the signature does not verify")
    claims = dict(payload)
    for name in dict.fromkeys(["exp", "iat", *required]):
        if claims.get(name) is None:
            raise InvalidAccessToken("missing_claim", f"claim {name} is required")
    if issuer is not None:
        iss = claims.get("iss")
        if iss is None:
            raise InvalidAccessToken("missing_claim", "claim iss is required")
        if not isinstance(iss, str) or (
            iss != issuer if isinstance(issuer, str) else iss not in issuer
        ):
            raise InvalidAccessToken("wrong_issuer", "the token is from another issuer")
    aud = claims.get("aud")
    if not aud:
        raise InvalidAccessToken("missing_claim", "claim aud is required")
    if strict_audience:
        if aud != audience:  # a list never equals a str
            raise InvalidAccessToken("wrong_audience", "the token is for another audience")
    elif not (
        aud == audience
        or (isinstance(aud, list) and all(isinstance(a, str) for a in aud) and audience in aud)
    ):
        raise InvalidAccessToken("wrong_audience", "the token is for another audience")
    return claims
