"""Fixtures for web tests: a store of each kind, and apps served by uvicorn on loopback."""

from __future__ import annotations

import asyncio
import secrets
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, cast

import pytest
import uvicorn
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
from tests.servers import free_port
from tests.services import POSTGRES_URL, REDIS_URL, require

Serve = Callable[[Any], Awaitable[str]]
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


@pytest.fixture(name="serve")
async def _serve() -> AsyncIterator[Serve]:
    """Serve an ASGI app with uvicorn on a free loopback port; answers its base URL."""
    running: list[tuple[uvicorn.Server, asyncio.Task[None]]] = []

    async def serve(app: Any) -> str:
        port = free_port()
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=port,
            log_level="warning",
            lifespan="off",
            access_log=False,
            proxy_headers=False,  # as `revocable serve` runs: the app decides whom to trust
        )
        server = uvicorn.Server(config)
        task = asyncio.create_task(server.serve())
        while not server.started:
            if task.done():
                task.result()  # raises what stopped it
            await asyncio.sleep(0.01)
        running.append((server, task))
        return f"http://127.0.0.1:{port}"

    yield serve
    for server, task in running:
        server.should_exit = True
        await task
