"""The JWKS client: strict parsing, and caching and refetching against a real JWKS server."""

from __future__ import annotations

import asyncio
import json
import secrets
from typing import Any

import pytest

from revocable.errors import ConfigurationError, KeySourceUnavailable
from revocable.jwks import JWKSClient, parse_jwks
from revocable.keys import Algorithm, KeyRing, SigningKey
from revocable.testing import ManualClock
from tests.jwks_server import (  # noqa: F401 (fixtures, found by pytest by name)
    JWKSServer,
    jwks_server_fixture,
)
from tests.servers import free_port

Server = tuple[JWKSServer, str]


def jwk(algorithm: Algorithm = "EdDSA", **changes: Any) -> dict[str, Any]:
    """A fresh public JWK of ``algorithm`` with ``changes`` applied (None removes a member)."""
    entry: dict[str, Any] = SigningKey.generate(algorithm).public_jwk()
    entry.update(changes)
    return {k: v for k, v in entry.items() if v is not None}


def document(*entries: dict[str, Any]) -> bytes:
    return json.dumps({"keys": list(entries)}).encode()


@pytest.fixture(name="clock")
def _clock() -> ManualClock:
    return ManualClock(1000.0)


def client_for(
    base: str, clock: ManualClock, path: str = "/jwks.json", **kwargs: Any
) -> JWKSClient:
    return JWKSClient(f"{base}{path}", allow_http=True, clock=clock, **kwargs)


# Parsing.


def test_ed25519_and_p256_keys_are_parsed_with_their_algorithm() -> None:
    """Ed25519 keys verify EdDSA, P-256 keys ES256; a missing alg is inferred from the key type."""
    ring = KeyRing([SigningKey.generate("ES256"), SigningKey.generate("EdDSA")])
    keys = parse_jwks(json.dumps(ring.jwks()).encode())
    assert {kid: key.algorithm for kid, key in keys.items()} == {
        key.kid: key.algorithm for key in ring.keys
    }
    bare = jwk("ES256", alg=None, use=None)
    assert parse_jwks(document(bare))[bare["kid"]].algorithm == "ES256"


@pytest.mark.parametrize(
    "entry",
    [
        pytest.param({"kty": "oct", "kid": "s", "k": "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0"}, id="oct"),
        pytest.param(jwk(use="enc"), id="use-enc"),
        pytest.param(jwk(alg="RS256"), id="unknown-alg"),
        pytest.param(jwk("ES256", alg="EdDSA"), id="alg-not-fitting-ec"),
        pytest.param(jwk("EdDSA", alg="ES256"), id="alg-not-fitting-okp"),
        pytest.param(jwk("ES256", crv="P-384"), id="p384"),
        pytest.param(jwk("EdDSA", crv="X25519"), id="x25519"),
        pytest.param(jwk(d="AAAA"), id="private-part"),
        pytest.param(jwk(key_ops=["sign"]), id="key-ops-sign"),
        pytest.param(jwk(kid=None), id="no-kid"),
        pytest.param(jwk(kid=""), id="empty-kid"),
        pytest.param(jwk(x="AAAA"), id="bad-point"),
        pytest.param(jwk("ES256", y=None), id="ec-without-y"),
        pytest.param({"kty": "RSA", "kid": "r", "n": "AQAB", "e": "AQAB"}, id="rsa"),
        pytest.param("not an object", id="string"),
    ],
)
def test_unusable_keys_are_skipped(entry: Any) -> None:
    """Symmetric, private, encryption, mismatched, unsupported or broken keys are never used."""
    good = jwk()
    assert list(parse_jwks(document(good, entry))) == [good["kid"]]


def test_a_kid_listed_twice_counts_for_neither_key() -> None:
    """Two keys under one kid are ambiguous: both are dropped, others kept."""
    first, other = jwk(), jwk()
    second = jwk(kid=first["kid"])
    assert list(parse_jwks(document(first, other, second))) == [other["kid"]]


@pytest.mark.parametrize(
    "raw",
    [
        b"not json",
        b"[]",
        b'{"keys": "all of them"}',
        b'{"keys": [], "keys": []}',
        b"\xff\xfe",
        b"[" * 100_000,
        document(*[{"kty": "oct"}] * 101),
    ],
)
def test_garbage_documents_are_refused(raw: bytes) -> None:
    """Not JSON, not {"keys": [...]}, duplicate members or too many keys: KeySourceUnavailable."""
    with pytest.raises(KeySourceUnavailable):
        parse_jwks(raw)


@pytest.mark.parametrize(
    ("url", "kwargs"),
    [
        ("http://auth.example/jwks.json", {}),
        ("ftp://auth.example/jwks.json", {"allow_http": True}),
        ("https:///jwks.json", {}),
        ("https://auth.example/jwks.json", {"cache_ttl": 0}),
        ("https://auth.example/jwks.json", {"min_refetch_interval": -1}),
        ("https://auth.example/jwks.json", {"timeout": float("inf")}),
        ("https://auth.example/jwks.json", {"stale_if_error": -1}),
        ("https://auth.example/jwks.json", {"max_bytes": 0}),
    ],
)
def test_settings_are_checked(url: str, kwargs: dict[str, Any]) -> None:
    """Only https (http only when allowed), with a host, and positive finite intervals."""
    with pytest.raises(ConfigurationError):
        JWKSClient(url, **kwargs)


# Against a real JWKS server.


async def test_cache_hits_make_no_request(jwks_server: Server, clock: ManualClock) -> None:
    """The first lookup fetches; every later one within the TTL is answered from the cache."""
    server, base = jwks_server
    ring = KeyRing([SigningKey.generate(), SigningKey.generate("ES256")])
    server.publish(ring)
    async with client_for(base, clock) as client:
        for _ in range(50):
            for key in ring.keys:
                found = await client.find(key.kid)
                assert found is not None
                assert found.algorithm == key.algorithm
            clock.advance(1)
    assert server.requests == 1


async def test_rotation_is_picked_up_on_the_first_unknown_kid(
    jwks_server: Server, clock: ManualClock
) -> None:
    """After the issuer adds a key, the first lookup of its kid refetches once and finds it."""
    server, base = jwks_server
    ring = KeyRing([SigningKey.generate()])
    server.publish(ring)
    async with client_for(base, clock) as client:
        assert await client.find(ring.signing_key.kid) is not None
        clock.advance(31)
        ring = ring.rotated(SigningKey.generate())
        server.publish(ring)
        assert await client.find(ring.signing_key.kid) is not None
        assert server.requests == 2
        assert await client.find(ring.keys[0].kid) is not None  # the old key still verifies
    assert server.requests == 2


async def test_a_flood_of_unknown_kids_refetches_at_most_once_per_interval(
    jwks_server: Server, clock: ManualClock
) -> None:
    """100 tokens with random kids, sent over 100 s: one refetch per 30 s interval at most."""
    server, base = jwks_server
    server.publish(KeyRing([SigningKey.generate()]))
    async with client_for(base, clock, min_refetch_interval=30) as client:
        await client.refresh()
        assert server.requests == 1
        for _ in range(100):
            assert await client.find(secrets.token_urlsafe(32)) is None
            clock.advance(1)
    # At t = 30, 60 and 90 s after the first fetch; never more.
    assert server.requests == 1 + 3


async def test_concurrent_misses_share_one_fetch(jwks_server: Server, clock: ManualClock) -> None:
    """Many lookups at once, cold or for a new kid, wait for a single shared request."""
    server, base = jwks_server
    ring = KeyRing([SigningKey.generate()])
    server.publish(ring)
    server.delay = 0.1
    async with client_for(base, clock) as client:
        found = await asyncio.gather(*(client.find(ring.signing_key.kid) for _ in range(50)))
        assert all(key is not None for key in found)
        assert server.requests == 1
        clock.advance(30)
        ring = ring.rotated(SigningKey.generate())
        server.publish(ring)
        found = await asyncio.gather(*(client.find(ring.signing_key.kid) for _ in range(50)))
        assert all(key is not None for key in found)
        unknown = await asyncio.gather(*(client.find(secrets.token_hex(8)) for _ in range(50)))
        assert unknown == [None] * 50
    assert server.requests == 2


async def test_keys_expire_after_the_ttl(jwks_server: Server, clock: ManualClock) -> None:
    """Past cache_ttl a known kid refetches once; a key the issuer withdrew is then unknown."""
    server, base = jwks_server
    old, new = SigningKey.generate(), SigningKey.generate()
    server.publish(KeyRing([old, new]))
    async with client_for(base, clock, cache_ttl=300) as client:
        assert await client.find(old.kid) is not None
        server.publish(KeyRing([new]))
        clock.advance(299)
        assert await client.find(old.kid) is not None
        clock.advance(1)
        assert await client.find(old.kid) is None
    assert server.requests == 2


async def test_an_outage_keeps_cached_keys_only_for_a_while(
    jwks_server: Server, clock: ManualClock
) -> None:
    """While the JWKS fails, cached keys serve until stale_if_error runs out; unknown kids 503."""
    server, base = jwks_server
    key = SigningKey.generate()
    server.publish(KeyRing([key]))
    async with client_for(base, clock, cache_ttl=300, stale_if_error=600) as client:
        assert await client.find(key.kid) is not None
        server.status = 500
        clock.advance(300)
        assert await client.find(key.kid) is not None  # refetch failed: the stale key serves
        assert server.requests == 2
        with pytest.raises(KeySourceUnavailable, match="HTTP 500") as info:
            await client.find("rotated-in-meanwhile")
        assert info.value.retry_after == 30
        assert server.requests == 2  # no retry within the interval
        clock.advance(599)
        assert await client.find(key.kid) is not None
        clock.advance(1)
        with pytest.raises(KeySourceUnavailable):
            await client.find(key.kid)
        server.status = 200
        clock.advance(30)
        assert await client.find(key.kid) is not None


async def test_an_unreachable_jwks_fails_closed(clock: ManualClock) -> None:
    """Nothing listening: KeySourceUnavailable, the URL's secrets never in the message."""
    url = f"http://user:hunter2@127.0.0.1:{free_port()}/jwks.json"
    async with JWKSClient(url, allow_http=True, clock=clock) as client:
        with pytest.raises(KeySourceUnavailable, match="not reachable") as info:
            await client.find("any")
        assert "hunter2" not in str(info.value)
        assert "hunter2" not in repr(client)
        with pytest.raises(KeySourceUnavailable):
            await client.find("any")


async def test_a_slow_jwks_times_out(jwks_server: Server, clock: ManualClock) -> None:
    """A JWKS that does not answer within the timeout is unavailable, not waited for."""
    server, base = jwks_server
    server.delay = 1.0
    async with client_for(base, clock, timeout=0.2) as client:
        with pytest.raises(KeySourceUnavailable):
            await client.find("any")


@pytest.mark.parametrize("chunked", [False, True])
async def test_oversized_documents_are_refused(
    jwks_server: Server, clock: ManualClock, chunked: bool
) -> None:
    """A document over max_bytes is refused, with a Content-Length or without one."""
    server, base = jwks_server
    server.document = document(*[{"kty": "oct", "pad": "x" * 1000}] * 70)
    server.chunked = chunked
    async with client_for(base, clock) as client:
        with pytest.raises(KeySourceUnavailable, match="over 65536 bytes"):
            await client.find("any")


@pytest.mark.parametrize("body", [b"<html>Welcome to nginx</html>", b'{"keys": {}}', b""])
async def test_garbage_answers_are_refused(
    jwks_server: Server, clock: ManualClock, body: bytes
) -> None:
    """An answer that is not a JWKS document fails closed."""
    server, base = jwks_server
    server.document = body
    async with client_for(base, clock) as client:
        with pytest.raises(KeySourceUnavailable):
            await client.find("any")


async def test_redirects_stay_on_the_same_origin(jwks_server: Server, clock: ManualClock) -> None:
    """A redirect on the same origin is followed; one to another host is refused, not followed."""
    server, base = jwks_server
    key = SigningKey.generate()
    server.publish(KeyRing([key]))
    async with client_for(base, clock, path="/moved") as client:
        assert await client.find(key.kid) is not None
    assert server.requests == 2
    async with client_for(base, clock, path="/away") as client:
        with pytest.raises(KeySourceUnavailable, match="another origin"):
            await client.find(key.kid)
    assert server.requests == 3  # localhost:port/jwks.json was never asked


async def test_a_failed_fetch_is_retried_after_the_interval(
    jwks_server: Server, clock: ManualClock
) -> None:
    """With nothing cached, a failing JWKS is asked again only once the interval has passed."""
    server, base = jwks_server
    server.status = 503
    key = SigningKey.generate()
    server.publish(KeyRing([key]))
    async with client_for(base, clock) as client:
        for _ in range(10):
            with pytest.raises(KeySourceUnavailable):
                await client.find(key.kid)
        assert server.requests == 1
        server.status = 200
        clock.advance(30)
        assert await client.find(key.kid) is not None
    assert server.requests == 2
