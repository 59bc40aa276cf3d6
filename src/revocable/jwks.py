"""A JWKS client for verifying service tokens: fetch, parse strictly, cache, refetch sparingly.

    client = JWKSClient("https://auth.internal/.well-known/jwks.json")
    key = await client.find(kid)        # VerificationKey, or None for an unknown kid

Keys come only from the one configured URL (never from a token's ``jku`` or
``x5u``), over https (``allow_http=True`` is for loopback tests), within a
size cap and a time limit, never through a redirect to another origin. Only
Ed25519 (``OKP``, EdDSA) and P-256 (``EC``, ES256) signing keys are taken; a
symmetric ``oct`` key, a private key, a key for ``enc``, an unknown ``alg`` or
an ``alg`` that does not fit the key's type is skipped, and logged by its kid
(never its content).

Keys are cached for ``cache_ttl``. An unknown ``kid`` triggers a refetch (how
an issuer's new key is picked up) but never more often than once per
``min_refetch_interval``: a flood of made-up kids cannot become a flood of
requests to the JWKS endpoint, and concurrent misses wait for one shared
fetch. If a refetch fails, the keys of the last good fetch stay usable for
``stale_if_error`` seconds past their TTL; beyond that, or with no key cached,
lookups raise ``KeySourceUnavailable`` (fail closed).
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import httpx
import jwt

from revocable.errors import ConfigurationError, KeySourceUnavailable, redact_url

__all__ = ["MAX_JWKS_BYTES", "JWKSClient", "VerificationKey", "parse_jwks"]

MAX_JWKS_BYTES = 64 * 1024
_MAX_KEYS = 100
_MAX_REDIRECTS = 3
_ALGORITHMS = {("OKP", "Ed25519"): "EdDSA", ("EC", "P-256"): "ES256"}
_PRIVATE_MEMBERS = ("d", "k", "p", "q", "dp", "dq", "qi")
_PUBLIC_MEMBERS = ("kty", "crv", "x", "y")

logger = logging.getLogger("revocable.jwks")


@dataclass(frozen=True, slots=True)
class VerificationKey:
    """A public key from a JWKS, with the one algorithm it may verify."""

    kid: str
    algorithm: str
    key: Any = field(repr=False)


class _Skipped(Exception):
    """A JWKS entry that is not used; the message says why (never the key's content)."""


def parse_jwks(raw: bytes) -> dict[str, VerificationKey]:
    """The usable keys of a JWKS document, by kid; ``KeySourceUnavailable`` if it is not one.

    Entries that are not Ed25519/P-256 public signing keys are skipped (and logged).
    """
    try:
        document = json.loads(raw, object_pairs_hook=_no_duplicates)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise KeySourceUnavailable("the JWKS document is not JSON") from None
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise KeySourceUnavailable('the JWKS document is not {"keys": [...]}')
    if len(document["keys"]) > _MAX_KEYS:
        raise KeySourceUnavailable(f"the JWKS document lists more than {_MAX_KEYS} keys")
    found: dict[str, VerificationKey] = {}
    ambiguous: set[str] = set()
    for entry in document["keys"]:
        try:
            key = _parse_key(entry)
        except _Skipped as exc:
            kid = entry.get("kid") if isinstance(entry, dict) else None
            logger.warning("JWKS key %r skipped: %s", str(kid)[:64], exc)
            continue
        if key.kid in found or key.kid in ambiguous:
            # Two keys under one kid: which one signed is unknowable, so neither counts.
            ambiguous.add(key.kid)
            found.pop(key.kid, None)
            logger.warning("JWKS kid %r appears twice; both keys skipped", key.kid[:64])
            continue
        found[key.kid] = key
    return found


def _parse_key(entry: object) -> VerificationKey:
    if not isinstance(entry, dict):
        raise _Skipped("not a JSON object")
    kid, kty, crv = entry.get("kid"), entry.get("kty"), entry.get("crv")
    if not isinstance(kid, str) or not 0 < len(kid) <= 256:
        raise _Skipped("no kid (or one over 256 characters)")
    if kty == "oct":
        raise _Skipped("a symmetric key: service tokens are verified with public keys only")
    if any(name in entry for name in _PRIVATE_MEMBERS):
        raise _Skipped("it holds private key material, which a JWKS must never publish")
    algorithm = (
        _ALGORITHMS.get((kty, crv)) if isinstance(kty, str) and isinstance(crv, str) else None
    )
    if algorithm is None:
        raise _Skipped("only Ed25519 (OKP) and P-256 (EC) keys are supported")
    if entry.get("alg", algorithm) != algorithm:
        raise _Skipped(f"its alg does not fit the key type {kty}/{crv} (expected {algorithm})")
    if entry.get("use", "sig") != "sig":
        raise _Skipped("its use is not sig")
    ops = entry.get("key_ops")
    if ops is not None and (not isinstance(ops, list) or "verify" not in ops):
        raise _Skipped("its key_ops do not include verify")
    public = {name: entry[name] for name in _PUBLIC_MEMBERS if name in entry}
    try:
        key = jwt.PyJWK(public, algorithm).key
    except (jwt.PyJWTError, ValueError, TypeError):
        raise _Skipped("not a valid public key") from None
    return VerificationKey(kid, algorithm, key)


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise ValueError("duplicate key")
    return result


class JWKSClient:
    """Verification keys from one JWKS URL, cached, refetched at most once per interval.

    ``clock`` is monotonic seconds (injectable for tests). Without ``http_client``
    the client makes its own, which ignores proxy and ``.netrc`` settings from the
    environment (pass your own ``httpx.AsyncClient`` to use a proxy).
    """

    def __init__(
        self,
        url: str,
        *,
        http_client: httpx.AsyncClient | None = None,
        cache_ttl: float = 300.0,
        min_refetch_interval: float = 30.0,
        stale_if_error: float = 3600.0,
        timeout: float = 3.0,
        max_bytes: int = MAX_JWKS_BYTES,
        allow_http: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        try:
            parsed = httpx.URL(url)
        except (httpx.InvalidURL, TypeError):
            raise ConfigurationError("the JWKS URL is not a URL") from None
        if parsed.scheme != "https" and not (allow_http and parsed.scheme == "http"):
            raise ConfigurationError(
                f"the JWKS URL must be https (got {redact_url(url)!r}); "
                "allow_http=True is for loopback tests only"
            )
        if not parsed.host:
            raise ConfigurationError("the JWKS URL needs a host")
        for name, value, low in (
            ("cache_ttl", cache_ttl, 0.0),
            ("min_refetch_interval", min_refetch_interval, 0.0),
            ("timeout", timeout, 0.0),
        ):
            if not (math.isfinite(value) and value > low):
                raise ConfigurationError(f"{name} must be a positive number of seconds")
        if not (math.isfinite(stale_if_error) and stale_if_error >= 0):
            raise ConfigurationError("stale_if_error must be zero or more seconds")
        if max_bytes <= 0:
            raise ConfigurationError("max_bytes must be positive")
        self.url = parsed
        self.cache_ttl = cache_ttl
        self.min_refetch_interval = min_refetch_interval
        self.stale_if_error = stale_if_error
        self.timeout = timeout
        self.max_bytes = max_bytes
        self._own_client = http_client is None
        self._http = (
            httpx.AsyncClient(trust_env=False, follow_redirects=False)
            if http_client is None
            else http_client
        )
        self._clock = clock
        self._keys: dict[str, VerificationKey] = {}
        self._fetched_at: float | None = None  # the last good fetch
        self._attempted_at: float | None = None  # the last fetch, good or not
        self._error: str | None = None  # why the last fetch failed
        self._generation = 0  # counts finished fetches, so waiters can tell one happened
        self._lock = asyncio.Lock()

    async def find(self, kid: str) -> VerificationKey | None:
        """The key named ``kid``; None if the JWKS (fetched now if due) does not list it.

        Raises ``KeySourceUnavailable`` when the JWKS cannot be had and no usable
        cached key answers.
        """
        now = self._clock()
        due = not self._fresh(now) or kid not in self._keys
        if due and (
            self._attempted_at is None or now - self._attempted_at >= self.min_refetch_interval
        ):
            await self._refresh(self._generation)
        now = self._clock()
        key = self._keys.get(kid)
        if key is not None and self._usable(now):
            return key
        if self._error is not None or not self._usable(now):
            raise self._unavailable(now)
        return None

    async def refresh(self) -> None:
        """Fetch the JWKS now (sharing a fetch already under way); ``KeySourceUnavailable``.

        For a warm-up at start-up; lookups refetch by themselves when due.
        """
        await self._refresh(self._generation)
        if self._error is not None:
            raise self._unavailable(self._clock())

    def _fresh(self, now: float) -> bool:
        return self._fetched_at is not None and now - self._fetched_at < self.cache_ttl

    def _usable(self, now: float) -> bool:
        return (
            self._fetched_at is not None
            and now - self._fetched_at < self.cache_ttl + self.stale_if_error
        )

    def _unavailable(self, now: float) -> KeySourceUnavailable:
        since = now - (self._attempted_at if self._attempted_at is not None else now)
        wait = max(1.0, math.ceil(self.min_refetch_interval - since))
        reason = self._error or "no usable keys are cached"
        return KeySourceUnavailable(f"JWKS {self._shown}: {reason}", retry_after=wait)

    @property
    def _shown(self) -> str:
        return redact_url(str(self.url))

    async def _refresh(self, generation: int) -> None:
        async with self._lock:
            if self._generation != generation:
                return  # another caller fetched while this one waited: use its result
            try:
                keys = await self._fetch()
            except KeySourceUnavailable as exc:
                self._error = str(exc)
                logger.warning("JWKS %s could not be fetched: %s", self._shown, exc)
            else:
                self._keys, self._fetched_at, self._error = keys, self._clock(), None
            # Not in a `finally`: a cancelled fetch is no attempt, the next caller tries.
            self._attempted_at = self._clock()
            self._generation += 1

    async def _fetch(self) -> dict[str, VerificationKey]:
        try:
            async with asyncio.timeout(self.timeout):  # the whole fetch, redirects and body
                return parse_jwks(await self._download())
        except TimeoutError:
            raise KeySourceUnavailable(f"no answer within {self.timeout:g} s") from None
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            raise KeySourceUnavailable(f"not reachable ({type(exc).__name__})") from None

    async def _download(self) -> bytes:
        url = self.url
        for _ in range(_MAX_REDIRECTS + 1):
            async with self._http.stream(
                "GET",
                url,
                # identity: a compressed body could inflate far past max_bytes in one chunk.
                headers={
                    "Accept": "application/jwk-set+json, application/json",
                    "Accept-Encoding": "identity",
                },
                follow_redirects=False,
                timeout=self.timeout,
            ) as response:
                if response.is_redirect and response.next_request is not None:
                    url = response.next_request.url
                    if _origin(url) != _origin(self.url):
                        raise KeySourceUnavailable(
                            "it redirects to another origin; configure the final URL"
                        )
                    continue
                if response.status_code != 200:
                    raise KeySourceUnavailable(f"it answered HTTP {response.status_code}")
                if response.headers.get("content-encoding", "identity").lower() != "identity":
                    raise KeySourceUnavailable("it answered with a compressed body")
                return await self._read(response)
        raise KeySourceUnavailable(f"more than {_MAX_REDIRECTS} redirects")

    async def _read(self, response: httpx.Response) -> bytes:
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            raise KeySourceUnavailable(f"the document is over {self.max_bytes} bytes")
        body = bytearray()
        async for chunk in response.aiter_raw():
            body += chunk
            if len(body) > self.max_bytes:
                raise KeySourceUnavailable(f"the document is over {self.max_bytes} bytes")
        return bytes(body)

    async def aclose(self) -> None:
        """Close the HTTP client if this object made it."""
        if self._own_client:
            await self._http.aclose()

    async def __aenter__(self) -> JWKSClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"JWKSClient({self._shown!r}, kids={sorted(self._keys)!r})"


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    default = {"https": 443, "http": 80}.get(url.scheme)
    return (url.scheme, url.host, url.port or default)
