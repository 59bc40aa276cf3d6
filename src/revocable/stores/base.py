"""The contract every session store implements.

A store is thin: it keeps records and applies changes atomically. Every
decision (is this session live, does it need a write, what does rotation
produce) is made by ``revocable.core`` before the store is called.

Stores never see a token, only a ``TokenRef`` (its SHA-256 digest and the
user's routing tag). Any failure to reach or hear from the backend within the
store's timeout raises ``StoreUnavailable``; nothing is ever answered from a
guess.
"""

from __future__ import annotations

from typing import Protocol

from revocable.core.refresh import RefreshFamily
from revocable.core.sessions import SessionRecord
from revocable.core.tokens import TokenRef
from revocable.core.users import UserRecord

__all__ = [
    "DEFAULT_TIMEOUT",
    "CounterStore",
    "RefreshStore",
    "SessionStore",
    "Store",
    "UserStore",
]

DEFAULT_TIMEOUT = 1.0
"""Seconds any store operation may take before it raises ``StoreUnavailable``."""


class SessionStore(Protocol):
    """Keeps session records keyed by token digest, indexed by user."""

    name: str
    """Short backend name (``memory``, ``sqlite``, ``redis``, ``postgresql``)."""

    async def insert(self, ref: TokenRef, record: SessionRecord) -> None:
        """Store a new session; it is listed under its user from the moment this returns."""

    async def get(self, ref: TokenRef) -> SessionRecord | None:
        """The record under ``ref``, or None. It may be past its deadline: callers check."""

    async def touch(self, ref: TokenRef, record: SessionRecord) -> bool:
        """Write back ``last_seen`` and the idle deadline, only if the session still exists.

        Never recreates a session that was revoked meanwhile; False then.
        """

    async def replace(self, old: TokenRef, new: TokenRef, record: SessionRecord) -> bool:
        """Atomically retire ``old`` and keep ``record`` under ``new`` (rotation).

        False, and no change, if ``old`` no longer exists: of two concurrent
        rotations of one token, exactly one succeeds.
        """

    async def delete(self, ref: TokenRef) -> bool:
        """Revoke one session; True if it existed."""

    async def delete_handle(self, user_id: str, handle: str) -> bool:
        """Revoke the session of ``user_id`` with this public handle; True if it existed."""

    async def delete_user(self, user_id: str, *, keep_handle: str | None = None) -> int:
        """Revoke every session of a user but ``keep_handle``, in one atomic step.

        A session whose insert returned before this call began is gone when it
        returns. Answers how many sessions were revoked.
        """

    async def list_user(self, user_id: str) -> list[SessionRecord]:
        """Every stored session of a user (callers drop the expired ones)."""

    async def sweep(self, now: float) -> int:
        """Delete sessions whose deadline has passed; answers how many."""

    async def close(self) -> None:
        """Release connections and threads."""


class UserStore(Protocol):
    """Users of the built-in accounts (the reference server's register and login).

    Applications with their own user database keep it: the session layer only
    ever needs a user id.
    """

    async def insert_user(self, user: UserRecord) -> bool:
        """Add a user; False, and no change, if the username (by ``UserRecord.key``) is taken."""

    async def get_user(self, user_id: str) -> UserRecord | None:
        """The user with this id, or None."""

    async def find_user(self, username: str) -> UserRecord | None:
        """The user with this username (compared by ``username_key``), or None."""

    async def set_password_hash(self, user_id: str, password_hash: str, changed_at: float) -> bool:
        """Replace a user's password hash; False if there is no such user."""

    async def set_not_before(self, user_id: str, when: float) -> bool:
        """Revoke the user's access tokens issued before ``when``; False if no such user."""


class CounterStore(Protocol):
    """Fixed-window counters, for rate limits kept where the sessions are."""

    async def hit(self, key: str, window: float, now: float) -> int:
        """Count one hit on ``key`` in the window of ``window`` seconds holding ``now``.

        Answers the hits so far in that window, this one included. Atomic:
        concurrent hits are all counted. ``key`` is a digest, safe in any store.
        """


class RefreshStore(Protocol):
    """Refresh-token families, by id and by user. Digests only, never a secret."""

    async def insert_family(self, family: RefreshFamily) -> None:
        """Keep a new family; it is listed under its user from the moment this returns."""

    async def rotate_family(
        self, family_id: str, expected: bytes, current: bytes, nonce: bytes, now: float
    ) -> tuple[bool, RefreshFamily | None]:
        """Rotate the family if it is live at ``now`` and its current digest is ``expected``.

        Rotating writes what ``core.refresh.rotated`` computes: ``previous`` takes
        the old current, then ``current``, ``nonce``, ``rotated_at=now`` and the
        next generation; the expiry is untouched. Answers ``(True, the rotated
        family)``. Otherwise nothing changes and the answer is ``(False, the
        family as stored)``, expired or not, or ``(False, None)`` if there is none,
        so the caller can decide between replay, reuse and expiry without
        another read. Atomic: of concurrent rotations of one secret exactly one
        answers True. The family read back on False may predate a rotation that
        raced this call (SQL snapshots): callers that see it still current retry.
        """

    async def delete_family(self, family_id: str) -> bool:
        """Delete one family; True if it existed."""

    async def delete_user_families(self, user_id: str) -> int:
        """Delete every family of a user in one atomic step; answers how many."""

    async def list_families(self, user_id: str) -> list[RefreshFamily]:
        """Every stored family of a user (callers drop the expired ones)."""


class Store(SessionStore, UserStore, CounterStore, RefreshStore, Protocol):
    """What every built-in backend is: sessions, users, counters and refresh families."""
