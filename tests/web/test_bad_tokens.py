"""The bad-token catalogue over real HTTP: every forged, broken or hostile access token gets
401 with a JSON error from the reference server, as a Bearer header and as the access
cookie; never a 200, never a 500."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from revocable.keys import KeyRing, SigningKey
from revocable.stores.memory import MemoryStore
from tests.servers import Serve
from tests.web.conftest import PASSWORD, token_app

ISSUER = AUDIENCE = "revocable"  # the reference server's, without --public-origin


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def part(value: dict[str, Any]) -> str:
    return b64(json.dumps(value).encode())


def sign(header: dict[str, Any], claims: dict[str, Any], key: Any, alg: str) -> str:
    """A compact JWT with exactly this header and payload, signed with ``key`` by ``alg``."""
    signing_input = f"{part(header)}.{part(claims)}"
    if alg == "HS256":  # by hand: PyJWT refuses to HMAC with a PEM public key, attackers don't
        signature = hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    else:
        algorithm = jwt.get_algorithm_by_name(alg)
        signature = algorithm.sign(signing_input.encode(), algorithm.prepare_key(key))
    return f"{signing_input}.{b64(signature)}"


def catalogue(key: SigningKey, user_id: str, good: str) -> dict[str, str]:
    """Name -> a token that must be refused, each built against the server's real key."""
    now = int(time.time())
    claims = {"sub": user_id, "iss": ISSUER, "aud": AUDIENCE, "iat": now, "exp": now + 300}
    claims["jti"] = "j"
    header = {"alg": "EdDSA", "kid": key.kid, "typ": "at+jwt"}
    ours = key.private
    attacker = ed25519.Ed25519PrivateKey.generate()
    public_pem = key.verification_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    public_raw = key.verification_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    signed = {
        "alg HS256 with our public key (PEM)": sign(
            {**header, "alg": "HS256"}, claims, public_pem, "HS256"
        ),
        "alg HS256 with our public key (raw)": sign(
            {**header, "alg": "HS256"}, claims, public_raw, "HS256"
        ),
        "alg ES256 on an EdDSA kid": sign(
            {**header, "alg": "ES256"},
            claims,
            SigningKey.generate("ES256").private,
            "ES256",
        ),
        "expired": sign(header, {**claims, "iat": now - 4000, "exp": now - 3000}, ours, "EdDSA"),
        "future nbf": sign(header, {**claims, "nbf": now + 3600}, ours, "EdDSA"),
        "future iat": sign(header, {**claims, "iat": now + 3600}, ours, "EdDSA"),
        "wrong aud": sign(header, {**claims, "aud": "another-api"}, ours, "EdDSA"),
        "wrong iss": sign(header, {**claims, "iss": "https://evil.example"}, ours, "EdDSA"),
        "missing exp": sign(header, _without(claims, "exp"), ours, "EdDSA"),
        "missing sub": sign(header, _without(claims, "sub"), ours, "EdDSA"),
        "missing typ": sign(_without(header, "typ"), claims, ours, "EdDSA"),
        "typ JWT": sign({**header, "typ": "JWT"}, claims, ours, "EdDSA"),
        "unknown kid": sign({**header, "kid": "no-such-key"}, claims, ours, "EdDSA"),
        "kid path traversal": sign(
            {**header, "kid": "../../../../../dev/null"}, claims, ours, "EdDSA"
        ),
        "kid SQL injection": sign({**header, "kid": "' OR '1'='1"}, claims, ours, "EdDSA"),
        "kid with NUL": sign({**header, "kid": key.kid + "\x00"}, claims, ours, "EdDSA"),
        "kid not a string": sign({**header, "kid": 1}, claims, ours, "EdDSA"),
        "jku header": sign({**header, "jku": "https://evil.example/jwks"}, claims, ours, "EdDSA"),
        "x5u header": sign({**header, "x5u": "https://evil.example/cert"}, claims, ours, "EdDSA"),
        "embedded jwk (attacker's key)": sign(
            {**header, "jwk": jwt.algorithms.OKPAlgorithm.to_jwk(attacker.public_key(), True)},
            claims,
            attacker,
            "EdDSA",
        ),
        "crit extension": sign({**header, "crit": ["exp"]}, claims, ours, "EdDSA"),
        "attacker's key with our kid": sign(header, claims, attacker, "EdDSA"),
        "exp as a string": sign(header, {**claims, "exp": str(now + 300)}, ours, "EdDSA"),
    }
    head, payload, signature = good.split(".")
    altered = json.loads(base64.urlsafe_b64decode(payload + "=="))
    altered["sub"] = "someone-else"
    unsigned = {
        f"alg {spelling}": f"{part({**header, 'alg': spelling})}.{part(claims)}."
        for spelling in ("none", "None", "NONE", "nOnE")
    }
    unsigned["alg none with a signature"] = f"{part({**header, 'alg': 'none'})}.{part(claims)}.AA"
    broken = {
        "stripped signature": f"{head}.{payload}.",
        "altered payload": f"{head}.{part(altered)}.{signature}",
        "padded signature": good + "=",
        "100 KB token": f"{head}.{b64(b'x' * 75_000)}.{signature}",
        "non-JWT garbage": "this is not a token",
        "empty parts": "..",
        "five-part JWE shape": f"{head}.{payload}.{signature}.{signature}.{signature}",
        "non-ASCII": "é.é.é",
        "two tokens glued": f"{good}.{good}",
    }
    return {**signed, **unsigned, **broken}


def _without(mapping: dict[str, Any], name: str) -> dict[str, Any]:
    return {k: v for k, v in mapping.items() if k != name}


@pytest.fixture(name="server")
async def _server(serve: Serve) -> AsyncIterator[tuple[httpx.AsyncClient, SigningKey]]:
    key = SigningKey.generate()
    app = token_app(MemoryStore(), signing_keys=KeyRing([key]))
    async with httpx.AsyncClient(base_url=await serve(app)) as client:
        yield client, key


async def test_every_bad_token_is_refused_with_401(
    server: tuple[httpx.AsyncClient, SigningKey],
) -> None:
    """Each catalogue entry, as a Bearer header and as the access cookie, on /api/me and on a
    state-changing route: 401 ``invalid_token`` (or ``not_authenticated`` for a refused
    cookie), JSON, never 200 and never 500. The same server accepts a good token."""
    client, key = server
    name = f"victim-{uuid.uuid4().hex[:8]}"
    user = (
        await client.post("/auth/register", json={"username": name, "password": PASSWORD})
    ).json()
    issued = await client.post(
        "/auth/token", json={"username": name, "password": PASSWORD, "token_transport": "body"}
    )
    good = issued.json()["access_token"]
    assert (await client.get("/api/me", headers=bearer(good))).status_code == 200
    # The forger makes tokens the server accepts, so each refusal below is the mutation's.
    now = int(time.time())
    honest = {"sub": user["id"], "iss": ISSUER, "aud": AUDIENCE, "iat": now, "exp": now + 60}
    forged = sign(
        {"alg": "EdDSA", "kid": key.kid, "typ": "at+jwt"},
        {**honest, "jti": "x"},
        key.private,
        "EdDSA",
    )
    assert (await client.get("/api/me", headers=bearer(forged))).status_code == 200

    failures: list[str] = []
    requests: dict[str, Callable[[str], Any]] = {
        "GET /api/me Bearer": lambda t: client.get("/api/me", headers=bearer(t)),
        "GET /api/me cookie": lambda t: client.get("/api/me", headers=access_cookie(t)),
        "POST revoke Bearer": lambda t: client.post(
            "/auth/token/revoke", json={}, headers=bearer(t)
        ),
        "GET /auth/families Bearer": lambda t: client.get("/auth/families", headers=bearer(t)),
    }
    for case, token in catalogue(key, user["id"], good).items():
        for how, send in requests.items():
            try:
                response = await send(token)
            except httpx.HTTPError as exc:  # a header httpx itself refuses to send
                failures.append(f"{case} / {how}: client error {exc!r}")
                continue
            error = _error(response)
            if response.status_code != 401 or error not in ("invalid_token", "not_authenticated"):
                failures.append(f"{case} / {how}: {response.status_code} {response.text[:120]}")
    assert not failures, "\n".join(failures)
    # Nothing above revoked the family: the good token still works.
    assert (await client.get("/api/me", headers=bearer(good))).status_code == 200


def bearer(token: str) -> dict[bytes, bytes]:
    return {b"authorization": f"Bearer {token}".encode()}  # bytes: non-ASCII goes out raw


def access_cookie(token: str) -> dict[bytes, bytes]:
    return {b"cookie": f"__Host-access={token}".encode()}


def _error(response: httpx.Response) -> str | None:
    try:
        body = response.json()
    except ValueError:
        return None
    return body.get("error") if isinstance(body, dict) else None
