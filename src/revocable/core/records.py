"""Encoding session records for stores that keep a document (Redis, memory).

Short keys keep a Redis value near 200 bytes. ``decode`` is strict: a record
that does not decode is a store fault, never an empty session.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
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


_decode_json = json.JSONDecoder().decode
_NUMBER = (int, float)
_NO_DATA: Mapping[str, Any] = MappingProxyType({})


def decode_record(raw: str | bytes) -> SessionRecord:
    """The record encoded by ``encode_record``; ``ValueError`` if it is not one.

    On every validation's path, so the type checks are written out inline.
    """
    try:
        doc: Any = _decode_json(raw.decode() if isinstance(raw, bytes) else raw)
        h, u, ip, ua, d = doc["h"], doc["u"], doc["ip"], doc["ua"], doc["d"]
        c, lst, a, e, i = doc["c"], doc["l"], doc["a"], doc["e"], doc["i"]
    except (KeyError, TypeError, ValueError) as exc:  # JSONDecodeError, UnicodeDecodeError
        raise ValueError(f"undecodable session record: {type(exc).__name__}") from None
    if not (
        type(h) is str
        and type(u) is str
        and (ip is None or type(ip) is str)
        and (ua is None or type(ua) is str)
        and type(d) is dict
        and all(type(t) in _NUMBER for t in (c, lst, a, e))
        and (i is None or type(i) in _NUMBER)
    ):
        raise ValueError("undecodable session record: a field has the wrong type")
    return SessionRecord(
        handle=h,
        user_id=u,
        created_at=float(c),
        last_seen=float(lst),
        authenticated_at=float(a),
        expires_at=float(e),
        idle_expires_at=None if i is None else float(i),
        client_ip=ip,
        user_agent=ua,
        data=MappingProxyType(d) if d else _NO_DATA,
    )
