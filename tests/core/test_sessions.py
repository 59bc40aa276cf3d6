"""Session records and decisions as pure functions of ``now``."""

from __future__ import annotations

import dataclasses
import inspect
import json
from typing import Any

import pytest

from revocable import ConfigurationError, InvalidInput, SessionPolicy
from revocable.core.records import DecodedRecords, decode_record, encode_record
from revocable.core.sessions import (
    SessionRecord,
    decoded_record,
    is_live,
    needs_touch,
    new_record,
    rotated,
    touched,
)

NOW = 1_800_000_000.0


def test_new_record_sets_both_deadlines_from_the_policy() -> None:
    """A new record expires after the absolute lifetime and, if set, the idle timeout."""
    policy = SessionPolicy(absolute_lifetime=3600, idle_timeout=600, touch_interval=60)
    record = new_record("alice", policy, NOW, client_ip="10.0.0.1", user_agent="UA")
    assert record.expires_at == NOW + 3600
    assert record.idle_expires_at == NOW + 600
    assert record.deadline == NOW + 600
    assert record.created_at == record.last_seen == record.authenticated_at == NOW


def test_liveness_ends_at_the_deadline() -> None:
    """A record is live strictly before its deadline."""
    record = new_record("alice", SessionPolicy(absolute_lifetime=10), NOW)
    assert is_live(record, NOW + 9.999)
    assert not is_live(record, NOW + 10)


def test_touch_is_throttled_and_slides_only_the_idle_deadline() -> None:
    """Touches are due once per interval; they move last_seen and the idle deadline only."""
    policy = SessionPolicy(absolute_lifetime=3600, idle_timeout=600, touch_interval=60)
    record = new_record("alice", policy, NOW)
    assert not needs_touch(record, policy, NOW + 59)
    assert needs_touch(record, policy, NOW + 60)
    later = touched(record, policy, NOW + 500)
    assert (later.last_seen, later.idle_expires_at) == (NOW + 500, NOW + 1100)
    assert later.expires_at == record.expires_at
    assert touched(later, policy, NOW + 3590).deadline == record.expires_at


def test_rotation_keeps_identity_and_can_record_reauthentication() -> None:
    """A rotated record keeps handle, creation and absolute deadline."""
    policy = SessionPolicy()
    record = new_record("alice", policy, NOW, data={"a": 1})
    new = rotated(record, policy, NOW + 5, reauthenticated=True, data={"a": 2})
    assert (new.handle, new.created_at, new.expires_at) == (
        record.handle,
        record.created_at,
        record.expires_at,
    )
    assert new.authenticated_at == NOW + 5
    assert dict(new.data) == {"a": 2}
    assert rotated(record, policy, NOW + 5).authenticated_at == NOW


def test_record_data_is_a_private_frozen_copy() -> None:
    """Changing the caller's dict after creation does not change the record."""
    data = {"roles": ["user"]}
    record = new_record("alice", SessionPolicy(), NOW, data=data)
    data["roles"].append("admin")
    assert dict(record.data) == {"roles": ["user"]}
    with pytest.raises(TypeError):
        record.data["x"] = 1  # type: ignore[index]


def test_user_agent_is_truncated_and_cleaned() -> None:
    """User agents are cut to the policy's length and lose control characters."""
    policy = SessionPolicy(max_user_agent_length=10)
    record = new_record("alice", policy, NOW, user_agent="ab\x00\ncdefghijklmnop")
    assert record.user_agent == "ab\ufffd\ufffdcdefgh"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"user_id": ""}, "user_id"),
        ({"user_id": 5}, "user_id"),
        ({"user_id": "a\tb"}, "user_id"),
        ({"user_id": "alice", "client_ip": "localhost"}, "client_ip"),
        ({"user_id": "alice", "client_ip": 1}, "client_ip"),
        ({"user_id": "alice", "user_agent": b"UA"}, "user_agent"),
        ({"user_id": "alice", "data": ["list"]}, "mapping"),
        ({"user_id": "alice", "data": {1: "int key"}}, "mapping"),
        ({"user_id": "alice", "data": {"x": "y" * 5000}}, "4096 bytes"),
        ({"user_id": "alice", "data": {"x": float("inf")}}, "JSON"),
        ({"user_id": "alice", "data": {"x": "\x00"}}, "NUL"),
    ],
)
def test_bad_input_is_refused_with_a_reason(kwargs: dict[str, object], message: str) -> None:
    """Each unusable argument raises InvalidInput naming what is wrong."""
    with pytest.raises(InvalidInput, match=message):
        new_record(policy=SessionPolicy(), now=NOW, **kwargs)  # type: ignore[arg-type]


def test_record_encoding_round_trips_and_rejects_garbage() -> None:
    """Encoded records decode to equal records; anything else is a ValueError."""
    record = new_record(
        "Zoë", SessionPolicy(idle_timeout=600), NOW, client_ip="::1", data={"k": [1, "v"]}
    )
    encoded = encode_record(record)
    assert decode_record(encoded) == record
    assert decode_record(encoded.encode()) == record
    garbage: list[str | bytes] = [b"", b"{}", b"[]", b"\xff", b'{"h": 1}', b"null", b"1", b'"x"']
    garbage.append(encoded[:-1])
    garbage += [encoded + " ", "[2" + encoded[2:], encoded.replace("[1,", "[1,1,", 1)]
    garbage += [encoded.replace('"::1"', "7")]
    for bad in garbage:
        with pytest.raises(ValueError, match="undecodable"):
            decode_record(bad)


def test_decoded_record_builds_the_same_record_as_the_dataclass() -> None:
    """decoded_record (the store decoders' fast constructor) fills every field, in order, and
    its record behaves like one built by SessionRecord(...)."""
    policy = SessionPolicy(idle_timeout=600)
    record = new_record("bob", policy, NOW, client_ip="::1", data={"a": 1})
    values = [getattr(record, f.name) for f in dataclasses.fields(SessionRecord)]
    built = decoded_record(*values)
    assert built == record
    assert touched(built, policy, NOW + 5) == touched(record, policy, NOW + 5)
    with pytest.raises(dataclasses.FrozenInstanceError):
        built.user_id = "mallory"  # type: ignore[misc]
    assert [f.name for f in dataclasses.fields(SessionRecord)] == list(
        inspect.signature(decoded_record).parameters
    )


def test_records_of_the_format_before_arrays_still_decode() -> None:
    """A record stored as a JSON object with short keys (before format 1) decodes the same."""
    record = new_record("bob", SessionPolicy(), NOW, user_agent="UA", data={"role": "admin"})
    old = json.dumps(
        {
            "h": record.handle,
            "u": "bob",
            "c": NOW,
            "l": NOW,
            "a": NOW,
            "e": record.expires_at,
            "i": None,
            "ip": None,
            "ua": "UA",
            "d": {"role": "admin"},
        }
    )
    assert decode_record(old.encode()) == record
    with pytest.raises(ValueError, match="undecodable"):
        decode_record(old.replace('"u"', '"x"'))


@pytest.mark.parametrize(
    "kwargs",
    [
        {"absolute_lifetime": 0},
        {"absolute_lifetime": 401 * 86400},
        {"idle_timeout": 0},
        {"absolute_lifetime": 60, "idle_timeout": 120},
        {"touch_interval": -1},
        {"idle_timeout": 100, "touch_interval": 50},
        {"max_data_bytes": 0},
        {"sweep_interval": 0},
    ],
)
def test_policy_refuses_inconsistent_settings(kwargs: dict[str, Any]) -> None:
    """Policies are validated when built, with a ConfigurationError (a ValueError)."""
    with pytest.raises(ConfigurationError):
        SessionPolicy(**kwargs)


def test_policy_presets_are_valid_and_frozen() -> None:
    """The named presets exist and cannot be changed."""
    assert SessionPolicy.DEFAULT.absolute_lifetime == 7 * 86400
    assert SessionPolicy.STRICT.idle_timeout is not None
    with pytest.raises(AttributeError):
        SessionPolicy.DEFAULT.absolute_lifetime = 1  # type: ignore[misc]


@pytest.mark.parametrize(
    "client_ip", ["fe80::1%eth0", "fe80::1%" + "x" * 1_000_000, "::1%\x00", "1.2.3.4" + " " * 80]
)
def test_client_ip_zone_ids_and_long_values_are_refused(client_ip: str) -> None:
    """IPv6 zone ids are free text and long values are not addresses: both are refused."""
    with pytest.raises(InvalidInput, match="client_ip"):
        new_record("alice", SessionPolicy(), NOW, client_ip=client_ip)


def test_deep_or_unencodable_data_is_refused_not_crashed() -> None:
    """Data nested past the encoder's limit, or holding lone surrogates, is InvalidInput."""
    deep: dict[str, Any] = {}
    node = deep
    for _ in range(100_000):
        node["x"] = {}
        node = node["x"]
    for data in (deep, {"s": "\ud800"}):
        with pytest.raises(InvalidInput, match="JSON text"):
            new_record("alice", SessionPolicy(), NOW, data=data)


def test_decoded_records_are_kept_by_value_without_app_data_and_bounded() -> None:
    """DecodedRecords answers the record decoded from an equal value, never keeps records
    with app data (their values may be mutable), drops the oldest past its size, and
    ignores values it cannot hash."""
    cache = DecodedRecords(size=2)
    plain = new_record("alice", SessionPolicy(), NOW)
    with_data = new_record("bob", SessionPolicy(), NOW, data={"cart": [1]})
    first = encode_record(plain).encode()
    cache.put(first, plain)
    assert cache.get(bytes(bytearray(first))) is plain  # an equal value, another object
    cache.put(b"with data", with_data)
    assert cache.get(b"with data") is None
    cache.put(b"second", plain)
    cache.put(b"third", plain)
    assert cache.get(first) is None  # the oldest went
    assert cache.get(b"third") is plain
    unhashable: Any = ["a", {"b": 1}]
    cache.put(unhashable, plain)
    assert cache.get(unhashable) is None
    off = DecodedRecords(size=0)
    off.put(first, plain)
    assert off.get(first) is None
