"""The PostgreSQL store against the store contract, plus what only PostgreSQL has."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest

from revocable import SessionManager
from revocable.refresh import RefreshTokens
from revocable.stores.base import SessionStore
from revocable.stores.postgres import PostgresStore
from revocable.stores.sql import SCHEMA_VERSION
from tests.services import POSTGRES_URL, require
from tests.stores.contract import DumpBackend, OpenStore, StoreContract


class TestPostgresStore(StoreContract):
    @pytest.fixture(name="open_store")
    def _open_store(self) -> OpenStore:
        url = require("postgresql", POSTGRES_URL)

        async def open_() -> SessionStore:
            return await PostgresStore.open(url, pool_size=4)

        return open_

    @pytest.fixture(name="dump_backend")
    def _dump_backend(self) -> DumpBackend:
        async def dump(store: SessionStore, user: str) -> bytes:
            conn = await asyncpg.connect(POSTGRES_URL)
            try:
                rows = await conn.fetch("SELECT * FROM revocable_sessions WHERE user_id = $1", user)
            finally:
                await conn.close()
            values = [v for row in rows for v in row.values()]
            return repr(values).encode() + b"".join(v for v in values if isinstance(v, bytes))

        return dump

    @pytest.fixture(name="store")
    async def _store(self, open_store: OpenStore) -> AsyncIterator[PostgresStore]:
        store = await open_store()
        assert isinstance(store, PostgresStore)
        yield store
        await store.close()

    async def test_migration_is_idempotent_and_versioned(self, store: PostgresStore) -> None:
        """Opening many stores at once migrates safely; the schema version is recorded."""
        others = [await PostgresStore.open(POSTGRES_URL, pool_size=1) for _ in range(3)]
        for other in others:
            await other.close()
        conn = await asyncpg.connect(POSTGRES_URL)
        try:
            value = await conn.fetchval(
                "SELECT value FROM revocable_meta WHERE key = 'schema_version'"
            )
        finally:
            await conn.close()
        assert value == str(SCHEMA_VERSION)

    async def test_revoke_all_is_one_statement(self) -> None:
        """Revoke-all of many sessions sends a single SQL statement to the server."""
        statements: list[str] = []

        async def log_queries(conn: Any) -> None:
            conn.add_query_logger(lambda record: statements.append(record.query))

        store = await PostgresStore.open(POSTGRES_URL, pool_size=1, init=log_queries)
        try:
            manager = SessionManager(store)
            user = f"bulk-{uuid.uuid4()}"
            for _ in range(50):
                await manager.create(user)
            statements.clear()
            assert await manager.revoke_all(user) == 50
        finally:
            await store.close()
        assert len(statements) == 1, statements
        assert statements[0].startswith("DELETE")

    async def test_refresh_rotation_is_one_statement(self) -> None:
        """Rotating a refresh token sends one SQL statement, and so does a refused rotation
        (here a grace replay), which reads the family in the same statement."""
        statements: list[str] = []

        async def log_queries(conn: Any) -> None:
            conn.add_query_logger(lambda record: statements.append(record.query))

        store = await PostgresStore.open(POSTGRES_URL, pool_size=1, init=log_queries)
        try:
            refresh = RefreshTokens(store, b"r" * 32)
            first = await refresh.issue(f"refresh-{uuid.uuid4()}")
            statements.clear()
            second = await refresh.rotate(first.token)
            assert len(statements) == 1, statements
            assert (await refresh.rotate(first.token)).token == second.token
            assert len(statements) == 2, statements
            await refresh.revoke(second.token)
        finally:
            await store.close()
