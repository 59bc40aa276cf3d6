"""A store wrapper that counts calls, to check what the manager asks of a store."""

from __future__ import annotations

from collections import Counter
from typing import Any

from revocable.stores.base import SessionStore

READS = frozenset({"get", "list_user"})


class CountingStore:
    """Delegates to a real store and counts each method called."""

    def __init__(self, inner: SessionStore) -> None:
        self.inner = inner
        self.name = inner.name
        self.calls: Counter[str] = Counter()

    @property
    def writes(self) -> int:
        return sum(n for op, n in self.calls.items() if op not in READS and op != "close")

    def __getattr__(self, op: str) -> Any:
        method = getattr(self.inner, op)

        async def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls[op] += 1
            return await method(*args, **kwargs)

        return counted
