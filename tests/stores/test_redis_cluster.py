"""The Redis store on a real three-node Redis Cluster, started for this module.

Proves the key layout: every multi-key script touches one user's keys only,
and those share a hash slot, so each runs on one node without CROSSSLOT errors.
"""

from __future__ import annotations

import os
import random
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from redis.asyncio.cluster import RedisCluster

from revocable import SessionManager, open_store
from revocable.stores.base import SessionStore
from revocable.stores.redis import RedisStore
from tests.stores.contract import DumpBackend, OpenStore, StoreContract, dump_redis


def _free_port() -> int:
    """A free port whose cluster bus port (10,000 higher) is free too."""
    while True:
        port = random.randrange(20000, 30000)
        try:
            with socket.socket() as a, socket.socket() as b:
                a.bind(("127.0.0.1", port))
                b.bind(("127.0.0.1", port + 10000))
        except OSError:
            continue
        return port


def _start_cluster(workdir: Path, nodes: list[subprocess.Popen[bytes]]) -> int:
    """Start three cluster nodes (appended to ``nodes``) and join them; a port of one."""
    ports = [_free_port() for _ in range(3)]
    for port in ports:
        nodes.append(
            subprocess.Popen(
                [
                    "redis-server",
                    "--port",
                    str(port),
                    "--bind",
                    "127.0.0.1",
                    "--cluster-enabled",
                    "yes",
                    "--cluster-config-file",
                    f"nodes-{port}.conf",
                    "--dir",
                    str(workdir),
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
    for port in ports:
        _wait(lambda p=port: _cli(p, "ping") == "PONG")
    subprocess.run(
        [
            "redis-cli",
            "--cluster",
            "create",
            *(f"127.0.0.1:{p}" for p in ports),
            "--cluster-replicas",
            "0",
            "--cluster-yes",
        ],
        check=True,
        capture_output=True,
        timeout=30,
    )
    for port in ports:
        _wait(lambda p=port: "cluster_state:ok" in _cli(p, "cluster", "info"))
    return ports[0]


def _cli(port: int, *args: str) -> str:
    out = subprocess.run(
        ["redis-cli", "-p", str(port), *args], capture_output=True, text=True, timeout=5
    )
    return out.stdout.strip()


def _wait(ready: object, seconds: float = 15.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if callable(ready) and ready():
            return
        time.sleep(0.1)
    raise TimeoutError("the Redis Cluster did not come up")


@pytest.fixture(name="cluster_port", scope="module")
def _cluster_port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    if not (shutil.which("redis-server") and shutil.which("redis-cli")):
        message = "redis-server and redis-cli are needed to start a local Redis Cluster"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    nodes: list[subprocess.Popen[bytes]] = []
    try:
        yield _start_cluster(tmp_path_factory.mktemp("redis-cluster"), nodes)
    finally:
        for node in nodes:
            node.kill()
            node.wait()


class TestRedisClusterStore(StoreContract):
    @pytest.fixture(name="namespace")
    def _namespace(self) -> str:
        return f"rvtest-{uuid.uuid4().hex[:12]}"

    @pytest.fixture(name="open_store")
    def _open_store(self, cluster_port: int, namespace: str) -> OpenStore:
        async def open_() -> SessionStore:
            store = await open_store(f"redis+cluster://127.0.0.1:{cluster_port}")
            assert isinstance(store, RedisStore)
            assert isinstance(store.client, RedisCluster)
            store.namespace = namespace
            return store

        return open_

    @pytest.fixture(name="dump_backend")
    def _dump_backend(self, namespace: str) -> DumpBackend:
        async def dump(store: SessionStore, user: str) -> bytes:
            assert isinstance(store, RedisStore)
            return await dump_redis(store.client, namespace)

        return dump

    @pytest.fixture(name="store")
    async def _store(self, open_store: OpenStore) -> AsyncIterator[SessionStore]:
        store = await open_store()
        yield store
        await store.close()

    async def test_users_spread_over_the_cluster_nodes(self, store: SessionStore) -> None:
        """Different users land on different nodes: the hash tag is per user, not global."""
        assert isinstance(store, RedisStore)
        manager = SessionManager(store)
        users = [f"spread-{i}" for i in range(30)]
        for user in users:
            await manager.create(user)
        client = store.client
        assert isinstance(client, RedisCluster)
        nodes = {str(client.get_node_from_key(store._index_key(u))) for u in users}
        assert len(nodes) == 3
        for user in users:
            assert await manager.revoke_all(user) == 1
