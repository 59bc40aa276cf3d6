"""``open_store(url)``: one entry point for every backend.

=========================================  ======================================
``sqlite:///relative/path.db``             SQLite file (``sqlite:////abs/path.db``)
``redis://host:6379/0``, ``rediss://…``     Redis (needs ``revocable[redis]``)
``redis+cluster://host:7000``               Redis Cluster, through any node
``postgresql://user@host:5432/db``          PostgreSQL (needs ``revocable[postgres]``)
``memory://``                              in-process, for tests and demos
=========================================  ======================================
"""

from __future__ import annotations

from urllib.parse import urlsplit

from revocable.errors import InvalidStoreURL
from revocable.stores.base import DEFAULT_TIMEOUT, Store

__all__ = ["open_store", "sqlite_path"]

_SCHEMES = "sqlite, redis, rediss, redis+cluster, postgresql, postgres, memory"
_REDIS = ("redis", "rediss", "redis+cluster", "rediss+cluster")


def sqlite_path(url: str) -> str:
    """The file path in an ``sqlite:///…`` URL (three slashes: relative; four: absolute)."""
    if not url.startswith("sqlite:///") or len(url) == len("sqlite:///"):
        raise InvalidStoreURL(url, "write sqlite:///relative.db or sqlite:////absolute/path.db")
    path = url[len("sqlite:///") :]
    if "?" in path or "#" in path or "\x00" in path:
        raise InvalidStoreURL(url, "an SQLite URL takes a plain file path, no query or fragment")
    return path


async def open_store(url: str, *, timeout: float = DEFAULT_TIMEOUT) -> Store:
    """Open the store a URL names; ``InvalidStoreURL`` when it names none."""
    if not isinstance(url, str) or "://" not in url:
        raise InvalidStoreURL(str(url), f"expected scheme://…, with a scheme among {_SCHEMES}")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (parsing the port validates it)
    except ValueError:
        # The parser's message can quote part of a password: give our own.
        raise InvalidStoreURL(url, "the host or port is malformed") from None
    scheme = parts.scheme.lower()
    if scheme == "sqlite":
        from revocable.stores.sqlite import SQLiteStore

        return await SQLiteStore.open(sqlite_path(url), timeout=timeout)
    if scheme == "memory":
        from revocable.stores.memory import MemoryStore

        return MemoryStore()
    if scheme in _REDIS:
        if not parts.hostname:
            raise InvalidStoreURL(url, "a Redis URL needs a host: redis://127.0.0.1:6379/0")
        path = parts.path.strip("/")
        if path and not path.isdigit():
            raise InvalidStoreURL(url, "the path of a Redis URL is a database number")
        from revocable.stores.redis import RedisStore

        return await RedisStore.open(url, timeout=timeout)
    if scheme in ("postgresql", "postgres"):
        if not parts.hostname and "host=" not in parts.query:
            raise InvalidStoreURL(url, "a PostgreSQL URL needs a host: postgresql://user@host/db")
        from revocable.stores.postgres import PostgresStore

        return await PostgresStore.open(url, timeout=timeout)
    raise InvalidStoreURL(url, f"unknown scheme {scheme!r}; expected one of {_SCHEMES}")
