"""The session record and every decision about it, as pure functions of ``now``."""

from __future__ import annotations

import ipaddress
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any

from revocable.config import SessionPolicy
from revocable.core.tokens import new_handle
from revocable.errors import InvalidInput

__all__ = [
    "MAX_USER_ID_LENGTH",
    "SessionRecord",
    "check_user_id",
    "decoded_record",
    "is_live",
    "needs_touch",
    "new_record",
    "rotated",
    "touched",
]

MAX_USER_ID_LENGTH = 256
_EMPTY: Mapping[str, Any] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class SessionRecord:
    """What the server knows about one session. Times are POSIX seconds."""

    handle: str
    """Public id for listing and revoking; not the token, not derived from it."""
    user_id: str
    created_at: float
    last_seen: float
    authenticated_at: float
    """When the user last proved their password (for "sudo mode")."""
    expires_at: float
    """Absolute deadline: no activity extends it."""
    idle_expires_at: float | None
    """Idle deadline, pushed forward on each (throttled) touch; None when off."""
    client_ip: str | None = None
    user_agent: str | None = None
    data: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)

    @property
    def deadline(self) -> float:
        """The moment the session dies unless touched: the earlier of both deadlines."""
        if self.idle_expires_at is None:
            return self.expires_at
        return min(self.expires_at, self.idle_expires_at)


_new_object = object.__new__
_slot: Mapping[str, Any] = SessionRecord.__dict__  # field name -> its slot's member descriptor
_set_handle = _slot["handle"].__set__
_set_user_id = _slot["user_id"].__set__
_set_created_at = _slot["created_at"].__set__
_set_last_seen = _slot["last_seen"].__set__
_set_authenticated_at = _slot["authenticated_at"].__set__
_set_expires_at = _slot["expires_at"].__set__
_set_idle_expires_at = _slot["idle_expires_at"].__set__
_set_client_ip = _slot["client_ip"].__set__
_set_user_agent = _slot["user_agent"].__set__
_set_data = _slot["data"].__set__


def decoded_record(
    handle: str,
    user_id: str,
    created_at: float,
    last_seen: float,
    authenticated_at: float,
    expires_at: float,
    idle_expires_at: float | None,
    client_ip: str | None,
    user_agent: str | None,
    data: Mapping[str, Any],
) -> SessionRecord:
    """``SessionRecord(...)`` for store decoders, which have checked every field's type.

    On every validation's path: it fills the slots directly, where the frozen
    dataclass's ``__init__`` goes through ``object.__setattr__`` once per field
    (about three times the cost). ``data`` must already be read-only.
    """
    record: SessionRecord = _new_object(SessionRecord)
    _set_handle(record, handle)
    _set_user_id(record, user_id)
    _set_created_at(record, created_at)
    _set_last_seen(record, last_seen)
    _set_authenticated_at(record, authenticated_at)
    _set_expires_at(record, expires_at)
    _set_idle_expires_at(record, idle_expires_at)
    _set_client_ip(record, client_ip)
    _set_user_agent(record, user_agent)
    _set_data(record, data)
    return record


def check_user_id(user_id: object) -> str:
    """The user id if it is usable as a key; ``InvalidInput`` otherwise."""
    if not isinstance(user_id, str):
        raise InvalidInput("user_id must be a str")
    if not 0 < len(user_id) <= MAX_USER_ID_LENGTH or not user_id.isprintable():
        raise InvalidInput(f"user_id must be 1 to {MAX_USER_ID_LENGTH} printable characters")
    return user_id


def _check_ip(client_ip: object) -> str | None:
    if client_ip is None:
        return None
    if not isinstance(client_ip, str):
        raise InvalidInput("client_ip must be a str or None")
    try:
        address = ipaddress.ip_address(client_ip[:64])
    except ValueError:
        address = None
    # Zone ids (fe80::1%eth0) are free text: refuse them with everything else odd.
    if address is None or len(client_ip) > 64 or getattr(address, "scope_id", None):
        raise InvalidInput("client_ip is not an IPv4 or IPv6 address")
    return str(address)


def _clean_user_agent(user_agent: object, limit: int) -> str | None:
    if user_agent is None:
        return None
    if not isinstance(user_agent, str):
        raise InvalidInput("user_agent must be a str or None")
    # Shown on "your devices" pages: keep it short and free of control characters.
    return "".join(c if c.isprintable() else "\ufffd" for c in user_agent[:limit])


def _check_data(data: object, limit: int) -> Mapping[str, Any]:
    if data is None:
        return _EMPTY
    if not isinstance(data, Mapping) or not all(isinstance(k, str) for k in data):
        raise InvalidInput("session data must be a mapping with str keys")
    try:
        encoded = json.dumps(dict(data), separators=(",", ":"), allow_nan=False, ensure_ascii=False)
        size = len(encoded.encode())  # lone surrogates fail here: no store could keep them
    except (TypeError, ValueError, RecursionError) as exc:
        raise InvalidInput(f"session data must be JSON text: {type(exc).__name__}") from None
    if "\\u0000" in encoded:
        raise InvalidInput("session data must not contain NUL characters")
    if size > limit:
        raise InvalidInput(f"session data must encode to at most {limit} bytes of JSON")
    # A private copy: later changes to the caller's dict cannot reach the record.
    copy: dict[str, Any] = json.loads(encoded)
    return MappingProxyType(copy)


def new_record(
    user_id: str,
    policy: SessionPolicy,
    now: float,
    *,
    client_ip: str | None = None,
    user_agent: str | None = None,
    data: Mapping[str, Any] | None = None,
) -> SessionRecord:
    """A fresh session record for a user who has just authenticated."""
    idle = None if policy.idle_timeout is None else now + policy.idle_timeout
    return SessionRecord(
        handle=new_handle(),
        user_id=check_user_id(user_id),
        created_at=now,
        last_seen=now,
        authenticated_at=now,
        expires_at=now + policy.absolute_lifetime,
        idle_expires_at=idle,
        client_ip=_check_ip(client_ip),
        user_agent=_clean_user_agent(user_agent, policy.max_user_agent_length),
        data=_check_data(data, policy.max_data_bytes),
    )


def is_live(record: SessionRecord, now: float) -> bool:
    """Whether the session is still valid at ``now``."""
    deadline = record.deadline
    return now < deadline and math.isfinite(deadline)


def needs_touch(record: SessionRecord, policy: SessionPolicy, now: float) -> bool:
    """Whether a validation at ``now`` should write ``last_seen`` back."""
    return now - record.last_seen >= policy.touch_interval


def touched(record: SessionRecord, policy: SessionPolicy, now: float) -> SessionRecord:
    """The record after activity at ``now``: last seen and idle deadline move."""
    idle = None if policy.idle_timeout is None else now + policy.idle_timeout
    return replace(record, last_seen=now, idle_expires_at=idle)


def rotated(
    record: SessionRecord,
    policy: SessionPolicy,
    now: float,
    *,
    reauthenticated: bool = False,
    data: Mapping[str, Any] | None = None,
) -> SessionRecord:
    """The record behind a rotated token: same session, same handle and deadline.

    ``reauthenticated`` records a fresh password proof; ``data`` replaces the
    app data (for privilege changes).
    """
    new = touched(record, policy, now)
    if reauthenticated:
        new = replace(new, authenticated_at=now)
    if data is not None:
        new = replace(new, data=_check_data(data, policy.max_data_bytes))
    return new
