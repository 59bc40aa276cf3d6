"""``SessionManager``: the session API, joining the pure core to a store."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from revocable.config import SessionPolicy
from revocable.core import sessions as core
from revocable.core.sessions import SessionRecord, check_user_id
from revocable.core.tokens import TokenRef, is_handle, mint_token, parse_token, route_for
from revocable.errors import MalformedToken
from revocable.events import SecurityEvents
from revocable.stores.base import SessionStore

__all__ = ["IssuedSession", "SessionManager"]

Clock = Callable[[], float]


@dataclass(frozen=True, slots=True)
class IssuedSession:
    """A session just created or rotated: the only time its token exists in memory."""

    token: str = field(repr=False)
    """The cookie value. Hand it to the client; never log or store it."""
    record: SessionRecord

    def __repr__(self) -> str:
        return f"IssuedSession(token='**********', record={self.record!r})"


class SessionManager:
    """Create, validate, rotate, list and revoke server-side sessions.

    ``validate`` costs one store read; it writes only when ``last_seen`` is
    older than the policy's ``touch_interval``. Store failures raise
    ``StoreError`` (fail closed); bad tokens are simply "no session".
    """

    def __init__(
        self,
        store: SessionStore,
        policy: SessionPolicy = SessionPolicy.DEFAULT,
        *,
        clock: Clock = time.time,
        events: SecurityEvents | None = None,
    ) -> None:
        self.store = store
        self.policy = policy
        self.events = events or SecurityEvents()
        """Where session.created/rotated/revoked and sessions.revoked_all events go."""
        self._clock = clock
        self._last_sweep = float("-inf")

    async def create(
        self,
        user_id: str,
        *,
        client_ip: str | None = None,
        user_agent: str | None = None,
        data: Mapping[str, Any] | None = None,
    ) -> IssuedSession:
        """Start a session for a user who has just authenticated."""
        now = self._clock()
        record = core.new_record(
            user_id, self.policy, now, client_ip=client_ip, user_agent=user_agent, data=data
        )
        token, ref = mint_token(route_for(record.user_id))
        await self.store.insert(ref, record)
        self.events.emit(
            "session.created", user_id=record.user_id, session=record.handle, ip=record.client_ip
        )
        if now - self._last_sweep >= self.policy.sweep_interval:
            self._last_sweep = now
            await self.store.sweep(now)
        return IssuedSession(token, record)

    async def validate(self, token: object) -> SessionRecord | None:
        """The live session behind ``token``, or None (unknown, expired, revoked, malformed)."""
        # _lookup, inlined: this runs on every request.
        try:
            ref = parse_token(token)
        except MalformedToken:
            return None
        record = await self.store.get(ref)
        now = self._clock()
        if record is None or not core.is_live(record, now):
            return None
        if not core.needs_touch(record, self.policy, now):
            return record
        return await self._touch(ref, record, now)

    async def touch(self, token: object) -> SessionRecord | None:
        """Record activity now, whatever the throttle says; None if there is no live session."""
        found = await self._lookup(token)
        return None if found is None else await self._touch(*found)

    async def rotate(
        self,
        token: object,
        *,
        reauthenticated: bool = False,
        data: Mapping[str, Any] | None = None,
    ) -> IssuedSession | None:
        """Give the session a new token and kill the old one (fixation defence).

        Use it on privilege changes and re-authentication. None if the session
        is gone; of concurrent rotations of one token, exactly one succeeds.
        """
        found = await self._lookup(token)
        if found is None:
            return None
        old, record, now = found
        fresh = core.rotated(record, self.policy, now, reauthenticated=reauthenticated, data=data)
        new_token, new = mint_token(old.route)
        if not await self.store.replace(old, new, fresh):
            return None
        self.events.emit("session.rotated", user_id=fresh.user_id, session=fresh.handle)
        return IssuedSession(new_token, fresh)

    async def _lookup(self, token: object) -> tuple[TokenRef, SessionRecord, float] | None:
        """The token's reference, its live record and the time of the check; or None."""
        try:
            ref = parse_token(token)
        except MalformedToken:
            return None
        record = await self.store.get(ref)
        now = self._clock()
        if record is None or not core.is_live(record, now):
            return None
        return ref, record, now

    async def _touch(
        self, ref: TokenRef, record: SessionRecord, now: float
    ) -> SessionRecord | None:
        fresh = core.touched(record, self.policy, now)
        return fresh if await self.store.touch(ref, fresh) else None

    async def revoke(self, token: object) -> bool:
        """End the session behind ``token`` (logout); True if there was one."""
        try:
            ref = parse_token(token)
        except MalformedToken:
            return False
        return await self.store.delete(ref)

    async def revoke_handle(self, user_id: str, handle: str) -> bool:
        """End one of ``user_id``'s sessions by its public handle; never another user's."""
        check_user_id(user_id)
        if not is_handle(handle):
            return False
        revoked = await self.store.delete_handle(user_id, handle)
        if revoked:
            self.events.emit("session.revoked", user_id=user_id, session=handle)
        return revoked

    async def revoke_all(self, user_id: str, *, keep_handle: str | None = None) -> int:
        """Log out every device of a user, optionally keeping one session (by handle)."""
        check_user_id(user_id)
        count = await self.store.delete_user(user_id, keep_handle=keep_handle)
        self.events.emit(
            "sessions.revoked_all", user_id=user_id, session=keep_handle, reason=str(count)
        )
        return count

    async def list_sessions(self, user_id: str) -> list[SessionRecord]:
        """A user's live sessions, oldest first, for a "your devices" page."""
        check_user_id(user_id)
        now = self._clock()
        live = [r for r in await self.store.list_user(user_id) if core.is_live(r, now)]
        return sorted(live, key=lambda r: (r.created_at, r.handle))

    async def sweep(self) -> int:
        """Delete expired sessions now (stores with TTLs have nothing to do)."""
        now = self._clock()
        self._last_sweep = now
        return await self.store.sweep(now)

    async def close(self) -> None:
        """Close the store."""
        await self.store.close()
