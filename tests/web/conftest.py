"""Fixtures for web tests: a store of each kind, and apps served by uvicorn on loopback."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, cast

import pytest
from redis.asyncio import Redis

from revocable.keys import KeyRing, SigningKey
from revocable.passwords import PasswordHasher
from revocable.refresh import RefreshPolicy
from revocable.server.app import create_app
from revocable.stores.base import SessionStore, Store
from revocable.stores.memory import MemoryStore
from revocable.stores.postgres import PostgresStore
from revocable.stores.redis import RedisStore
from revocable.stores.sqlite import SQLiteStore
from tests.services import POSTGRES_URL, REDIS_URL, require

PASSWORD = "correct horse battery"


def token_app(store: SessionStore, **options: Any) -> Any:
    """The reference app with access and refresh tokens on, fast hashing, no login limit."""
    settings: dict[str, Any] = {
        "hasher": PasswordHasher.for_testing(),
        "login_limit": None,
        "signing_keys": KeyRing([SigningKey.generate()]),
        "refresh_key": secrets.token_bytes(32),
        "refresh_policy": RefreshPolicy(grace=0.3),
        **options,
    }
    return create_app(cast(Store, store), [secrets.token_bytes(32)], **settings)


@pytest.fixture(name="store", params=["memory", "sqlite", "redis", "postgresql"])
async def _store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[SessionStore]:
    """A connected store of each kind (Redis under a throwaway namespace)."""
    kind = request.param
    store: SessionStore
    if kind == "memory":
        store = MemoryStore()
    elif kind == "sqlite":
        store = await SQLiteStore.open(tmp_path / "web.db")
    elif kind == "redis":
        redis_store = await RedisStore.open(require("redis", REDIS_URL))
        redis_store.namespace = f"rvweb-{uuid.uuid4().hex[:12]}"
        store = redis_store
    else:
        pg_store = await PostgresStore.open(require("postgresql", POSTGRES_URL), pool_size=4)
        # Counters are shared by every test on this database: start each test from zero.
        await pg_store._execute("DELETE FROM revocable_counters")
        store = pg_store
    yield store
    if isinstance(store, RedisStore):
        client = Redis.from_url(REDIS_URL)
        keys = [k async for k in client.scan_iter(match=f"{store.namespace}:*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()
    await store.close()
