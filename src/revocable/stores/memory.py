"""An in-process store for tests and demos. Nothing survives the process."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace

from revocable.core.refresh import RefreshFamily, rotated
from revocable.core.sessions import SessionRecord
from revocable.core.tokens import TokenRef
from revocable.core.users import UserRecord, username_key

__all__ = ["MemoryStore"]


class MemoryStore:
    """Dictionaries and a clock. Expired records vanish on access, like TTLs.

    Every method completes without awaiting, so each is atomic under asyncio.
    """

    name = "memory"

    def __init__(self, *, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._sessions: dict[bytes, SessionRecord] = {}
        self._by_user: dict[str, dict[str, bytes]] = {}  # user -> handle -> digest
        self._users: dict[str, UserRecord] = {}
        self._user_ids: dict[str, str] = {}  # username key -> user id
        self._counters: dict[str, tuple[float, int]] = {}  # key -> (window start, hits)
        self._families: dict[str, RefreshFamily] = {}

    def _live(self, digest: bytes) -> SessionRecord | None:
        record = self._sessions.get(digest)
        if record is not None and record.deadline <= self._clock():
            self._drop(digest, record)
            return None
        return record

    def _drop(self, digest: bytes, record: SessionRecord) -> None:
        del self._sessions[digest]
        handles = self._by_user.get(record.user_id, {})
        if handles.get(record.handle) == digest:
            del handles[record.handle]
        if not handles:
            self._by_user.pop(record.user_id, None)

    async def insert(self, ref: TokenRef, record: SessionRecord) -> None:
        self._sessions[ref.digest] = record
        self._by_user.setdefault(record.user_id, {})[record.handle] = ref.digest

    async def get(self, ref: TokenRef) -> SessionRecord | None:
        return self._live(ref.digest)

    async def touch(self, ref: TokenRef, record: SessionRecord) -> bool:
        if self._live(ref.digest) is None:
            return False
        self._sessions[ref.digest] = record
        return True

    async def replace(self, old: TokenRef, new: TokenRef, record: SessionRecord) -> bool:
        current = self._live(old.digest)
        if current is None:
            return False
        self._drop(old.digest, current)
        await self.insert(new, record)
        return True

    async def delete(self, ref: TokenRef) -> bool:
        record = self._sessions.get(ref.digest)
        if record is None:
            return False
        self._drop(ref.digest, record)
        return record.deadline > self._clock()

    async def delete_handle(self, user_id: str, handle: str) -> bool:
        digest = self._by_user.get(user_id, {}).get(handle)
        return digest is not None and await self.delete(TokenRef(digest, ""))

    async def delete_user(self, user_id: str, *, keep_handle: str | None = None) -> int:
        handles = dict(self._by_user.get(user_id, {}))
        revoked = 0
        for handle, digest in handles.items():
            if handle != keep_handle:
                revoked += await self.delete(TokenRef(digest, ""))
        return revoked

    async def list_user(self, user_id: str) -> list[SessionRecord]:
        digests = list(self._by_user.get(user_id, {}).values())
        return [r for r in map(self._live, digests) if r is not None]

    async def sweep(self, now: float) -> int:
        expired = [(d, r) for d, r in self._sessions.items() if r.deadline <= now]
        for digest, record in expired:
            self._drop(digest, record)
        return len(expired)

    async def insert_user(self, user: UserRecord) -> bool:
        if user.key in self._user_ids:
            return False
        self._user_ids[user.key] = user.id
        self._users[user.id] = user
        return True

    async def get_user(self, user_id: str) -> UserRecord | None:
        return self._users.get(user_id)

    async def find_user(self, username: str) -> UserRecord | None:
        user_id = self._user_ids.get(username_key(username))
        return None if user_id is None else self._users.get(user_id)

    async def set_password_hash(self, user_id: str, password_hash: str, changed_at: float) -> bool:
        user = self._users.get(user_id)
        if user is None:
            return False
        self._users[user_id] = replace(
            user, password_hash=password_hash, password_changed_at=changed_at
        )
        return True

    async def set_not_before(self, user_id: str, when: float) -> bool:
        user = self._users.get(user_id)
        if user is None:
            return False
        self._users[user_id] = replace(user, not_before=when)
        return True

    async def hit(self, key: str, window: float, now: float) -> int:
        start = now - now % window
        if len(self._counters) > 10_000:  # drop finished windows now and then
            self._counters = {k: v for k, v in self._counters.items() if v[0] + window > now}
        previous_start, hits = self._counters.get(key, (start, 0))
        hits = hits + 1 if previous_start == start else 1
        self._counters[key] = (start, hits)
        return hits

    async def insert_family(self, family: RefreshFamily) -> None:
        self._families[family.family_id] = family

    async def rotate_family(
        self, family_id: str, expected: bytes, current: bytes, nonce: bytes, now: float
    ) -> tuple[bool, RefreshFamily | None]:
        family = self._families.get(family_id)
        if family is not None and family.expires_at <= self._clock():
            del self._families[family_id]  # gone at its deadline, as under a Redis TTL
            return False, None
        if family is None or family.current != expected or family.expires_at <= now:
            return False, family
        self._families[family_id] = family = rotated(family, current, nonce, now)
        return True, family

    async def delete_family(self, family_id: str) -> bool:
        return self._families.pop(family_id, None) is not None

    async def delete_user_families(self, user_id: str) -> int:
        doomed = [f for f, family in self._families.items() if family.user_id == user_id]
        for family_id in doomed:
            del self._families[family_id]
        return len(doomed)

    async def list_families(self, user_id: str) -> list[RefreshFamily]:
        return [f for f in self._families.values() if f.user_id == user_id]

    async def close(self) -> None:
        self._sessions.clear()
        self._by_user.clear()
