"""What the SQL stores share: the column list, row conversion, the schema version."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any

from revocable.core.refresh import RefreshFamily
from revocable.core.sessions import SessionRecord, decoded_record
from revocable.core.users import UserRecord

__all__ = [
    "COLUMNS",
    "COUNTERS_TABLE",
    "FAMILIES_TABLE",
    "FAMILY_COLUMNS",
    "SCHEMA_VERSION",
    "TABLE",
    "USERS_TABLE",
    "USER_COLUMNS",
    "family_values",
    "record_values",
    "row_to_family",
    "row_to_record",
    "row_to_user",
    "user_values",
]

TABLE = "revocable_sessions"
USERS_TABLE = "revocable_users"
COUNTERS_TABLE = "revocable_counters"
FAMILIES_TABLE = "revocable_refresh_families"
FAMILY_COLUMNS = (
    "family_id",
    "user_id",
    "created_at",
    "expires_at",
    "current_digest",
    "previous_digest",
    "rotated_at",
    "nonce",
    "generation",
)
USER_COLUMNS = (
    "id",
    "username",
    "username_key",
    "password_hash",
    "created_at",
    "password_changed_at",
    "not_before",
)
_NO_DATA: Mapping[str, Any] = MappingProxyType({})
SCHEMA_VERSION = 5
COLUMNS = (
    "handle",
    "user_id",
    "created_at",
    "last_seen",
    "authenticated_at",
    "expires_at",
    "idle_expires_at",
    "deadline",
    "client_ip",
    "user_agent",
    "data",
)
"""Every column but the digest, in the order of ``record_values`` and ``row_to_record``."""


def record_values(record: SessionRecord) -> tuple[Any, ...]:
    """The record as column values, in ``COLUMNS`` order."""
    return (
        record.handle,
        record.user_id,
        record.created_at,
        record.last_seen,
        record.authenticated_at,
        record.expires_at,
        record.idle_expires_at,
        record.deadline,
        record.client_ip,
        record.user_agent,
        json.dumps(dict(record.data), separators=(",", ":"), allow_nan=False),
    )


def row_to_record(row: Sequence[Any]) -> SessionRecord:
    """A row selected as ``COLUMNS`` back into a record; ``ValueError`` if it is not one."""
    try:
        handle, user_id, created, seen, proved, expires, idle, _, ip, agent, raw_data = row
        data = _NO_DATA if raw_data == "{}" else json.loads(raw_data)  # most carry no data
        if type(data) is dict:
            data = MappingProxyType(data) if data else _NO_DATA
        elif data is not _NO_DATA:
            raise TypeError("data is not an object")
        return decoded_record(
            handle,
            user_id,
            float(created),
            float(seen),
            float(proved),
            float(expires),
            None if idle is None else float(idle),
            ip,
            agent,
            data,
        )
    except (TypeError, ValueError) as exc:  # ValueError: also a row of the wrong length
        raise ValueError(f"undecodable session row: {type(exc).__name__}") from None


def user_values(user: UserRecord) -> tuple[Any, ...]:
    """The user as column values, in ``USER_COLUMNS`` order."""
    return (
        user.id,
        user.username,
        user.key,
        user.password_hash,
        user.created_at,
        user.password_changed_at,
        user.not_before,
    )


def row_to_user(row: Sequence[Any]) -> UserRecord:
    """A row selected as ``USER_COLUMNS`` back into a user."""
    return UserRecord(
        id=row[0],
        username=row[1],
        password_hash=row[3],
        created_at=float(row[4]),
        password_changed_at=float(row[5]),
        not_before=float(row[6]),
    )


def family_values(family: RefreshFamily) -> tuple[Any, ...]:
    """The family as column values, in ``FAMILY_COLUMNS`` order."""
    return (
        family.family_id,
        family.user_id,
        family.created_at,
        family.expires_at,
        family.current,
        family.previous,
        family.rotated_at,
        family.nonce,
        family.generation,
    )


def row_to_family(row: Sequence[Any]) -> RefreshFamily:
    """A row selected as ``FAMILY_COLUMNS`` back into a family."""
    return RefreshFamily(
        family_id=row[0],
        user_id=row[1],
        created_at=float(row[2]),
        expires_at=float(row[3]),
        current=bytes(row[4]),
        previous=None if row[5] is None else bytes(row[5]),
        rotated_at=None if row[6] is None else float(row[6]),
        nonce=bytes(row[7]),
        generation=int(row[8]),
    )
