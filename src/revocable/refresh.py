"""``RefreshTokens``: issue, rotate and revoke refresh-token families over a store.

Rotation is one store round trip in the common case: the successor is
computed first (``core.refresh.speculate``) and the store swaps it in
atomically if the presented secret is still the family's current one. Only
when it does not (a replay, reuse, expiry) does ``core.refresh.decide`` look
at the family the store answered with. Reuse outside the grace window deletes
the family and emits ``refresh.reuse`` with the kind of reuse seen; every
refusal raises ``InvalidRefreshToken`` with a machine ``reason``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from revocable.core.refresh import (
    Expired,
    Kill,
    RefreshFamily,
    Replay,
    Rotate,
    decide,
    family_handle,
    new_family,
    parse_refresh_token,
    speculate,
)
from revocable.core.sessions import check_user_id
from revocable.errors import ConfigurationError, RevocableError
from revocable.events import SecurityEvents
from revocable.stores.base import RefreshStore

__all__ = ["InvalidRefreshToken", "IssuedRefresh", "RefreshPolicy", "RefreshTokens"]


class InvalidRefreshToken(RevocableError):
    """A refresh token that must not be honoured; ``reason``: malformed, expired, reuse."""

    code = "invalid_refresh_token"

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason


@dataclass(frozen=True, slots=True)
class RefreshPolicy:
    """Family lifetime (default 30 days) and the grace window for racing refreshes."""

    family_lifetime: float = 30 * 86400.0
    grace: float = 5.0

    def __post_init__(self) -> None:
        if not 0 < self.family_lifetime <= 400 * 86400:
            raise ConfigurationError("family_lifetime must be between 0 and 400 days")
        if not 0 <= self.grace <= 60:
            raise ConfigurationError("grace must be between 0 and 60 seconds")


@dataclass(frozen=True, slots=True)
class IssuedRefresh:
    """A refresh token just issued or rotated (the only time it exists) and its family."""

    token: str = field(repr=False)
    family: RefreshFamily


class RefreshTokens:
    """Refresh families for one store, with the server's successor key."""

    def __init__(
        self,
        store: RefreshStore,
        key: bytes,
        policy: RefreshPolicy = RefreshPolicy(),
        *,
        events: SecurityEvents | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if len(key) < 32:
            raise ConfigurationError("the refresh key needs at least 32 random bytes")
        self.store = store
        self.policy = policy
        self.events = events or SecurityEvents()
        self._key = key
        self._clock = clock

    async def issue(self, user_id: str) -> IssuedRefresh:
        """Start a family for a fresh login."""
        family, token = new_family(
            check_user_id(user_id), self._clock(), self.policy.family_lifetime
        )
        await self.store.insert_family(family)
        return IssuedRefresh(token, family)

    async def rotate(self, token: object) -> IssuedRefresh:
        """Use a refresh token: its successor, or ``InvalidRefreshToken`` (reuse kills)."""
        parsed = parse_refresh_token(token)
        if parsed is None:
            raise InvalidRefreshToken("malformed", "not a refresh token")
        family_id, secret = parsed
        spec = speculate(family_id, secret, key=self._key)
        for _ in range(3):
            now = self._clock()
            swapped, family = await self.store.rotate_family(
                family_id, spec.expected, spec.current, spec.nonce, now
            )
            if swapped and family is not None:
                return IssuedRefresh(spec.token, family)
            # Judge the grace window from after the store answered: a rotation that won
            # the race while this call was in flight then lies in the past, never ahead
            # (with no grace, a racing loser is reuse, not a replay).
            now = self._clock()
            decision = decide(
                family, family_id, secret, now, key=self._key, grace=self.policy.grace
            )
            if isinstance(decision, Rotate):
                # The store read the family from before a racing rotation (an SQL
                # snapshot): ask again. The unused speculation was never stored, so
                # its successor can still be the one handed out.
                continue
            if isinstance(decision, Replay):
                return IssuedRefresh(decision.token, decision.family)
            if isinstance(decision, Expired):
                await self.store.delete_family(family_id)
                raise InvalidRefreshToken("expired", "the refresh token's family has expired")
            return await self._kill(decision)
        raise InvalidRefreshToken("reuse", "the refresh token was used concurrently")

    async def _kill(self, decision: Kill) -> IssuedRefresh:
        await self.store.delete_family(decision.family_id)
        self.events.emit(
            "refresh.reuse",
            user_id=decision.user_id,
            session=family_handle(decision.family_id),  # the public name: no token half in logs
            reason=decision.kind,
        )
        raise InvalidRefreshToken("reuse", f"refresh token reuse ({decision.kind}); family revoked")

    async def revoke(self, token_or_family: str) -> bool:
        """Revoke one family, by a token of it or by its id (server-side callers)."""
        parsed = parse_refresh_token(token_or_family)
        return await self.store.delete_family(parsed[0] if parsed else token_or_family)

    async def revoke_token(self, token: object) -> bool:
        """Revoke the family of a presented refresh token (RFC 7009); False, and nothing
        revoked, for anything that is not a well-formed refresh token."""
        parsed = parse_refresh_token(token)
        return parsed is not None and await self.store.delete_family(parsed[0])

    async def revoke_user(self, user_id: str) -> int:
        """Revoke every family of a user (log out all devices)."""
        return await self.store.delete_user_families(check_user_id(user_id))

    async def list_families(self, user_id: str) -> list[RefreshFamily]:
        """A user's live families, oldest first."""
        now = self._clock()
        live = [f for f in await self.store.list_families(user_id) if f.expires_at > now]
        return sorted(live, key=lambda f: f.created_at)
