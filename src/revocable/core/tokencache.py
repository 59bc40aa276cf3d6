"""A bounded cache of verified tokens, keyed by a digest of the token: pure logic, no I/O.

An Ed25519 verify costs about as much CPU as a store round trip, and a client
sends the same access token on every request until it expires. Remembering
that these exact bytes already passed the signature and claim checks saves that
work; whatever depends on the moment (expiry, "not before", revocation, whether
the key is still in the ring) stays the caller's check on every call.

The cache holds a SHA-256 of each token, never the token: a heap dump or a
debugger shows nothing a client could replay. Only values the caller ``put``
after a successful verification are held, so refused tokens neither grow it nor
evict good entries. Least recently used entries go first once it is full.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from typing import Generic, TypeVar

from revocable.errors import ConfigurationError

__all__ = ["DEFAULT_CACHE_SIZE", "VerifiedCache", "token_digest"]

DEFAULT_CACHE_SIZE = 10_000

V = TypeVar("V")


def token_digest(token: str) -> bytes:
    """The cache key of ``token``: its SHA-256 (the caller bounds the length first)."""
    # surrogatepass: any str encodes, and distinct strs give distinct bytes.
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()


class VerifiedCache(Generic[V]):
    """At most ``maxsize`` values by token digest, each until its ``valid_until``; 0 disables."""

    def __init__(self, maxsize: int = DEFAULT_CACHE_SIZE) -> None:
        if isinstance(maxsize, bool) or not isinstance(maxsize, int) or maxsize < 0:
            raise ConfigurationError(
                "maxsize must be a whole number of entries, 0 to disable the cache"
            )
        self.maxsize = maxsize
        self._entries: OrderedDict[bytes, tuple[float, V]] = OrderedDict()
        # verify() is synchronous and may be called from worker threads (sync adapters).
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self.maxsize > 0

    def get(self, digest: bytes, now: float) -> V | None:
        """The value put for ``digest`` if it is still valid at ``now``; a stale one is dropped."""
        with self._lock:
            entry = self._entries.get(digest)
            if entry is None:
                return None
            if now >= entry[0]:
                del self._entries[digest]
                return None
            self._entries.move_to_end(digest)
            return entry[1]

    def put(self, digest: bytes, value: V, valid_until: float) -> None:
        """Remember ``value`` until ``valid_until``, evicting the least recently used if full."""
        if not self.enabled:
            return
        with self._lock:
            self._entries[digest] = (valid_until, value)
            self._entries.move_to_end(digest)
            while len(self._entries) > self.maxsize:
                self._entries.popitem(last=False)

    def discard(self, digest: bytes) -> None:
        """Forget ``digest`` (its key left the ring, or the policy changed)."""
        with self._lock:
            self._entries.pop(digest, None)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)
