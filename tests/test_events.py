"""Security events: emitted by the session API, in a stable schema, never with a credential."""

from __future__ import annotations

import logging

import pytest

from revocable import SessionManager
from revocable.events import SecurityEvent, SecurityEvents
from revocable.stores.memory import MemoryStore


async def test_session_lifecycle_emits_events_without_tokens() -> None:
    """create, rotate, revoke one and revoke all each emit one event naming user and handle."""
    seen: list[SecurityEvent] = []
    sessions = SessionManager(MemoryStore(), events=SecurityEvents(seen.append))
    first = await sessions.create("alice", client_ip="203.0.113.7")
    rotated = await sessions.rotate(first.token)
    assert rotated is not None
    second = await sessions.create("alice")
    await sessions.revoke_handle("alice", second.record.handle)
    await sessions.revoke_all("alice")
    assert [e.event for e in seen] == [
        "session.created",
        "session.rotated",
        "session.created",
        "session.revoked",
        "sessions.revoked_all",
    ]
    assert seen[0].as_dict() == {
        "event": "session.created",
        "at": seen[0].at,
        "user_id": "alice",
        "session": first.record.handle,
        "ip": "203.0.113.7",
        "reason": None,
    }
    assert seen[-1].reason == "1"
    dumped = repr([e.as_dict() for e in seen])
    for token in (first.token, rotated.token, second.token):
        assert token not in dumped


async def test_a_failing_subscriber_never_breaks_the_request(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A subscriber that raises is logged and skipped; the others still get the event."""
    seen: list[SecurityEvent] = []

    def broken(event: SecurityEvent) -> None:
        raise RuntimeError("sink down")

    sessions = SessionManager(MemoryStore(), events=SecurityEvents(broken, seen.append))
    with caplog.at_level(logging.ERROR, logger="revocable.security"):
        issued = await sessions.create("alice")
    assert await sessions.validate(issued.token) is not None
    assert [e.event for e in seen] == ["session.created"]
    assert "sink down" in caplog.text


async def test_default_subscriber_logs_json_lines(caplog: pytest.LogCaptureFixture) -> None:
    """Without subscribers, events are JSON lines on the revocable.security logger."""
    sessions = SessionManager(MemoryStore())
    with caplog.at_level(logging.INFO, logger="revocable.security"):
        issued = await sessions.create("alice")
    assert '"event": "session.created"' in caplog.text
    assert issued.token not in caplog.text
