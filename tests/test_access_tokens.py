"""Access tokens and keys: strict minting and verification, with no network."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from revocable import ConfigurationError, InvalidAccessToken
from revocable.access import AccessTokenPolicy, AccessTokens
from revocable.jwtverify import verify_claims
from revocable.keys import Algorithm, KeyRing, SigningKey
from revocable.testing import ManualClock

POLICY = AccessTokenPolicy(issuer="https://auth.example", audience="api")


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def forge(header: dict[str, Any], claims: dict[str, Any] | str, key: Any, alg: str) -> str:
    """A token signed with ``key`` but with a header and payload of our choosing."""
    payload = claims if isinstance(claims, str) else json.dumps(claims)
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(payload.encode())}"
    if alg == "HS256":  # by hand: PyJWT itself refuses to HMAC with a PEM key
        signature = hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    else:
        algorithm = jwt.get_algorithm_by_name(alg)
        signature = algorithm.sign(signing_input.encode(), algorithm.prepare_key(key))
    return f"{signing_input}.{b64(signature)}"


@pytest.fixture(name="clock")
def _clock() -> ManualClock:
    return ManualClock(1_800_000_000.0)


@pytest.fixture(name="tokens", params=["EdDSA", "ES256", "HS256"])
def _tokens(request: pytest.FixtureRequest, clock: ManualClock) -> AccessTokens:
    key = SigningKey.generate(request.param)
    return AccessTokens(KeyRing([key]), POLICY, clock=clock)


def valid_claims(now: float) -> dict[str, Any]:
    """Claims a token of POLICY could carry at ``now``."""
    return {"sub": "u", "iss": POLICY.issuer, "aud": "api", "iat": now, "exp": now + 60, "jti": "j"}


def reason(tokens: AccessTokens, token: object) -> str:
    with pytest.raises(InvalidAccessToken) as info:
        tokens.verify(token)
    return info.value.reason


def test_round_trip_carries_every_required_claim(tokens: AccessTokens) -> None:
    """A minted token verifies; it carries sub, iss, aud, iat, exp, jti, fid and kid/typ."""
    token = tokens.mint("user-1", family_id="fam-9")
    claims = tokens.verify(token)
    assert (claims.subject, claims.family_id) == ("user-1", "fam-9")
    assert claims.expires_at - claims.issued_at == 600
    header = jwt.get_unverified_header(token)
    assert header == {
        "alg": tokens.keys.signing_key.algorithm,
        "kid": tokens.keys.signing_key.kid,
        "typ": "at+jwt",
    }
    assert set(claims.claims) == {"sub", "iss", "aud", "iat", "exp", "jti", "fid"}


def test_expiry_uses_the_injected_clock_and_leeway(
    tokens: AccessTokens, clock: ManualClock
) -> None:
    """Tokens die at exp plus the leeway (30 s), measured by the injected clock."""
    token = tokens.mint("u")
    clock.advance(600 + 29)
    assert tokens.verify(token).subject == "u"
    clock.advance(2)
    assert reason(tokens, token) == "expired"


def test_not_before_revokes_earlier_tokens(tokens: AccessTokens, clock: ManualClock) -> None:
    """A subject's 'not before' refuses tokens issued earlier (log out all devices)."""
    token = tokens.mint("u")
    clock.advance(5)
    with pytest.raises(InvalidAccessToken, match="revoked"):
        tokens.verify(token, not_before=clock())
    assert tokens.verify(tokens.mint("u"), not_before=clock()).subject == "u"


def test_wrong_audience_issuer_and_signature(tokens: AccessTokens, clock: ManualClock) -> None:
    """Another audience, another issuer or a changed payload are each refused by name."""
    other = AccessTokens(
        tokens.keys, AccessTokenPolicy(issuer="https://auth.example", audience="other"), clock=clock
    )
    assert reason(tokens, other.mint("u")) == "wrong_audience"
    stranger = AccessTokens(
        tokens.keys, AccessTokenPolicy(issuer="https://evil", audience="api"), clock=clock
    )
    assert reason(tokens, stranger.mint("u")) == "wrong_issuer"
    head, payload, signature = tokens.mint("u").split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["sub"] = "admin"
    assert (
        reason(tokens, f"{head}.{b64(json.dumps(claims).encode())}.{signature}") == "bad_signature"
    )


def test_keys_rotate_without_logging_anyone_out(clock: ManualClock) -> None:
    """After rotation new tokens use the new key; old ones verify until the key is dropped."""
    old = SigningKey.generate()
    tokens = AccessTokens(KeyRing([old]), POLICY, clock=clock)
    before = tokens.mint("u")
    new = SigningKey.generate()
    tokens.keys = tokens.keys.rotated(new)
    after = tokens.mint("u")
    assert jwt.get_unverified_header(after)["kid"] == new.kid
    assert tokens.verify(before).subject == "u"
    tokens.keys = KeyRing([new])
    assert reason(tokens, before) == "unknown_key"


def test_algorithm_confusion_and_none_are_refused(clock: ManualClock) -> None:
    """HS256 signed with an EdDSA key's public bytes, or alg none, never verify."""
    key = SigningKey.generate("ES256")
    tokens = AccessTokens(KeyRing([key]), POLICY, clock=clock)
    claims = valid_claims(clock())
    public_pem = key.verification_key().public_bytes(
        encoding=serialization.Encoding.PEM,
        format=serialization.PublicFormat.SubjectPublicKeyInfo,
    )
    confused = forge({"alg": "HS256", "kid": key.kid, "typ": "at+jwt"}, claims, public_pem, "HS256")
    assert reason(tokens, confused) == "unsupported"
    header = b64(json.dumps({"alg": "none", "kid": key.kid, "typ": "at+jwt"}).encode())
    unsigned = f"{header}.{b64(json.dumps(claims).encode())}."
    assert reason(tokens, unsigned) == "malformed"


@pytest.mark.parametrize(
    ("header_extra", "claims_extra", "expected"),
    [
        ({"jku": "https://evil/jwks"}, {}, "unsupported"),
        ({"jwk": {"kty": "oct"}}, {}, "unsupported"),
        ({"x5u": "https://evil"}, {}, "unsupported"),
        ({"crit": ["exp"]}, {}, "unsupported"),
        ({"typ": "JWT"}, {}, "unsupported"),
        ({}, {"exp": "9999999999"}, "malformed"),
        ({}, {"iat": True}, "malformed"),
        ({}, {"sub": 42}, "malformed"),
        ({}, {"aud": ["api", 3]}, "malformed"),
    ],
)
def test_hostile_headers_and_claim_types(
    clock: ManualClock, header_extra: dict[str, Any], claims_extra: dict[str, Any], expected: str
) -> None:
    """Key-fetching headers, crit, a wrong typ and mistyped claims are refused before PyJWT."""
    key = SigningKey.generate()
    tokens = AccessTokens(KeyRing([key]), POLICY, clock=clock)
    claims = valid_claims(clock())
    header = {"alg": "EdDSA", "kid": key.kid, "typ": "at+jwt", **header_extra}
    assert (
        reason(tokens, forge(header, {**claims, **claims_extra}, key.private, "EdDSA")) == expected
    )


def test_duplicate_keys_padding_and_size_are_refused(clock: ManualClock) -> None:
    """Duplicate JSON keys, padded or non-canonical parts and oversized tokens are malformed."""
    key = SigningKey.generate()
    tokens = AccessTokens(KeyRing([key]), POLICY, clock=clock)
    header = {"alg": "EdDSA", "kid": key.kid, "typ": "at+jwt"}
    dup = (
        f'{{"sub": "u", "sub": "admin", "iss": "{POLICY.issuer}", "aud": "api", '
        f'"iat": {clock()}, "exp": {clock() + 60}, "jti": "j"}}'
    )
    assert reason(tokens, forge(header, dup, key.private, "EdDSA")) == "malformed"
    good = tokens.mint("u")
    assert reason(tokens, good + "=") == "malformed"
    assert reason(tokens, good + "." + good) == "malformed"
    assert reason(tokens, "a" * 5000) == "malformed"
    assert reason(tokens, None) == "malformed"
    assert reason(tokens, "é.é.é") == "malformed"


def test_jwks_publishes_public_keys_only() -> None:
    """The JWKS lists asymmetric public keys with kid/alg/use, never a secret or private part."""
    ring = KeyRing(
        [SigningKey.generate("HS256"), SigningKey.generate("ES256"), SigningKey.generate()]
    )
    jwks = ring.jwks()
    assert [k["alg"] for k in jwks["keys"]] == ["ES256", "EdDSA"]
    for jwk in jwks["keys"]:
        assert "d" not in jwk
        assert "k" not in jwk
        assert jwk["use"] == "sig"
        assert ring.find(jwk["kid"]) is not None


def test_pem_round_trip_keeps_the_kid() -> None:
    """A key saved as PEM loads back with the same kid (the RFC 7638 thumbprint)."""
    algorithms: tuple[Algorithm, ...] = ("EdDSA", "ES256")
    for algorithm in algorithms:
        key = SigningKey.generate(algorithm)
        assert SigningKey.from_pem(key.to_pem()).kid == key.kid
    with pytest.raises(ConfigurationError):
        SigningKey.from_pem("not a pem")
    assert "private" not in repr(SigningKey.generate("HS256")).split("kid")[1]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"lifetime": 3601},
        {"lifetime": 0},
        {"leeway": 61},
        {"leeway": -1},
        {"issuer": ""},
    ],
)
def test_policy_refuses_long_lifetimes_and_big_leeway(kwargs: dict[str, Any]) -> None:
    """Lifetimes above an hour (unless forced), leeway above 60 s and no issuer are refused."""
    base: dict[str, Any] = {"issuer": "i", "audience": "a"}
    with pytest.raises(ConfigurationError):
        AccessTokenPolicy(**{**base, **kwargs})
    assert AccessTokenPolicy(issuer="i", audience="a", lifetime=7200, allow_long_lifetime=True)


def test_unsupported_algorithms_and_weak_secrets() -> None:
    """Only EdDSA, ES256 and HS256 with a 32-byte secret can be made."""
    bad: Algorithm = "RS256"  # type: ignore[assignment]
    with pytest.raises(ConfigurationError):
        SigningKey.generate(bad)
    with pytest.raises(ConfigurationError):
        SigningKey.from_secret(b"short")


# --------------------------------------------------------------------------- the verified cache


@pytest.fixture(name="signature_checks")
def _signature_checks(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Counts the full verifications (signature and claims) access.verify runs."""
    calls: list[str] = []

    def counting(token: str, *args: Any, **kwargs: Any) -> dict[str, Any]:
        calls.append(token)
        return verify_claims(token, *args, **kwargs)

    monkeypatch.setattr("revocable.access.verify_claims", counting)
    return calls


def test_a_token_seen_again_is_not_verified_again(
    tokens: AccessTokens, signature_checks: list[str]
) -> None:
    """The second verify of the same token answers the same claims without a signature check."""
    token = tokens.mint("u", family_id="f")
    first = tokens.verify(token)
    assert tokens.verify(token) == first
    assert signature_checks == [token]
    assert tokens.verify(tokens.mint("u")).subject == "u"
    assert len(signature_checks) == 2


def test_a_cached_token_still_expires_by_the_injected_clock(
    tokens: AccessTokens, clock: ManualClock, signature_checks: list[str]
) -> None:
    """A cached token is refused at exp plus the leeway, exactly like an uncached one."""
    token = tokens.mint("u")
    tokens.verify(token)
    clock.advance(600 + 29)
    assert tokens.verify(token).subject == "u"
    assert len(signature_checks) == 1
    clock.advance(1)
    assert reason(tokens, token) == "expired"
    assert reason(tokens, token) == "expired"


def test_not_before_still_refuses_a_cached_token(tokens: AccessTokens, clock: ManualClock) -> None:
    """'Log out all devices' refuses a token verified (and cached) a moment before."""
    token = tokens.mint("u")
    assert tokens.verify(token, not_before=clock() - 1).subject == "u"
    clock.advance(5)
    with pytest.raises(InvalidAccessToken, match="revoked"):
        tokens.verify(token, not_before=clock())


def test_a_cached_token_dies_with_its_key(clock: ManualClock) -> None:
    """Once its key leaves the ring, a cached token is refused as unknown_key."""
    old, new = SigningKey.generate(), SigningKey.generate()
    tokens = AccessTokens(KeyRing([old]), POLICY, clock=clock)
    token = tokens.mint("u")
    tokens.verify(token)
    tokens.keys = tokens.keys.rotated(new)
    assert tokens.verify(token).subject == "u"
    tokens.keys = KeyRing([new])
    assert reason(tokens, token) == "unknown_key"


def test_a_policy_change_drops_cached_tokens(tokens: AccessTokens, clock: ManualClock) -> None:
    """A token cached under one audience is refused once the policy names another."""
    token = tokens.mint("u")
    tokens.verify(token)
    tokens.policy = AccessTokenPolicy(issuer=POLICY.issuer, audience="other")
    assert reason(tokens, token) == "wrong_audience"


def test_refusals_are_not_cached_and_do_not_evict(
    clock: ManualClock, signature_checks: list[str]
) -> None:
    """Bad signatures, revoked and expired tokens leave the cache, even a one-entry one, alone."""
    key = SigningKey.generate()
    tokens = AccessTokens(KeyRing([key]), POLICY, clock=clock, cache_size=1)
    good = tokens.mint("u")
    tokens.verify(good)
    for i in range(20):
        forged = forge(
            {"alg": "EdDSA", "kid": key.kid, "typ": "at+jwt"},
            {**valid_claims(clock()), "jti": str(i)},
            SigningKey.generate().private,
            "EdDSA",
        )
        assert reason(tokens, forged) == "bad_signature"
    clock.advance(10)
    revoked = tokens.mint("u")
    clock.advance(10)
    with pytest.raises(InvalidAccessToken, match="revoked"):
        tokens.verify(revoked, not_before=clock())
    checks = len(signature_checks)
    assert tokens.verify(good).subject == "u"
    assert len(signature_checks) == checks  # still cached
    with pytest.raises(InvalidAccessToken, match="revoked"):
        tokens.verify(revoked, not_before=clock())
    assert len(signature_checks) == checks + 1  # verified again: never cached


def test_the_cache_is_bounded_and_can_be_disabled(
    clock: ManualClock, signature_checks: list[str]
) -> None:
    """Past cache_size the least recently used token is verified again; 0 caches nothing."""
    tokens = AccessTokens(KeyRing([SigningKey.generate()]), POLICY, clock=clock, cache_size=2)
    a, b, c = (tokens.mint("u") for _ in range(3))
    for token in (a, b, c):
        tokens.verify(token)
    signature_checks.clear()
    tokens.verify(c)
    tokens.verify(b)
    assert signature_checks == []
    tokens.verify(a)
    assert signature_checks == [a]
    uncached = AccessTokens(tokens.keys, POLICY, clock=clock, cache_size=0)
    signature_checks.clear()
    uncached.verify(a)
    uncached.verify(a)
    assert signature_checks == [a, a]


def test_cached_claims_are_read_only(tokens: AccessTokens) -> None:
    """Every hit shares one claims object, so no caller can change it for the others."""
    claims = tokens.verify(tokens.mint("u")).claims
    with pytest.raises(TypeError):
        claims["sub"] = "admin"  # type: ignore[index]
