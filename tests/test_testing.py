"""The public testing helpers."""

from __future__ import annotations

import pytest

from revocable import SessionPolicy
from revocable.testing import ManualClock, memory_sessions


async def test_manual_clock_drives_expiry_without_sleeping() -> None:
    """Advancing the manual clock expires sessions in the manager and the memory store."""
    clock = ManualClock()
    sessions = memory_sessions(SessionPolicy(absolute_lifetime=60), clock=clock)
    issued = await sessions.create("alice")
    clock.advance(59)
    assert await sessions.validate(issued.token) is not None
    clock.advance(1)
    assert await sessions.validate(issued.token) is None
    assert await sessions.store.list_user("alice") == []


def test_manual_clock_never_goes_back() -> None:
    """A manual clock refuses to move backwards."""
    with pytest.raises(ValueError, match="forward"):
        ManualClock().advance(-1)
