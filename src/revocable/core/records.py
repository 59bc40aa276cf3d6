"""Encoding session records for stores that keep a document (Redis).

A record is a compact JSON array whose first element is the format version::

    [1, handle, user_id, created, last_seen, authenticated, expires, idle_expires,
     client_ip, user_agent, data]

about 170 bytes, and decoded by position: a third of the cost of an object with
named keys, on every validation's path. Records written before version 1 are
JSON objects with short keys (``{"h": …, "u": …}``); ``decode_record`` still
reads them, so nothing needs migrating (they are rewritten in the new format by
the next touch or rotation, or expire). ``decode`` is strict: a record that
does not decode is a store fault, never an empty session.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Hashable, Mapping
from types import MappingProxyType
from typing import Any

from revocable.core.sessions import SessionRecord, decoded_record

__all__ = ["FORMAT_VERSION", "DecodedRecords", "decode_record", "encode_record"]

FORMAT_VERSION = 1
"""The first element of every record ``encode_record`` writes."""

_encode_json = json.JSONEncoder(separators=(",", ":"), allow_nan=False).encode
# The C scanner alone: JSONDecoder.decode adds two regex matches for surrounding
# whitespace, which our own encoder never writes.
_scan_json = json.JSONDecoder().scan_once  # type: ignore[attr-defined]  # not in typeshed
_NUMBER = (int, float)
_NO_DATA: Mapping[str, Any] = MappingProxyType({})


def encode_record(record: SessionRecord) -> str:
    """The record as a compact JSON array (format ``FORMAT_VERSION``)."""
    return _encode_json(
        [
            FORMAT_VERSION,
            record.handle,
            record.user_id,
            record.created_at,
            record.last_seen,
            record.authenticated_at,
            record.expires_at,
            record.idle_expires_at,
            record.client_ip,
            record.user_agent,
            dict(record.data),
        ]
    )


def decode_record(raw: str | bytes) -> SessionRecord:
    """The record encoded by ``encode_record`` (any format version); ``ValueError`` if it is
    not one.

    On every validation's path, so the type checks are written out inline.
    """
    try:
        text = raw.decode() if isinstance(raw, bytes) else raw
        doc, end = _scan_json(text, 0)
        if end != len(text):
            raise ValueError("trailing data")
        if type(doc) is list:
            version, h, u, c, lst, a, e, i, ip, ua, d = doc
            if version != FORMAT_VERSION:
                raise ValueError("unknown format version")
        else:  # the format before version 1
            h, u, ip, ua, d = doc["h"], doc["u"], doc["ip"], doc["ua"], doc["d"]
            c, lst, a, e, i = doc["c"], doc["l"], doc["a"], doc["e"], doc["i"]
    except (KeyError, TypeError, ValueError, StopIteration) as exc:
        # StopIteration: the scanner found no JSON value; ValueError covers
        # JSONDecodeError, UnicodeDecodeError and a list of the wrong length.
        raise ValueError(f"undecodable session record: {type(exc).__name__}") from None
    if not (
        type(h) is str
        and type(u) is str
        and (ip is None or type(ip) is str)
        and (ua is None or type(ua) is str)
        and type(d) is dict
        and type(c) in _NUMBER
        and type(lst) in _NUMBER
        and type(a) in _NUMBER
        and type(e) in _NUMBER
        and (i is None or type(i) in _NUMBER)
    ):
        raise ValueError("undecodable session record: a field has the wrong type")
    return decoded_record(
        h,
        u,
        float(c),
        float(lst),
        float(a),
        float(e),
        None if i is None else float(i),
        ip,
        ua,
        MappingProxyType(d) if d else _NO_DATA,
    )


class DecodedRecords:
    """Records a store decoded, by the exact stored value (Redis bytes, SQL row) they came from.

    A busy session is read on every request, and until its next touch the store
    answers the same value each time: decoding it again (JSON or row, floats, the
    record) is most of what a read adds to the store's round trip. Looking the value
    up costs a hash of it. The store is still read on every request (a revoked or
    expired session is gone at once): only the decoding is skipped. Records with app
    data are never kept: their values may be mutable, and must not be shared between
    requests; every other field is immutable. At most ``size`` are kept (oldest out).
    """

    __slots__ = ("_records", "size")

    def __init__(self, size: int = 1024) -> None:
        self.size = size
        self._records: dict[Hashable, SessionRecord] = {}

    def get(self, value: Hashable) -> SessionRecord | None:
        """The record decoded from ``value`` before, if kept."""
        try:
            return self._records.get(value)
        except TypeError:  # a value holding something unhashable: never kept
            return None

    def decode(self, value: Hashable, decoder: Callable[[Any], SessionRecord]) -> SessionRecord:
        """The record decoded from ``value``: kept from before, or decoded now (and kept).
        The decoder's ``ValueError`` (a corrupt value) goes to the caller."""
        record = self.get(value)
        if record is None:
            record = decoder(value)
            self.put(value, record)
        return record

    def put(self, value: Hashable, record: SessionRecord) -> None:
        """Keep ``record`` as decoded from ``value`` (unless it carries app data)."""
        if record.data or self.size <= 0:
            return
        records = self._records
        try:
            records[value] = record
        except TypeError:
            return
        if len(records) > self.size:
            del records[next(iter(records))]
