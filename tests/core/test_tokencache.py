"""The verified-token cache: digests for keys, expiry at ``now``, a size bound, LRU order."""

from __future__ import annotations

import hashlib

import pytest

from revocable import ConfigurationError
from revocable.core.tokencache import VerifiedCache, token_digest


def test_keys_are_sha256_digests_never_the_token() -> None:
    """The key of a token is its 32-byte SHA-256; any str digests, even lone surrogates."""
    assert token_digest("a.b.c") == hashlib.sha256(b"a.b.c").digest()
    assert len(token_digest("\ud800" * 10)) == 32
    assert token_digest("a.b.c") != token_digest("a.b.d")


def test_a_value_is_held_until_valid_until() -> None:
    """A value answers before its valid_until and is dropped at it."""
    cache: VerifiedCache[str] = VerifiedCache(4)
    cache.put(b"k", "v", valid_until=100.0)
    assert cache.get(b"k", now=99.9) == "v"
    assert cache.get(b"k", now=100.0) is None
    assert len(cache) == 0
    assert cache.get(b"other", now=0.0) is None


def test_the_size_bound_evicts_the_least_recently_used() -> None:
    """Past maxsize the entry unused longest goes first; a get counts as a use."""
    cache: VerifiedCache[int] = VerifiedCache(2)
    cache.put(b"a", 1, 100.0)
    cache.put(b"b", 2, 100.0)
    assert cache.get(b"a", 0.0) == 1
    cache.put(b"c", 3, 100.0)
    assert len(cache) == 2
    assert cache.get(b"b", 0.0) is None
    assert (cache.get(b"a", 0.0), cache.get(b"c", 0.0)) == (1, 3)


def test_zero_disables_and_bad_sizes_are_refused() -> None:
    """maxsize 0 holds nothing; a negative, fractional or boolean size is a configuration error."""
    cache: VerifiedCache[int] = VerifiedCache(0)
    assert not cache.enabled
    cache.put(b"a", 1, 100.0)
    assert len(cache) == 0
    for bad in (-1, 1.5, True):
        with pytest.raises(ConfigurationError):
            VerifiedCache(bad)  # type: ignore[arg-type]


def test_discard_and_clear() -> None:
    """discard forgets one digest (absent ones too); clear forgets all."""
    cache: VerifiedCache[int] = VerifiedCache(4)
    cache.put(b"a", 1, 100.0)
    cache.put(b"b", 2, 100.0)
    cache.discard(b"a")
    cache.discard(b"missing")
    assert cache.get(b"a", 0.0) is None
    cache.clear()
    assert len(cache) == 0
