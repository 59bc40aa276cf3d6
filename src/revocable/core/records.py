"""Encoding session records for stores that keep a document (Redis, memory).

Short keys keep a Redis value near 200 bytes. ``decode`` is strict: a record
that does not decode is a store fault, never an empty session.
"""

from __future__ import annotations

import json
from types import MappingProxyType
from typing import Any

from revocable.core.sessions import SessionRecord

__all__ = ["decode_record", "encode_record"]


def encode_record(record: SessionRecord) -> str:
    """The record as compact JSON."""
    return json.dumps(
        {
            "h": record.handle,
            "u": record.user_id,
            "c": record.created_at,
            "l": record.last_seen,
            "a": record.authenticated_at,
            "e": record.expires_at,
            "i": record.idle_expires_at,
            "ip": record.client_ip,
            "ua": record.user_agent,
            "d": dict(record.data),
        },
        separators=(",", ":"),
        allow_nan=False,
    )


def decode_record(raw: str | bytes) -> SessionRecord:
    """The record encoded by ``encode_record``; ``ValueError`` if it is not one."""
    try:
        doc: Any = json.loads(raw)
        record = SessionRecord(
            handle=_text(doc["h"]),
            user_id=_text(doc["u"]),
            created_at=_time(doc["c"]),
            last_seen=_time(doc["l"]),
            authenticated_at=_time(doc["a"]),
            expires_at=_time(doc["e"]),
            idle_expires_at=None if doc["i"] is None else _time(doc["i"]),
            client_ip=None if doc["ip"] is None else _text(doc["ip"]),
            user_agent=None if doc["ua"] is None else _text(doc["ua"]),
            data=MappingProxyType(_mapping(doc["d"])),
        )
    except (KeyError, TypeError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"undecodable session record: {type(exc).__name__}") from None
    return record


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError("expected text")
    return value


def _time(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError("expected a number")
    return float(value)


def _mapping(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise TypeError("expected an object")
    return value
