"""The in-memory store against the store contract."""

from __future__ import annotations

import pytest

from revocable import MemoryStore
from revocable.stores.base import SessionStore
from tests.stores.contract import DumpBackend, OpenStore, StoreContract


class TestMemoryStore(StoreContract):
    @pytest.fixture(name="open_store")
    def _open_store(self) -> OpenStore:
        shared = MemoryStore()

        async def open_() -> SessionStore:
            return shared

        return open_

    @pytest.fixture(name="dump_backend")
    def _dump_backend(self) -> DumpBackend:
        async def dump(store: SessionStore, user: str) -> bytes:
            assert isinstance(store, MemoryStore)
            return repr((store._sessions, store._by_user)).encode()

        return dump
