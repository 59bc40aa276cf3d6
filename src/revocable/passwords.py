"""Password hashing with argon2id (argon2-cffi), off the event loop.

Hashing is slow on purpose (tens of milliseconds), so every call runs in a
worker thread: the loop keeps serving other requests meanwhile. Unknown users
are "verified" against a dummy hash, so a wrong username and a wrong password
cost the same time and get the same answer.
"""

from __future__ import annotations

import asyncio

from argon2 import PasswordHasher as Argon2Hasher
from argon2 import Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from revocable.core.users import check_password

__all__ = ["PasswordHasher"]


class PasswordHasher:
    """argon2id hashes with argon2-cffi's defaults (RFC 9106 low-memory profile).

    ``for_testing()`` gives a fast, weak hasher: only for test suites.
    """

    def __init__(self, hasher: Argon2Hasher | None = None) -> None:
        self._hasher = hasher or Argon2Hasher(type=Type.ID)
        self._dummy = self._hasher.hash("revocable dummy password, never valid")

    @classmethod
    def for_testing(cls) -> PasswordHasher:
        """Cheap parameters (8 MiB, 1 pass): tests only, never production."""
        return cls(Argon2Hasher(time_cost=1, memory_cost=8192, parallelism=1, type=Type.ID))

    async def hash(self, password: str) -> str:
        """The PHC string of a new hash of ``password`` (checked against the password rules)."""
        return await asyncio.to_thread(self._hasher.hash, check_password(password))

    async def verify(self, password_hash: str | None, password: object) -> bool:
        """Whether ``password`` matches; a None hash (unknown user) costs the same and fails."""
        if not isinstance(password, str) or len(password) > 1024:
            password = ""
        target = password_hash or self._dummy
        matched = await asyncio.to_thread(self._check, target, password)
        return matched and password_hash is not None

    def needs_rehash(self, password_hash: str) -> bool:
        """Whether the hash was made with other parameters than the current ones."""
        try:
            return self._hasher.check_needs_rehash(password_hash)
        except InvalidHashError:
            return True

    def _check(self, password_hash: str, password: str) -> bool:
        try:
            return self._hasher.verify(password_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError, UnicodeEncodeError):
            return False
