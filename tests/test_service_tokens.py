"""Service-to-service tokens: minting, strict verification, and the FastAPI dependency over HTTP."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import math
import subprocess
import sys
from collections.abc import AsyncIterator
from typing import Any

import httpx
import jwt
import pytest
from fastapi import Depends, FastAPI

from revocable import ConfigurationError, InvalidAccessToken
from revocable.access import AccessTokenPolicy, AccessTokens
from revocable.errors import InvalidInput, KeySourceUnavailable
from revocable.fastapi import install_error_handlers
from revocable.jwks import JWKSClient
from revocable.keys import Algorithm, KeyRing, SigningKey
from revocable.service import ServiceClaims, ServiceTokens, ServiceTokenVerifier
from revocable.service_fastapi import require_service_token
from revocable.testing import ManualClock
from tests.jwks_server import (  # noqa: F401 (fixtures, found by pytest by name)
    JWKSServer,
    jwks_server_fixture,
)
from tests.servers import Serve, free_port

NOW = 1_800_000_000.0


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def forge(header: dict[str, Any], claims: dict[str, Any], key: Any, alg: str) -> str:
    """A token signed with ``key`` but with a header and claims of our choosing."""
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"
    if alg == "HS256":  # by hand: PyJWT refuses to HMAC with some keys
        signature = hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    else:
        algorithm = jwt.get_algorithm_by_name(alg)
        signature = algorithm.sign(signing_input.encode(), algorithm.prepare_key(key))
    return f"{signing_input}.{b64(signature)}"


def claims_at(now: float, **changes: Any) -> dict[str, Any]:
    """Claims a service token from "orders" to "billing" could carry at ``now``."""
    claims = {"iss": "orders", "sub": "orders", "aud": "billing", "iat": int(now)}
    return {**claims, "exp": int(now) + 60, "jti": "j", **changes}


@pytest.fixture(name="clock")
def _clock() -> ManualClock:
    return ManualClock(NOW)


@pytest.fixture(name="ring", params=["EdDSA", "ES256"])
def _ring(request: pytest.FixtureRequest) -> KeyRing:
    algorithm: Algorithm = request.param
    return KeyRing([SigningKey.generate(algorithm)])


@pytest.fixture(name="minter")
def _minter(ring: KeyRing, clock: ManualClock) -> ServiceTokens:
    return ServiceTokens(ring, "orders", clock=clock)


@pytest.fixture(name="verifier")
def _verifier(ring: KeyRing, clock: ManualClock) -> ServiceTokenVerifier:
    return ServiceTokenVerifier(ring, audience="billing", issuers=["orders"], clock=clock)


async def reason(verifier: ServiceTokenVerifier, token: object) -> str:
    with pytest.raises(InvalidAccessToken) as info:
        await verifier.verify(token)
    return info.value.reason


async def test_round_trip_carries_every_claim(
    minter: ServiceTokens, verifier: ServiceTokenVerifier, ring: KeyRing
) -> None:
    """A minted token verifies: iss and sub are the caller, aud the target, 60 s, typ svc+jwt."""
    token = minter.mint("billing")
    claims = await verifier.verify(token)
    assert (claims.issuer, claims.subject, claims.audience) == ("orders", "orders", "billing")
    assert claims.expires_at - claims.issued_at == 60
    assert claims.issued_at == NOW
    assert set(claims.claims) == {"iss", "sub", "aud", "iat", "exp", "jti"}
    assert len(claims.token_id) >= 20
    header = jwt.get_unverified_header(token)
    key = ring.signing_key
    assert header == {"alg": key.algorithm, "kid": key.kid, "typ": "svc+jwt"}
    with pytest.raises(TypeError):
        claims.claims["sub"] = "admin"  # type: ignore[index]


async def test_subject_lifetime_and_extra_claims(
    minter: ServiceTokens, verifier: ServiceTokenVerifier
) -> None:
    """A given subject and lifetime are used; extra claims never override registered ones."""
    token = minter.mint(
        "billing", subject="job-42", lifetime=5, extra={"iss": "admin", "scope": "charge"}
    )
    claims = await verifier.verify(token)
    assert (claims.issuer, claims.subject, claims.claims["scope"]) == ("orders", "job-42", "charge")
    assert claims.expires_at - claims.issued_at == 5
    assert minter.mint("billing", lifetime=0.5).count(".") == 2  # rounds up to 1 s
    with pytest.raises(InvalidInput):
        minter.mint("")
    with pytest.raises(InvalidInput):
        minter.mint("billing", subject="")


async def test_wrong_audience_and_issuer_are_refused(
    ring: KeyRing, clock: ManualClock, verifier: ServiceTokenVerifier
) -> None:
    """A token for another service, a list of audiences, or from an unlisted caller is refused."""
    minter = ServiceTokens(ring, "orders", clock=clock)
    assert await reason(verifier, minter.mint("shipping")) == "wrong_audience"
    key = ring.signing_key
    header = {"alg": key.algorithm, "kid": key.kid, "typ": "svc+jwt"}
    both = forge(header, claims_at(NOW, aud=["billing", "shipping"]), key.private, key.algorithm)
    assert await reason(verifier, both) == "wrong_audience"
    stranger = ServiceTokens(ring, "intruder", clock=clock)
    assert await reason(verifier, stranger.mint("billing")) == "wrong_issuer"
    anyone = ServiceTokenVerifier(ring, audience="billing", clock=clock)
    assert (await anyone.verify(stranger.mint("billing"))).issuer == "intruder"
    single = ServiceTokenVerifier(ring, audience="billing", issuers="intruder", clock=clock)
    assert (await single.verify(stranger.mint("billing"))).issuer == "intruder"


async def test_expiry_and_future_tokens_use_the_clock_and_leeway(
    minter: ServiceTokens, verifier: ServiceTokenVerifier, clock: ManualClock, ring: KeyRing
) -> None:
    """Tokens die at exp plus 30 s of leeway; a token issued beyond the leeway is not valid yet."""
    token = minter.mint("billing")
    clock.advance(60 + 29)
    assert (await verifier.verify(token)).subject == "orders"
    clock.advance(2)
    assert await reason(verifier, token) == "expired"
    future = ServiceTokens(ring, "orders", clock=ManualClock(clock() + 31))
    assert await reason(verifier, future.mint("billing")) == "not_yet_valid"
    near = ServiceTokens(ring, "orders", clock=ManualClock(clock() + 29))
    assert (await verifier.verify(near.mint("billing"))).subject == "orders"


async def test_unknown_kid_missing_claims_and_tampering(
    minter: ServiceTokens, verifier: ServiceTokenVerifier, clock: ManualClock, ring: KeyRing
) -> None:
    """A key outside the ring, a missing jti or sub, a changed payload and a jku are refused."""
    other = ServiceTokens(KeyRing([SigningKey.generate()]), "orders", clock=clock)
    assert await reason(verifier, other.mint("billing")) == "unknown_key"
    key = ring.signing_key
    header = {"alg": key.algorithm, "kid": key.kid, "typ": "svc+jwt"}
    for missing in ("jti", "sub", "iss"):
        claims = claims_at(clock())
        del claims[missing]
        assert await reason(verifier, forge(header, claims, key.private, key.algorithm)) == (
            "missing_claim"
        )
    head, _, signature = minter.mint("billing").split(".")
    tampered = f"{head}.{b64(json.dumps(claims_at(clock(), sub='admin')).encode())}.{signature}"
    assert await reason(verifier, tampered) == "bad_signature"
    jku = {**header, "jku": "https://evil.example/jwks.json"}
    assert await reason(verifier, forge(jku, claims_at(clock()), key.private, key.algorithm)) == (
        "unsupported"
    )
    assert await reason(verifier, "not.a.token") == "malformed"
    assert await reason(verifier, None) == "malformed"


async def test_user_access_tokens_and_service_tokens_never_cross(
    ring: KeyRing, clock: ManualClock, verifier: ServiceTokenVerifier, minter: ServiceTokens
) -> None:
    """With the same keys, issuer and audience, an at+jwt is no service token, and vice versa."""
    access = AccessTokens(ring, AccessTokenPolicy(issuer="orders", audience="billing"), clock=clock)
    assert await reason(verifier, access.mint("orders")) == "unsupported"
    with pytest.raises(InvalidAccessToken) as info:
        access.verify(minter.mint("billing"))
    assert info.value.reason == "unsupported"


async def test_hs256_is_never_a_service_token(clock: ManualClock) -> None:
    """An HS256 ring cannot mint, and an HS256 token is refused even if its kid is in the ring."""
    secret = SigningKey.generate("HS256")
    with pytest.raises(ConfigurationError, match="never HS256"):
        ServiceTokens(KeyRing([secret]), "orders", clock=clock).mint("billing")
    verifier = ServiceTokenVerifier(KeyRing([secret]), audience="billing", clock=clock)
    header = {"alg": "HS256", "kid": secret.kid, "typ": "svc+jwt"}
    token = forge(header, claims_at(clock()), secret.private, "HS256")
    assert await reason(verifier, token) == "unsupported"


async def test_receivers_enforce_short_lifetimes(ring: KeyRing, clock: ManualClock) -> None:
    """A forced 15-minute token is refused by a default verifier, accepted by one allowing it."""
    minter = ServiceTokens(ring, "orders", lifetime=900, allow_long_lifetime=True, clock=clock)
    token = minter.mint("billing")
    strict = ServiceTokenVerifier(ring, audience="billing", clock=clock)
    assert await reason(strict, token) == "unsupported"
    lenient = ServiceTokenVerifier(ring, audience="billing", max_lifetime=900, clock=clock)
    assert (await lenient.verify(token)).expires_at - NOW == 900


@pytest.mark.parametrize(
    "kwargs",
    [
        {"lifetime": 0},
        {"lifetime": -1},
        {"lifetime": math.nan},
        {"lifetime": math.inf},
        {"lifetime": 601},
        {"lifetime": 3601, "allow_long_lifetime": True},
        {"issuer": ""},
    ],
)
def test_minting_refuses_long_or_empty_lifetimes(kwargs: dict[str, Any]) -> None:
    """Lifetimes of zero or less, above 600 s unless forced, above an hour ever, are refused."""
    ring = KeyRing([SigningKey.generate()])
    with pytest.raises(ConfigurationError):
        ServiceTokens(ring, **{"issuer": "orders", **kwargs})
    tokens = ServiceTokens(ring, "orders")
    with pytest.raises(ConfigurationError):
        tokens.mint("billing", lifetime=kwargs.get("lifetime", 0))
    assert ServiceTokens(ring, "orders", lifetime=601, allow_long_lifetime=True).lifetime == 601


@pytest.mark.parametrize(
    "kwargs",
    [
        {"audience": ""},
        {"issuers": []},
        {"issuers": [""]},
        {"leeway": 61},
        {"leeway": -1},
        {"max_lifetime": 0},
    ],
)
def test_verifier_settings_are_checked(kwargs: dict[str, Any]) -> None:
    """An empty audience or issuer list, leeway outside 0..60 s, a zero max lifetime are refused."""
    ring = KeyRing([SigningKey.generate()])
    with pytest.raises(ConfigurationError):
        ServiceTokenVerifier(ring, **{"audience": "billing", **kwargs})


async def test_round_trip_through_a_real_jwks(
    jwks_server: tuple[JWKSServer, str], ring: KeyRing, clock: ManualClock, minter: ServiceTokens
) -> None:
    """A verifier on the issuer's JWKS URL accepts its tokens, fetching the JWKS once."""
    server, base = jwks_server
    server.publish(ring)
    async with JWKSClient(f"{base}/jwks.json", allow_http=True, clock=clock) as client:
        verifier = ServiceTokenVerifier(client, audience="billing", issuers=["orders"], clock=clock)
        for _ in range(5):
            assert (await verifier.verify(minter.mint("billing"))).subject == "orders"
        stranger = ServiceTokens(KeyRing([SigningKey.generate()]), "orders", clock=clock)
        assert await reason(verifier, stranger.mint("billing")) == "unknown_key"
    assert server.requests == 1


async def test_the_jwks_path_refuses_hs256(
    jwks_server: tuple[JWKSServer, str], clock: ManualClock
) -> None:
    """An oct key in the JWKS is never used, and HS256 naming a public key's kid is refused."""
    server, base = jwks_server
    public = KeyRing([SigningKey.generate()])
    secret = b"s" * 32
    oct_key = {"kty": "oct", "kid": "shared", "k": b64(secret), "alg": "HS256", "use": "sig"}
    server.publish(public, extra=[oct_key])
    async with JWKSClient(f"{base}/jwks.json", allow_http=True, clock=clock) as client:
        verifier = ServiceTokenVerifier(client, audience="billing", clock=clock)
        header = {"alg": "HS256", "kid": "shared", "typ": "svc+jwt"}
        assert await reason(verifier, forge(header, claims_at(clock()), secret, "HS256")) == (
            "unknown_key"
        )
        # Algorithm confusion: the public key's bytes as an HMAC secret.
        key = public.signing_key
        x = base64.urlsafe_b64decode(key.public_jwk()["x"] + "==")
        header = {"alg": "HS256", "kid": key.kid, "typ": "svc+jwt"}
        assert await reason(verifier, forge(header, claims_at(clock()), x, "HS256")) == (
            "unsupported"
        )


# The FastAPI dependency, driven over real HTTP.


def protected_app(verifier: ServiceTokenVerifier) -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)
    service_token = require_service_token(verifier)

    @app.post("/internal/charge")
    async def charge(caller: ServiceClaims = Depends(service_token)) -> dict[str, str]:
        return {"caller": caller.subject}

    return app


@pytest.fixture(name="http")
async def _http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=5) as client:
        yield client


async def test_a_route_protected_over_http(
    serve: Serve,
    jwks_server: tuple[JWKSServer, str],
    ring: KeyRing,
    clock: ManualClock,
    minter: ServiceTokens,
    http: httpx.AsyncClient,
) -> None:
    """200 with a good token; a JSON 401 with WWW-Authenticate for a missing or bad one."""
    server, jwks_base = jwks_server
    server.publish(ring)
    client = JWKSClient(f"{jwks_base}/jwks.json", allow_http=True, clock=clock)
    verifier = ServiceTokenVerifier(client, audience="billing", issuers=["orders"], clock=clock)
    url = f"{await serve(protected_app(verifier))}/internal/charge"

    good = await http.post(url, headers={"Authorization": f"Bearer {minter.mint('billing')}"})
    assert (good.status_code, good.json()) == (200, {"caller": "orders"})

    missing = await http.post(url)
    assert missing.status_code == 401
    assert missing.json()["error"] == "not_authenticated"
    assert missing.headers["www-authenticate"] == "Bearer"

    access = AccessTokens(ring, AccessTokenPolicy(issuer="orders", audience="billing"), clock=clock)
    expired = ServiceTokens(ring, "orders", clock=ManualClock(NOW - 200)).mint("billing")
    stranger = ServiceTokens(KeyRing([SigningKey.generate()]), "orders", clock=clock)
    bad = {
        "wrong_audience": f"Bearer {minter.mint('shipping')}",
        "expired": f"Bearer {expired}",
        "unknown_key": f"Bearer {stranger.mint('billing')}",
        "unsupported": f"Bearer {access.mint('orders')}",
        "malformed": "Bearer garbage",
        "wrong_issuer": f"Bearer {ServiceTokens(ring, 'intruder', clock=clock).mint('billing')}",
    }
    for why, authorization in bad.items():
        response = await http.post(url, headers={"Authorization": authorization})
        assert response.status_code == 401, why
        assert response.json() == {
            "error": "invalid_token",
            "detail": f"service token refused ({why})",
        }
        assert response.headers["www-authenticate"] == (
            f'Bearer error="invalid_token", reason="{why}"'
        )
    basic = await http.post(url, headers={"Authorization": "Basic b3JkZXJzOnB3"})
    assert (basic.status_code, basic.json()["error"]) == (401, "invalid_token")
    assert basic.headers["www-authenticate"] == "Bearer"
    assert server.requests == 1  # the unknown kid came within the refetch interval
    await client.aclose()


async def test_an_unreachable_jwks_is_a_503(
    serve: Serve, minter: ServiceTokens, clock: ManualClock, http: httpx.AsyncClient
) -> None:
    """When the JWKS cannot be fetched the route answers 503 with Retry-After, never 200 or 500."""
    client = JWKSClient(f"http://127.0.0.1:{free_port()}/jwks.json", allow_http=True, clock=clock)
    verifier = ServiceTokenVerifier(client, audience="billing", clock=clock)
    url = f"{await serve(protected_app(verifier))}/internal/charge"
    for _ in range(2):
        response = await http.post(
            url, headers={"Authorization": f"Bearer {minter.mint('billing')}"}
        )
        assert response.status_code == 503
        assert response.json()["error"] == "key_source_unavailable"
        assert "127.0.0.1" not in response.text  # the JWKS URL is not the caller's business
        assert 1 <= int(response.headers["retry-after"]) <= 30
    with pytest.raises(KeySourceUnavailable):
        await client.refresh()
    await client.aclose()


async def test_openapi_declares_the_bearer_scheme(ring: KeyRing) -> None:
    """The dependency shows in OpenAPI as an HTTP bearer (JWT) security scheme on the route."""
    app = protected_app(ServiceTokenVerifier(ring, audience="billing"))
    schema = app.openapi()
    scheme = schema["components"]["securitySchemes"]["revocableServiceToken"]
    assert (scheme["type"], scheme["scheme"], scheme["bearerFormat"]) == ("http", "bearer", "JWT")
    assert schema["paths"]["/internal/charge"]["post"]["security"] == [
        {"revocableServiceToken": []}
    ]


def test_minting_and_ring_verification_need_no_http_client() -> None:
    """Importing revocable.service loads neither httpx nor FastAPI (only the JWKS client does)."""
    code = (
        "import sys, revocable.service\n"
        "bad = [m for m in ('httpx', 'fastapi', 'starlette') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
