"""The Redis store against the store contract, plus what only Redis has."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from redis.asyncio import Redis
from redis.crc import key_slot

from revocable import ConfigurationError, SessionManager, SessionPolicy
from revocable.core.tokens import parse_token
from revocable.refresh import RefreshTokens
from revocable.stores.base import SessionStore
from revocable.stores.redis import RedisStore
from tests.servers import PrivateRedis
from tests.services import REDIS_URL, require
from tests.stores.contract import DumpBackend, OpenStore, StoreContract, dump_redis


class TestRedisStore(StoreContract):
    @pytest.fixture(name="namespace")
    async def _namespace(self) -> AsyncIterator[str]:
        require("redis", REDIS_URL)
        namespace = f"rvtest-{uuid.uuid4().hex[:12]}"
        yield namespace
        client = Redis.from_url(REDIS_URL)
        keys = [key async for key in client.scan_iter(match=f"{namespace}:*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()

    @pytest.fixture(name="open_store")
    def _open_store(self, namespace: str) -> OpenStore:
        async def open_() -> SessionStore:
            store = await RedisStore.open(REDIS_URL)
            store.namespace = namespace
            return store

        return open_

    @pytest.fixture(name="dump_backend")
    def _dump_backend(self, namespace: str) -> DumpBackend:
        async def dump(store: SessionStore, user: str) -> bytes:
            client = Redis.from_url(REDIS_URL)
            try:
                return await dump_redis(client, namespace)
            finally:
                await client.aclose()

        return dump

    @pytest.fixture(name="store")
    async def _store(self, open_store: OpenStore) -> AsyncIterator[RedisStore]:
        store = await open_store()
        assert isinstance(store, RedisStore)
        yield store
        await store.close()

    async def test_all_keys_of_a_user_share_one_cluster_slot(
        self, store: RedisStore, namespace: str
    ) -> None:
        """Every key a user's sessions create hashes to one Redis Cluster slot."""
        manager = SessionManager(store)

        async def keys() -> set[bytes]:
            return {key async for key in store.client.scan_iter(match=f"{namespace}:*")}

        for user in ("alice", "bob", "Zoë {x}", "}{", "a" * 256):
            before = await keys()
            issued = [await manager.create(user) for _ in range(5)]
            await manager.rotate(issued[0].token)
            added = await keys() - before
            assert len(added) == 6  # five sessions and the user's index
            assert len({key_slot(key) for key in added}) == 1, user

    async def test_session_keys_expire_at_their_deadline(self, store: RedisStore) -> None:
        """Redis itself expires a session at its deadline (PXAT), and the index with it."""
        manager = SessionManager(
            store, SessionPolicy(absolute_lifetime=30, idle_timeout=10, touch_interval=1)
        )
        issued = await manager.create("ttl-user")
        key = store._session_key(parse_token(issued.token))
        expire_ms = await store.client.pexpiretime(key)
        assert expire_ms / 1000 == pytest.approx(issued.record.deadline, abs=0.01)
        assert expire_ms / 1000 == pytest.approx(time.time() + 10, abs=2)
        index_ms = await store.client.pexpiretime(store._index_key("ttl-user"))
        assert index_ms / 1000 == pytest.approx(issued.record.expires_at, abs=0.01)

    async def test_validate_is_one_command_and_revoke_all_one_round_trip(
        self, store: RedisStore
    ) -> None:
        """validate sends one GET; revoke-all of 1,000 sessions is one script call."""
        manager = SessionManager(store)
        user = f"bulk-{uuid.uuid4()}"
        issued = [await manager.create(user) for _ in range(1000)]
        commands: list[Any] = []
        original: Any = store.client.execute_command

        async def counted(*args: Any, **kwargs: Any) -> Any:
            commands.append(args[0])
            return await original(*args, **kwargs)

        store.client.execute_command = counted  # type: ignore[method-assign]
        try:
            assert await manager.validate(issued[0].token) is not None
            assert commands == ["GET"]
            commands.clear()
            assert await manager.revoke_all(user) == 1000
        finally:
            store.client.execute_command = original  # type: ignore[method-assign]
        assert commands == ["EVALSHA"]
        assert await store.client.exists(store._index_key(user)) == 0

    async def test_records_written_before_format_1_still_work(self, store: RedisStore) -> None:
        """A session stored as a JSON object (before the array format) validates, is touched
        into the array format, and is revoked with its index entry by the Lua script."""
        manager = SessionManager(store, SessionPolicy(touch_interval=1))
        user = f"old-format-{uuid.uuid4()}"
        issued, kept = await manager.create(user), await manager.create(user)
        record = issued.record
        key = store._session_key(parse_token(issued.token))
        old = json.dumps(
            {
                "h": record.handle,
                "u": record.user_id,
                "c": record.created_at,
                "l": record.last_seen,
                "a": record.authenticated_at,
                "e": record.expires_at,
                "i": record.idle_expires_at,
                "ip": record.client_ip,
                "ua": record.user_agent,
                "d": {},
            }
        )
        await store.client.set(key, old, keepttl=True)
        assert await manager.validate(issued.token) == record
        assert await manager.revoke(issued.token) is True
        assert await store.client.exists(key) == 0
        assert await store.client.hkeys(store._index_key(user)) == [kept.record.handle.encode()]

        await store.client.set(key, old, pxat=int(record.deadline * 1000))
        touched = await manager.touch(issued.token)
        assert touched is not None
        stored: Any = await store.client.get(key)
        assert stored.startswith(b"[1,")

    async def test_refresh_rotation_is_one_command(self, store: RedisStore) -> None:
        """Rotating a current refresh token sends one EVALSHA; so does a grace replay."""
        refresh = RefreshTokens(store, b"r" * 32)
        user = f"refresh-{uuid.uuid4()}"
        first = await refresh.rotate((await refresh.issue(user)).token)  # scripts loaded
        commands: list[Any] = []
        original: Any = store.client.execute_command

        async def counted(*args: Any, **kwargs: Any) -> Any:
            commands.append(args[0])
            return await original(*args, **kwargs)

        store.client.execute_command = counted  # type: ignore[method-assign]
        try:
            second = await refresh.rotate(first.token)
            assert commands == ["EVALSHA"]
            commands.clear()
            assert (await refresh.rotate(first.token)).token == second.token
            assert commands == ["EVALSHA"]
        finally:
            store.client.execute_command = original  # type: ignore[method-assign]

    async def test_require_durable_refuses_a_server_without_aof(self) -> None:
        """require_durable refuses a Redis that would lose revocations on a crash."""
        require("redis", REDIS_URL)
        client = Redis.from_url(REDIS_URL)
        config = await client.config_get("append*")
        await client.aclose()
        if config.get("appendfsync") == "always" and config.get("appendonly") == "yes":
            pytest.skip("this Redis is already durable")
        with pytest.raises(ConfigurationError, match="appendfsync always"):
            await RedisStore.open(REDIS_URL, require_durable=True)


async def test_a_redis_that_evicts_keys_is_refused(redis_server: PrivateRedis) -> None:
    """A server whose maxmemory-policy can evict the session index or a refresh family (whose
    loss would fail reuse detection open) is refused unless allowed."""
    client = Redis.from_url(redis_server.url)
    await client.config_set("maxmemory-policy", "allkeys-lru")
    await client.aclose()
    with pytest.raises(ConfigurationError, match="noeviction") as refused:
        await RedisStore.open(redis_server.url)
    assert "refresh family would defeat reuse detection" in str(refused.value)
    store = await RedisStore.open(redis_server.url, allow_eviction=True)
    await store.close()
