"""The SQLite store against the store contract, plus what only SQLite has."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from revocable import SessionManager
from revocable.refresh import RefreshTokens
from revocable.stores.base import SessionStore
from revocable.stores.sql import SCHEMA_VERSION
from revocable.stores.sqlite import SQLiteStore
from tests.stores.contract import DumpBackend, OpenStore, StoreContract


class TestSQLiteStore(StoreContract):
    @pytest.fixture(name="db_path")
    def _db_path(self, tmp_path: Path) -> Path:
        return tmp_path / "sessions.db"

    @pytest.fixture(name="open_store")
    def _open_store(self, db_path: Path) -> OpenStore:
        async def open_() -> SessionStore:
            return await SQLiteStore.open(db_path)

        return open_

    @pytest.fixture(name="dump_backend")
    def _dump_backend(self, db_path: Path) -> DumpBackend:
        async def dump(store: SessionStore, user: str) -> bytes:
            with sqlite3.connect(db_path) as conn:
                rows = conn.execute("SELECT * FROM revocable_sessions").fetchall()
            conn.close()
            return repr(rows).encode() + b"".join(
                v for row in rows for v in row if isinstance(v, bytes)
            )

        return dump

    @pytest.fixture(name="store")
    async def _store(self, open_store: OpenStore) -> AsyncIterator[SQLiteStore]:
        store = await open_store()
        assert isinstance(store, SQLiteStore)
        yield store
        await store.close()

    async def test_database_is_wal_and_schema_versioned(
        self, store: SQLiteStore, db_path: Path
    ) -> None:
        """The file is in WAL mode and records its schema version; reopening migrates nothing."""
        with sqlite3.connect(db_path) as conn:
            assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
            version = conn.execute(
                "SELECT value FROM revocable_meta WHERE key = 'schema_version'"
            ).fetchone()
        conn.close()
        assert version == (str(SCHEMA_VERSION),)
        again = await SQLiteStore.open(db_path)
        await again.close()

    async def test_revoke_all_is_one_statement(self, store: SQLiteStore) -> None:
        """Revoke-all of many sessions runs a single SQL statement."""
        manager = SessionManager(store)
        for _ in range(50):
            await manager.create("bulk-user")
        statements: list[str] = []
        await store._writer.set_trace_callback(statements.append)
        assert await manager.revoke_all("bulk-user") == 50
        await store._writer.set_trace_callback(None)  # type: ignore[arg-type]
        assert len(statements) == 1
        assert statements[0].startswith("DELETE")

    async def test_reads_do_not_leave_the_event_loop_thread(self, store: SQLiteStore) -> None:
        """Validation reads on the direct connection; the writer thread is not used."""
        manager = SessionManager(store)
        issued = await manager.create("reader")
        statements: list[str] = []
        await store._writer.set_trace_callback(statements.append)
        for _ in range(10):
            assert await manager.validate(issued.token) is not None
        await store._writer.set_trace_callback(None)  # type: ignore[arg-type]
        assert statements == []

    async def test_refresh_rotation_is_one_statement(self, store: SQLiteStore) -> None:
        """Rotating a refresh token is one statement on the writer; a refused rotation (here
        a grace replay) reads the family on the event loop thread, not the writer."""
        refresh = RefreshTokens(store, b"r" * 32)
        first = await refresh.issue("refresh-user")
        statements: list[str] = []
        await store._writer.set_trace_callback(statements.append)
        second = await refresh.rotate(first.token)
        assert len(statements) == 1
        assert statements[0].startswith("UPDATE")
        assert (await refresh.rotate(first.token)).token == second.token
        await store._writer.set_trace_callback(None)  # type: ignore[arg-type]
        assert len(statements) == 2
